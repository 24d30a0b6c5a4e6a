// `#[sync(crate = "...")]` overrides the core path; raw identifiers name columns without
// their `r#`.
use tablesync::Syncable;

mod reexport {
    pub use tablesync::sync_core as core_again;
}

#[derive(Syncable)]
#[sync(crate = "crate::reexport::core_again")]
struct r#Type {
    r#id: String,
    r#type: String,
    r#match: bool,
    #[version]
    version: Option<String>,
}

fn main() {
    let names: Vec<&str> = r#Type::schema().data_columns().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["type", "match"]);
    assert_eq!(r#Type::table_name(), "Type");
    let t = r#Type { r#id: "x".into(), r#type: "t".into(), r#match: true, version: None };
    assert_eq!(t.id(), "x");
}
