use facade_only::TodoWithDate;
use tablesync::{ColumnType, Syncable};

#[test]
fn tutorial_struct_round_trips_through_the_facade_alone() {
    let todo = TodoWithDate {
        id: "t1".into(),
        text: "buy milk".into(),
        complete: true,
        due_date: Some("2025-03-01".into()),
        version: Some("v1".into()),
    };
    let record = todo.to_record().unwrap();
    let columns: Vec<&str> = record.iter().map(|(c, _)| c).collect();
    assert_eq!(columns, ["id", "version", "text", "complete", "dueDate"]);
    assert_eq!(TodoWithDate::from_record(record).unwrap(), todo);

    let due = TodoWithDate::schema().column("dueDate").unwrap();
    assert_eq!((due.ty, due.nullable), (ColumnType::Text, true));
}

#[test]
fn column_handles_come_through_the_facade_alone() {
    use tablesync::store::{Filter, Query};
    let c = TodoWithDate::columns();
    assert_eq!(
        c.due_date.eq("2025-03-01"),
        Filter::eq("dueDate", "2025-03-01")
    );
    assert_eq!(c.complete.eq(true), Filter::eq("complete", true));
    let q = Query::new()
        .filter(c.text.contains("milk"))
        .sort(c.updated_at.desc());
    assert_eq!(q.order_by.len(), 1);
}
