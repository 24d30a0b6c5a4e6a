use std::collections::HashMap;
use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    labels: HashMap<String, String>,
    #[version]
    version: Option<String>,
}

fn main() {}
