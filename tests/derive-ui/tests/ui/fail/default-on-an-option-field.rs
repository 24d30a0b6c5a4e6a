use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(default)]
    priority: Option<i64>,
    #[version]
    version: Option<String>,
}

fn main() {}
