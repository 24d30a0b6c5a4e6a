use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(rename = "due date")]
    due: String,
    #[version]
    version: Option<String>,
}

fn main() {}
