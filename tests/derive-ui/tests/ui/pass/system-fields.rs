// `#[updated_at]`, `#[created_at]` and `#[deleted]` receive the server's values and are
// never sent.
use chrono::{DateTime, TimeZone, Utc};
use tablesync::{Record, Syncable, Value};

#[derive(Syncable, Debug, PartialEq)]
struct Post {
    id: String,
    body: String,
    #[version]
    version: Option<String>,
    #[updated_at]
    updated_at: Option<DateTime<Utc>>,
    #[created_at]
    created: Option<DateTime<Utc>>,
    #[deleted]
    deleted: bool,
}

fn main() {
    assert_eq!(Post::schema().data_columns().count(), 1);
    let t = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
    let post = Post {
        id: "p".into(),
        body: "b".into(),
        version: Some("v1".into()),
        updated_at: Some(t),
        created: Some(t),
        deleted: true,
    };
    let record = post.to_record().unwrap();
    let columns: Vec<&str> = record.iter().map(|(c, _)| c).collect();
    assert_eq!(columns, ["id", "version", "body"]);

    // Not yet on the server: the defaults.
    let fresh = Post::from_record(record).unwrap();
    assert_eq!((fresh.updated_at, fresh.created, fresh.deleted), (None, None, false));

    // From the server.
    let mut server = Record::new();
    server.set("id", "p");
    server.set("version", "v2");
    server.set("updatedAt", Value::DateTime(t));
    server.set("createdAt", "2025-01-02T03:04:05Z");
    server.set("deleted", Value::Integer(1));
    server.set("body", "b");
    let pulled = Post::from_record(server).unwrap();
    assert_eq!(pulled.updated_at, Some(t));
    assert_eq!(pulled.created, Some(t));
    assert!(pulled.deleted);

    // Server fields and the version come from the remote side of a merge.
    let merged = Post::merge3(&post_with("b", None), post_with("local", None), pulled);
    assert_eq!(merged.value.body, "local");
    assert_eq!(merged.value.version.as_deref(), Some("v2"));
    assert_eq!(merged.value.updated_at, Some(t));
    assert!(merged.value.deleted);
}

fn post_with(body: &str, updated_at: Option<DateTime<Utc>>) -> Post {
    Post {
        id: "p".into(),
        body: body.into(),
        version: Some("v1".into()),
        updated_at,
        created: None,
        deleted: false,
    }
}
