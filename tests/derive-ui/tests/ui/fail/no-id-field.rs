use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    key: String,
    text: String,
    #[version]
    version: Option<String>,
}

fn main() {}
