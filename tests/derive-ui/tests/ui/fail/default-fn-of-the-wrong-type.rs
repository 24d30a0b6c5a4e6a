use tablesync::Syncable;

fn label() -> String {
    "normal".into()
}

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(default = "label")]
    priority: i64,
    #[version]
    version: Option<String>,
}

fn main() {}
