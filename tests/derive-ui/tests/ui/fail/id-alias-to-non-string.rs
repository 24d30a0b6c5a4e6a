use tablesync::Syncable;

// The macro only sees the name `String`; the generated type check sees through the alias.
mod ids {
    pub type String = u64;
}

#[derive(Syncable)]
struct Todo {
    id: ids::String,
    text: std::string::String,
    #[version]
    version: Option<std::string::String>,
}

fn main() {}
