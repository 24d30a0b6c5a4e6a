use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    text: String,
    #[version]
    version: i64,
}

fn main() {}
