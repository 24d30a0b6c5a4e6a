use tablesync::Syncable;

#[derive(Syncable)]
struct Todo<'a> {
    id: String,
    text: &'a str,
    #[version]
    version: Option<String>,
}

fn main() {}
