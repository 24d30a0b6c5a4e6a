use tablesync::Syncable;

#[derive(Syncable)]
#[table("sqlite_todo")]
struct Todo {
    id: String,
    #[version]
    version: Option<String>,
}

fn main() {}
