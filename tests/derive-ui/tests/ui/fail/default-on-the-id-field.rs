use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    #[sync(default)]
    id: String,
    #[version]
    version: Option<String>,
}

fn main() {}
