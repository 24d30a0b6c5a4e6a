use tablesync::Syncable;

#[derive(Syncable)]
enum Todo {
    Open { id: String },
    Done { id: String },
}

fn main() {}
