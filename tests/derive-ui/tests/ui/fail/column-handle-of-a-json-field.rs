// A `#[sync(json)]` field holds a document, which no filter compares: it has no handle.
use tablesync::Syncable;

#[derive(Syncable)]
struct Inspection {
    id: String,
    #[sync(json)]
    tags: Vec<String>,
    #[version]
    version: Option<String>,
}

fn main() {
    let _ = Inspection::columns().tags.is_null();
}
