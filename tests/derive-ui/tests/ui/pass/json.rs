// `#[sync(json)]` stores any serde type as a nullable JSON column.
use serde::{Deserialize, Serialize};
use tablesync::{ColumnType, Syncable, Value};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Address {
    street: String,
    zip: u32,
}

#[derive(Syncable, Debug, PartialEq)]
struct Contact {
    id: String,
    #[sync(json)]
    tags: Vec<String>,
    #[sync(json, rename = "home")]
    address: Option<Address>,
    #[version]
    version: Option<String>,
}

fn main() {
    for column in Contact::schema().data_columns() {
        assert_eq!((column.ty, column.nullable), (ColumnType::Json, true));
    }
    let c = Contact {
        id: "c1".into(),
        tags: vec!["friend".into(), "ü".into()],
        address: Some(Address { street: "Main".into(), zip: 12345 }),
        version: None,
    };
    let record = c.to_record().unwrap();
    assert_eq!(
        record.get("tags"),
        Some(&Value::Json(serde_json::json!(["friend", "ü"])))
    );
    assert_eq!(
        record.get("home"),
        Some(&Value::Json(serde_json::json!({"street": "Main", "zip": 12345})))
    );
    assert_eq!(Contact::from_record(record).unwrap(), c);

    let mut moved = Contact { address: None, ..Contact::from_record(c.to_record().unwrap()).unwrap() };
    assert_eq!(moved.changed_columns(&c), ["home"]);
    moved.address = c.address.clone();
    assert!(moved.changed_columns(&c).is_empty());
}
