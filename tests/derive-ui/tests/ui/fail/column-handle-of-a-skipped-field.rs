// A `#[sync(skip)]` field is not a column, so it has no handle.
use tablesync::Syncable;

#[derive(Syncable)]
struct Inspection {
    id: String,
    #[sync(skip)]
    draft: String,
    #[version]
    version: Option<String>,
}

fn main() {
    let _ = Inspection::columns().draft.eq("x");
}
