use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(rename = "UpdatedAt")]
    changed: String,
    #[version]
    version: Option<String>,
}

fn main() {}
