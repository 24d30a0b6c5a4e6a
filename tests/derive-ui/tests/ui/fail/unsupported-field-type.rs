use tablesync::Syncable;

/// An app type with no `SyncValue` implementation (and not marked `#[sync(json)]`).
pub enum Priority {
    Low,
    High,
}

#[derive(Syncable)]
struct Todo {
    id: String,
    priority: Priority,
    #[version]
    version: Option<String>,
}

fn main() {}
