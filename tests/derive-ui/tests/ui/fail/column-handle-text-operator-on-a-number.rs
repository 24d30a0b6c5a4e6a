// `starts_with`, `ends_with` and `contains` exist only on text columns.
use tablesync::Syncable;

#[derive(Syncable)]
struct Inspection {
    id: String,
    score: i64,
    #[version]
    version: Option<String>,
}

fn main() {
    let _ = Inspection::columns().score.starts_with("1");
}
