use tablesync::Syncable;

fn five() -> i64 {
    5
}

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(default)]
    #[sync(default = "five")]
    priority: i64,
    #[version]
    version: Option<String>,
}

fn main() {}
