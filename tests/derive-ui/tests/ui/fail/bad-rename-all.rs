use tablesync::Syncable;

#[derive(Syncable)]
#[sync(rename_all = "kebab-case")]
struct Todo {
    id: String,
    #[version]
    version: Option<String>,
}

fn main() {}
