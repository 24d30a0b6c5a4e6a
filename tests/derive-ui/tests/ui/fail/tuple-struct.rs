use tablesync::Syncable;

#[derive(Syncable)]
struct Todo(String, Option<String>);

fn main() {}
