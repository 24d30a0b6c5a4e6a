use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    text: String,
    version: Option<String>,
}

fn main() {}
