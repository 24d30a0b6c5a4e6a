//! Shared fixtures of the cross-crate engine tests: the tutorial's and the blog's
//! structs, the reliability tests' stamped item, and helpers to act on the server
//! behind a device's back.
#![allow(dead_code)] // each test crate uses a different subset

pub mod ledger;
pub mod sim;

use tablesync::chrono::NaiveDate;
use tablesync::transport::MemoryRemote;
use tablesync::{Record, Syncable};

/// The tutorial's item.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("TodoWithDate")]
pub struct TodoItem {
    pub id: String,
    pub text: String,
    pub complete: bool,
    pub due_date: NaiveDate,
    #[version]
    pub version: Option<String>,
}

pub const TODO: &str = "TodoWithDate";

pub fn todo(text: &str) -> TodoItem {
    TodoItem {
        id: String::new(),
        text: text.into(),
        complete: false,
        due_date: NaiveDate::from_ymd_opt(2026, 12, 1).expect("a valid date"),
        version: None,
    }
}

/// The blog's person.
#[derive(Syncable, Debug, Clone, PartialEq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub age: i64,
    #[version]
    pub version: Option<String>,
}

pub fn jane() -> Person {
    Person {
        id: "jane".into(),
        name: "Jane".into(),
        age: 25,
        version: None,
    }
}

/// The item of the reliability tests (convergence, network faults, crash, malformed
/// answers); its table is `Item`.
#[derive(Syncable, Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub value: i64,
    /// Unique per local write: lets the test follow every write to its fate.
    pub stamp: String,
    #[version]
    pub version: Option<String>,
}

/// Changes columns of an item directly on the server, as another client would.
pub fn server_edit(
    server: &MemoryRemote,
    table: &str,
    id: &str,
    cols: &[(&str, tablesync::Value)],
) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    for (c, v) in cols {
        r.set(*c, v.clone());
    }
    server.write(table, r).expect("server edit")
}

/// Runs each named async test function against every store.
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(tablesync::store::MemoryStore::new).await;
                }
            )*
        }
        mod sqlite_store {
            $(
                // On a multi-threaded runtime: the SQLite store is reached through
                // spawn_blocking, as in an app.
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(|| {
                        tablesync::sync_sqlite::SqliteStore::open_in_memory().expect("in-memory SQLite store")
                    })
                    .await;
                }
            )*
        }
    };
}
