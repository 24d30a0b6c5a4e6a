use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: i64,
    text: String,
    #[version]
    version: Option<String>,
}

fn main() {}
