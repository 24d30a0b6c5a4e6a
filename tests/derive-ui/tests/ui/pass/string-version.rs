// A `String` version field: empty means "no version", both ways.
use tablesync::{Syncable, Value};

#[derive(Syncable, Debug, PartialEq)]
struct Doc {
    id: String,
    title: String,
    #[version]
    etag: String,
}

fn main() {
    let mut doc = Doc { id: "d".into(), title: "t".into(), etag: String::new() };
    assert_eq!(doc.version(), None);
    assert_eq!(doc.to_record().unwrap().get("version"), Some(&Value::Null));

    doc.set_version(Some("AAAAAAAAB9E=".into()));
    assert_eq!(doc.etag, "AAAAAAAAB9E=");
    assert_eq!(doc.version(), Some("AAAAAAAAB9E="));
    assert_eq!(Doc::from_record(doc.to_record().unwrap()).unwrap(), doc);

    doc.set_version(None);
    assert_eq!(doc.etag, "");
}
