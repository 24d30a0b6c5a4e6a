use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    text: String,
}

fn main() {}
