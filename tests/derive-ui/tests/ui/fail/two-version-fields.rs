use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[version]
    version: Option<String>,
    #[version]
    etag: Option<String>,
}

fn main() {}
