use tablesync::Syncable;

#[derive(Syncable)]
struct Todo<T> {
    id: String,
    payload: T,
    #[version]
    version: Option<String>,
}

fn main() {}
