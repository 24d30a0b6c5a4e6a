use tablesync::Syncable;

#[derive(Syncable)]
struct Visit {
    #[sync(local)]
    id: String,
    #[version]
    version: Option<String>,
}

fn main() {}
