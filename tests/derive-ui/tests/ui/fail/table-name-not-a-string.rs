use tablesync::Syncable;

#[derive(Syncable)]
#[table(42)]
struct Todo {
    id: String,
    #[version]
    version: Option<String>,
}

fn main() {}
