use tablesync::Syncable;

#[derive(Syncable)]
struct Todo {
    id: String,
    due_date: String,
    #[sync(rename = "DueDate")]
    deadline: String,
    #[version]
    version: Option<String>,
}

fn main() {}
