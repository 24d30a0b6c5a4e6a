use tablesync::Syncable;

// The macro only sees `Option<String>`; the generated type check sees through the alias.
type String = Vec<u8>;

#[derive(Syncable)]
struct Todo {
    id: std::string::String,
    #[version]
    version: Option<String>,
}

fn main() {}
