use tablesync::Syncable;

#[derive(Syncable)]
struct Visit {
    id: String,
    #[sync(local, skip)]
    notes: String,
    #[version]
    version: Option<String>,
}

fn main() {}
