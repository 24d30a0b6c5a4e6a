//! What `#[derive(Syncable)]` makes of the tutorial's struct: the table schema, the row
//! it becomes, field-level change tracking and the 3-way merge used for conflicts.
//!
//! Run with `cargo run --example schema`.

use tablesync::chrono::NaiveDate;
use tablesync::{Syncable, Value};

#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("TodoWithDate")]
struct TodoItem {
    id: String,
    text: String,
    complete: bool,
    due_date: NaiveDate,
    #[version]
    version: Option<String>,
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Text(s) => format!("{s:?}"),
        Value::Date(d) => d.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = TodoItem::schema();
    println!("Table `{}`", schema.name);
    println!("  {:<10} {:<9} {:<8} role", "column", "type", "null?");
    for col in &schema.columns {
        let role = match col.system {
            Some(_) => "system (kept by the server)",
            None => "data",
        };
        let null = if col.nullable { "yes" } else { "no" };
        println!("  {:<10} {:<9} {:<8} {role}", col.name, col.ty, null);
    }

    let base = TodoItem {
        id: "a1".into(),
        text: "Buy milk".into(),
        complete: false,
        due_date: NaiveDate::from_ymd_opt(2026, 12, 1).ok_or("bad date")?,
        version: Some("v1".into()),
    };
    println!("\nAs a row:");
    for (column, value) in base.to_record()?.iter() {
        println!("  {column} = {}", show(value));
    }

    let mut local = base.clone();
    local.text = "Buy oat milk".into();
    let mut remote = base.clone();
    remote.complete = true;
    remote.version = Some("v2".into());
    println!(
        "\nThe device changed {:?}; the server changed {:?}.",
        base.changed_columns(&local),
        base.changed_columns(&remote)
    );

    let merged = TodoItem::merge3(&base, local, remote);
    println!(
        "3-way merge: text {:?}, complete {}, version {:?}, clashes {:?}",
        merged.value.text, merged.value.complete, merged.value.version, merged.clashes
    );
    Ok(())
}
