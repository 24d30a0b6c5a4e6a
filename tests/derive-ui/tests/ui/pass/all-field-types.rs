// Every field type sync-core supports, with the column type and nullability each maps to.
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use tablesync::{ColumnType, Syncable};
use uuid::Uuid;

#[derive(Syncable, Debug, PartialEq)]
struct Everything {
    id: String,
    text: String,
    flag: bool,
    tiny: i8,
    small: i16,
    medium: i32,
    big: i64,
    byte: u8,
    word: u16,
    dword: u32,
    single: f32,
    double: f64,
    bytes: Vec<u8>,
    maybe: Option<i64>,
    at: DateTime<Utc>,
    day: NaiveDate,
    key: Uuid,
    maybe_day: Option<NaiveDate>,
    #[version]
    version: Option<String>,
}

fn main() {
    let columns: Vec<(&str, ColumnType, bool)> = Everything::schema()
        .data_columns()
        .map(|c| (c.name.as_str(), c.ty, c.nullable))
        .collect();
    assert_eq!(
        columns,
        [
            ("text", ColumnType::Text, false),
            ("flag", ColumnType::Bool, false),
            ("tiny", ColumnType::Integer, false),
            ("small", ColumnType::Integer, false),
            ("medium", ColumnType::Integer, false),
            ("big", ColumnType::Integer, false),
            ("byte", ColumnType::Integer, false),
            ("word", ColumnType::Integer, false),
            ("dword", ColumnType::Integer, false),
            ("single", ColumnType::Real, false),
            ("double", ColumnType::Real, false),
            ("bytes", ColumnType::Blob, false),
            ("maybe", ColumnType::Integer, true),
            ("at", ColumnType::DateTime, false),
            ("day", ColumnType::Date, false),
            ("key", ColumnType::Text, false),
            ("maybeDay", ColumnType::Date, true),
        ]
    );
    let e = Everything {
        id: "e".into(),
        text: "t".into(),
        flag: true,
        tiny: i8::MIN,
        small: i16::MAX,
        medium: -1,
        big: i64::MAX,
        byte: u8::MAX,
        word: 7,
        dword: u32::MAX,
        single: 1.5,
        double: -0.25,
        bytes: vec![0, 255],
        maybe: None,
        at: Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap(),
        day: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(),
        key: Uuid::from_u128(0x1234),
        maybe_day: NaiveDate::from_ymd_opt(2000, 1, 1),
        version: Some("v".into()),
    };
    assert_eq!(Everything::from_record(e.to_record().unwrap()).unwrap(), e);
}
