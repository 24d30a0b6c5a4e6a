use tablesync::Syncable;

#[derive(Syncable)]
#[table("")]
struct Todo {
    id: String,
    #[version]
    version: Option<String>,
}

fn main() {}
