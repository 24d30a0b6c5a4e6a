use tablesync::Syncable;

fn never() -> bool {
    false
}

#[derive(Syncable)]
struct Todo {
    id: String,
    #[deleted]
    #[sync(default = "never")]
    deleted: bool,
    #[version]
    version: Option<String>,
}

fn main() {}
