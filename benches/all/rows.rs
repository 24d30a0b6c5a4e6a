//! The synced types the benchmarks write, push and pull, and their data.

use serde_json::{Value as Json, json};
use tablesync::Syncable;

/// The local-write item: the same shape as sync-sqlite's `local_writes` bench.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Item")]
pub struct Item {
    pub id: String,
    pub text: String,
    pub n: i64,
    #[version]
    pub version: Option<String>,
}

/// The pushed item.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("BenchPush")]
pub struct PushRow {
    pub id: String,
    pub text: String,
    pub n: i64,
    #[version]
    pub version: Option<String>,
}

pub const PUSH_TABLE: &str = "BenchPush";

/// The pulled record: five columns, about 200 bytes of data.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("BenchPull")]
pub struct PullRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub count: i64,
    pub price: f64,
    pub done: bool,
    #[version]
    pub version: Option<String>,
}

pub const PULL_TABLE: &str = "BenchPull";

/// Ids that sort in insertion order and look like the UUIDs clients make.
pub fn id(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:08}-5f0c-4b7e-9a43-1c2d3e4f5a6b")
}

/// The columns of pulled record `i`, as JSON (the server's input).
pub fn pull_columns(i: usize) -> Vec<(String, Json)> {
    vec![
        (
            "title".into(),
            json!(format!("Record number {i:06} of the initial pull")),
        ),
        (
            "body".into(),
            json!(format!(
                "Some text to give the record its size: item {i:06} was written by the \
                 seeding step and is read back by every client that pulls."
            )),
        ),
        ("count".into(), json!(i as i64)),
        ("price".into(), json!(i as f64 * 0.25 + 0.5)),
        ("done".into(), json!(i.is_multiple_of(3))),
    ]
}

/// The columns of pushed record `i` as the server first holds them.
pub fn push_seed_columns(i: usize) -> Vec<(String, Json)> {
    vec![
        ("text".into(), json!(format!("item {i} as first written"))),
        ("n".into(), json!(i as i64)),
    ]
}

/// The text and number of pushed record `i` after the client's local update.
pub fn push_update(i: usize) -> (String, i64) {
    (format!("item {i} as changed offline"), i as i64 + 1_000_000)
}
