// A column handle exists only for a field of the struct: a misspelt one does not compile.
use tablesync::Syncable;

#[derive(Syncable)]
struct Inspection {
    id: String,
    site_id: String,
    #[version]
    version: Option<String>,
}

fn main() {
    let _ = Inspection::columns().siteid.eq("s1");
}
