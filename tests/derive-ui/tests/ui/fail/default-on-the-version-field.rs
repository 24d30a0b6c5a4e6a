use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[version]
    #[sync(default)]
    version: Option<String>,
}

fn main() {}
