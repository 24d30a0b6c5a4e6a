use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(renamed = "body")]
    text: String,
    #[version]
    version: Option<String>,
}

fn main() {}
