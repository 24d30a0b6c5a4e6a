use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(default = 5)]
    priority: i64,
    #[version]
    version: Option<String>,
}

fn main() {}
