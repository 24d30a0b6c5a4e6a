use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(skip, json)]
    tags: Vec<String>,
    #[version]
    version: Option<String>,
}

fn main() {}
