use tablesync::Syncable;

struct Connection;

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(skip)]
    conn: Connection,
    #[version]
    version: Option<String>,
}

fn main() {}
