// `rename_all` applies to every data field; `rename` wins over it; id and version keep
// their fixed columns.
use tablesync::Syncable;

#[derive(Syncable)]
#[sync(rename_all = "snake_case")]
struct Person {
    #[id]
    person_key: String,
    first_name: String,
    #[sync(rename = "familyName")]
    last_name: String,
    #[version]
    row_version: Option<String>,
}

#[derive(Syncable)]
#[sync(rename_all = "SCREAMING_SNAKE_CASE")]
struct Shouting {
    id: String,
    due_date: i64,
    #[version]
    version: Option<String>,
}

#[derive(Syncable)]
#[sync(rename_all = "PascalCase")]
struct Pascal {
    id: String,
    due_date: i64,
    #[version]
    version: Option<String>,
}

#[derive(Syncable)]
#[sync(rename_all = "lowercase")]
struct Lower {
    id: String,
    #[allow(non_snake_case)]
    dueDate: i64,
    #[version]
    version: Option<String>,
}

#[derive(Syncable)]
#[sync(rename_all = "UPPERCASE")]
struct Upper {
    id: String,
    due_date: i64,
    #[version]
    version: Option<String>,
}

fn data_columns<T: Syncable>() -> Vec<String> {
    T::schema().data_columns().map(|c| c.name.clone()).collect()
}

fn main() {
    assert_eq!(data_columns::<Person>(), ["first_name", "familyName"]);
    assert_eq!(data_columns::<Shouting>(), ["DUE_DATE"]);
    assert_eq!(data_columns::<Pascal>(), ["DueDate"]);
    assert_eq!(data_columns::<Lower>(), ["duedate"]);
    assert_eq!(data_columns::<Upper>(), ["DUE_DATE"]);

    let p = Person {
        person_key: "p1".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        row_version: Some("v9".into()),
    };
    assert_eq!(p.id(), "p1");
    let record = p.to_record().unwrap();
    let columns: Vec<&str> = record.iter().map(|(c, _)| c).collect();
    assert_eq!(columns, ["id", "version", "first_name", "familyName"]);
    let back = Person::from_record(record).unwrap();
    assert_eq!(back.person_key, "p1");
    assert_eq!(back.last_name, "Lovelace");
    assert_eq!(back.row_version.as_deref(), Some("v9"));
}
