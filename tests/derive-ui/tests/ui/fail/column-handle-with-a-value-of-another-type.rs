// A handle compares with its field's type: a number for a text column does not compile.
use tablesync::Syncable;

#[derive(Syncable)]
struct Inspection {
    id: String,
    site_id: String,
    score: u32,
    #[version]
    version: Option<String>,
}

fn main() {
    let _ = Inspection::columns().site_id.eq(5);
    let _ = Inspection::columns().score.gt("5");
}
