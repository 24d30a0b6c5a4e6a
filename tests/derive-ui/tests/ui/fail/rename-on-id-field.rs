use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    #[sync(rename = "key")]
    id: String,
    #[version]
    version: Option<String>,
}

fn main() {}
