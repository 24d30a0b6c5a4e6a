// The tutorial's struct, reaching everything through the facade.
use chrono::NaiveDate;
use tablesync::{ColumnType, Syncable};

#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("TodoWithDate")]
pub struct TodoWithDate {
    pub id: String,
    pub text: String,
    pub complete: bool,
    pub due_date: NaiveDate,
    #[version]
    pub version: Option<String>,
}

fn main() {
    let schema = TodoWithDate::schema();
    assert_eq!(schema.name, "TodoWithDate");
    assert_eq!(TodoWithDate::table_name(), "TodoWithDate");
    assert_eq!(schema.validate(), Ok(()));
    let data: Vec<(&str, ColumnType, bool)> = schema
        .data_columns()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    assert_eq!(
        data,
        [
            ("text", ColumnType::Text, false),
            ("complete", ColumnType::Bool, false),
            ("dueDate", ColumnType::Date, false),
        ]
    );

    let mut todo = TodoWithDate {
        id: String::new(),
        text: "buy milk".into(),
        complete: false,
        due_date: NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
        version: None,
    };
    todo.set_id("t1".into());
    assert_eq!(todo.id(), "t1");
    todo.set_version(Some("v1".into()));
    assert_eq!(todo.version(), Some("v1"));

    let record = todo.to_record().unwrap();
    let columns: Vec<&str> = record.iter().map(|(c, _)| c).collect();
    assert_eq!(columns, ["id", "version", "text", "complete", "dueDate"]);
    assert_eq!(TodoWithDate::from_record(record).unwrap(), todo);
}
