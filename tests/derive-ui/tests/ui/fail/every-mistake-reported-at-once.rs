use tablesync::Syncable;

// One build lists all three mistakes, not just the first.
#[derive(Syncable)]
#[table("")]
#[sync(rename_all = "Title Case")]
struct Todo {
    id: String,
    #[sync(colour = "red")]
    text: String,
}

fn main() {}
