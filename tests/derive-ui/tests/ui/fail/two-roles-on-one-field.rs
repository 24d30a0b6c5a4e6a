use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[version]
    #[updated_at]
    version: Option<String>,
}

fn main() {}
