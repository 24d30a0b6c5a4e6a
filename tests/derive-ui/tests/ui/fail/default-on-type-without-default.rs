use tablesync::{ColumnType, SyncValue, Syncable, Value, ValueError};

/// Stored as text, but with no `Default`.
struct Colour(String);

impl SyncValue for Colour {
    const COLUMN_TYPE: ColumnType = ColumnType::Text;
    fn to_value(&self) -> Value {
        Value::from(self.0.as_str())
    }
    fn from_value(value: Value) -> Result<Self, ValueError> {
        String::from_value(value).map(Colour)
    }
}

#[derive(Syncable)]
struct Todo {
    id: String,
    #[sync(default)]
    colour: Colour,
    #[version]
    version: Option<String>,
}

fn main() {}
