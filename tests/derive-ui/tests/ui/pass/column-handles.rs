// Column handles: one per column, typed by the field, public where the struct is, with
// untyped literals taking the column's type and the app's own `SyncValue` types.
#![deny(warnings)]

mod model {
    use tablesync::{ColumnType, SyncValue, Value, ValueError};

    /// An app type stored as text.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Priority {
        Low,
        High,
    }

    impl SyncValue for Priority {
        const COLUMN_TYPE: ColumnType = ColumnType::Text;
        fn to_value(&self) -> Value {
            Value::from(match self {
                Priority::Low => "low",
                Priority::High => "high",
            })
        }
        fn from_value(value: Value) -> Result<Self, ValueError> {
            match value {
                Value::Text(t) if t == "low" => Ok(Priority::Low),
                Value::Text(_) => Ok(Priority::High),
                other => Err(ValueError::wrong_type("text", &other)),
            }
        }
    }

    #[derive(tablesync::Syncable)]
    pub struct Reading {
        pub id: String,
        pub sensor: String,
        pub celsius: f64,
        pub ratio: f32,
        pub count: u32,
        pub small: i8,
        pub at: Option<tablesync::chrono::DateTime<tablesync::chrono::Utc>>,
        pub priority: Priority,
        pub label: Option<String>,
        pub raw: Vec<u8>,
        pub tag: Option<tablesync::uuid::Uuid>,
        #[sync(local)]
        pub seen: bool,
        #[version]
        pub version: Option<String>,
        #[deleted]
        pub gone: bool,
    }
}

use model::{Priority, Reading};
use tablesync::Value;
use tablesync::store::{Filter, Query, TypedColumn};

fn main() {
    let c = Reading::columns();
    let sensor = String::from("north");
    assert_eq!(c.sensor.eq(&sensor), Filter::eq("sensor", "north"));
    assert_eq!(c.sensor.ne(sensor.clone()), Filter::ne("sensor", "north"));
    assert_eq!(c.celsius.gt(5), Filter::gt("celsius", 5.0));
    assert_eq!(c.celsius.gt(5.5), Filter::gt("celsius", 5.5));
    assert_eq!(c.ratio.lt(1), Filter::lt("ratio", 1.0));
    assert_eq!(c.count.ge(3), Filter::ge("count", 3i64));
    assert_eq!(c.small.le(-3), Filter::le("small", -3i64));
    assert_eq!(c.priority.eq(Priority::High), Filter::eq("priority", "high"));
    assert_eq!(c.label.eq("x"), Filter::eq("label", "x"));
    assert_eq!(c.label.ends_with("x"), Filter::ends_with("label", "x"));
    assert_eq!(c.raw.eq(vec![1u8]), Filter::eq("raw", Value::Blob(vec![1])));
    assert_eq!(c.tag.is_null(), Filter::is_null("tag"));
    assert_eq!(c.seen.eq(true), Filter::eq("seen", true));
    assert_eq!(c.at.is_not_null(), !Filter::is_null("at"));
    // The `#[deleted]` field's handle is named after it; the unmirrored system columns
    // keep their own names.
    assert_eq!(c.gone.eq(false), Filter::eq("deleted", false));
    assert_eq!((c.updated_at.name(), c.created_at.name()), ("updatedAt", "createdAt"));

    // A handle is a `Copy` value that can be named, stored and passed around.
    let by_sensor: TypedColumn<Reading, String> = c.sensor;
    let q = Query::new().filter(by_sensor.starts_with("n")).sort(by_sensor.asc());
    assert_eq!(q.order_by.len(), 1);
    let _ = format!("{:?}", Reading::columns());
}
