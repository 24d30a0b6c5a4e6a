// Only an `Option` field's column can be `Null`: `is_null` on another is a mistake.
use tablesync::Syncable;

#[derive(Syncable)]
struct Inspection {
    id: String,
    site_id: String,
    #[version]
    version: Option<String>,
}

fn main() {
    let _ = Inspection::columns().site_id.is_null();
}
