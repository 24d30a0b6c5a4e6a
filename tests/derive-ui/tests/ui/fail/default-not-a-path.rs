use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(default = "five()")]
    priority: i64,
    #[version]
    version: Option<String>,
}

fn main() {}
