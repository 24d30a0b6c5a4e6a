//! A struct changes between versions of an app while its rows stay in the device's
//! SQLite file and on the server. These stories pin the migration rules of the README's
//! "Schema changes" section: a field added with a default (or as an `Option`) reads
//! old and pulled rows without the column; one without a default makes those rows
//! errors naming table, id and column, never hiding the other rows; a removed field's
//! column stays, ignored and never sent; `rename` keeps a column; a changed column type
//! is refused by name.

use tablesync::engine::{SyncContext, SyncError};
use tablesync::store::{Filter, Order, Query, Store, StoreError};
use tablesync::transport::{MemoryRemote, MemoryTransport};
use tablesync::{Record, SchemaError, SqliteStore, Syncable, Value};

/// Version 1 of the app's struct.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct TodoV1 {
    id: String,
    text: String,
    #[version]
    version: Option<String>,
}

/// Version 2 gains `priority`, read as `0` from rows without it.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct WithDefault {
    id: String,
    text: String,
    #[sync(default)]
    priority: i64,
    #[version]
    version: Option<String>,
}

fn normal_priority() -> i64 {
    3
}

/// Version 2 gains `priority`, read as `normal_priority()` from rows without it.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct WithDefaultFn {
    id: String,
    text: String,
    #[sync(default = "normal_priority")]
    priority: i64,
    #[version]
    version: Option<String>,
}

/// Version 2 gains `priority` without a default.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct WithoutDefault {
    id: String,
    text: String,
    priority: i64,
    #[version]
    version: Option<String>,
}

/// Version 2 gains an optional `priority`.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct WithOption {
    id: String,
    text: String,
    priority: Option<i64>,
    #[version]
    version: Option<String>,
}

/// Version 3 renames the field and keeps its column.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct Renamed {
    id: String,
    text: String,
    #[sync(rename = "priority")]
    rank: i64,
    #[version]
    version: Option<String>,
}

/// Version 3 changes the type behind the column `priority`.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct TypeChanged {
    id: String,
    text: String,
    priority: String,
    #[version]
    version: Option<String>,
}

/// Version 3 narrows the type, keeping the column type (integer).
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct Narrowed {
    id: String,
    text: String,
    #[sync(default)]
    priority: u8,
    #[version]
    version: Option<String>,
}

/// Version 3 changes the type the way that works: under a new column.
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("Todo")]
struct TypeChangedNewColumn {
    id: String,
    text: String,
    #[sync(rename = "priorityLabel", default)]
    priority: String,
    #[version]
    version: Option<String>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A device on the store file at `path`, syncing with `server`.
fn device(
    path: &std::path::Path,
    server: &MemoryRemote,
) -> SyncContext<SqliteStore, MemoryTransport> {
    SyncContext::new(SqliteStore::open(path).unwrap(), server.transport())
}

fn v1(id: &str, text: &str) -> TodoV1 {
    TodoV1 {
        id: id.into(),
        text: text.into(),
        version: None,
    }
}

/// Version 1 of the app stores these items in the file, then quits.
async fn app_v1_stores(path: &std::path::Path, server: &MemoryRemote, items: &[(&str, &str)]) {
    let ctx = device(path, server);
    let todos = ctx.table::<TodoV1>().await.unwrap();
    for (id, text) in items {
        todos.insert(v1(id, text)).await.unwrap();
    }
}

/// A row another client wrote on the server, without `priority`.
fn server_row(id: &str, text: &str) -> Record {
    let mut r = Record::new();
    r.set("id", id);
    r.set("text", text);
    r
}

#[test]
fn a_field_added_with_default_reads_as_default_in_rows_stored_before_it() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        app_v1_stores(&path, &server, &[("a", "milk"), ("b", "bread")]).await;

        let ctx = device(&path, &server);
        let todos = ctx.table::<WithDefault>().await.unwrap();
        let all = todos.all().await.unwrap();
        let read: Vec<(&str, &str, i64)> = all
            .iter()
            .map(|t| (t.id.as_str(), t.text.as_str(), t.priority))
            .collect();
        assert_eq!(read, [("a", "milk", 0), ("b", "bread", 0)]);

        // A value written by the new version reads back as written, also after a reopen.
        todos
            .update(WithDefault {
                priority: 5,
                ..all[1].clone()
            })
            .await
            .unwrap();
        drop((todos, ctx));
        let todos = device(&path, &server).table::<WithDefault>().await.unwrap();
        assert_eq!(todos.get("b").await.unwrap().unwrap().priority, 5);
        assert_eq!(todos.get("a").await.unwrap().unwrap().priority, 0);
    });
}

#[test]
fn a_field_added_with_a_default_function_reads_its_value_in_old_rows() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        app_v1_stores(&path, &server, &[("a", "milk")]).await;

        let todos = device(&path, &server)
            .table::<WithDefaultFn>()
            .await
            .unwrap();
        let a = todos.get("a").await.unwrap().unwrap();
        assert_eq!((a.text.as_str(), a.priority), ("milk", 3));
    });
}

#[test]
fn a_field_added_as_an_option_reads_none_in_old_rows() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        app_v1_stores(&path, &server, &[("a", "milk")]).await;

        let todos = device(&path, &server).table::<WithOption>().await.unwrap();
        assert_eq!(todos.get("a").await.unwrap().unwrap().priority, None);
    });
}

#[test]
fn a_row_without_a_value_for_a_field_without_default_is_an_error_naming_it_and_hides_no_other_row()
{
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        app_v1_stores(&path, &server, &[("a", "milk")]).await;

        let ctx = device(&path, &server);
        let todos = ctx.table::<WithoutDefault>().await.unwrap();
        for (id, priority) in [("b", 1), ("c", 2)] {
            todos
                .insert(WithoutDefault {
                    id: id.into(),
                    text: "new".into(),
                    priority,
                    version: None,
                })
                .await
                .unwrap();
        }

        let err = todos.all().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "table `Todo`, item `a`, column `priority`: expected i64, found null; a field added after this row was written needs `#[sync(default)]` or an `Option` type"
        );
        let SyncError::Decode(decode) = err else {
            panic!("expected a decode error, got {err:?}");
        };
        assert_eq!(
            (
                decode.table.as_str(),
                decode.id.as_deref(),
                decode.column.as_str()
            ),
            ("Todo", Some("a"), "priority")
        );

        let rows = todos.all_results().await.unwrap();
        // A good row as (id, priority), a bad one as (id, column).
        type Summary<'a> = Result<(&'a str, i64), (Option<&'a str>, &'a str)>;
        let summary: Vec<Summary> = rows
            .iter()
            .map(|r| match r {
                Ok(t) => Ok((t.id.as_str(), t.priority)),
                Err(e) => Err((e.id.as_deref(), e.column.as_str())),
            })
            .collect();
        assert_eq!(
            summary,
            [Err((Some("a"), "priority")), Ok(("b", 1)), Ok(("c", 2))]
        );
        // Reads of the good rows by id are not affected either.
        assert_eq!(todos.get("c").await.unwrap().unwrap().priority, 2);
        assert!(matches!(todos.get("a").await, Err(SyncError::Decode(_))));

        // Writing the item again with a value repairs the row.
        todos
            .update(WithoutDefault {
                id: "a".into(),
                text: "milk".into(),
                priority: 9,
                version: None,
            })
            .await
            .unwrap();
        let priorities: Vec<i64> = todos
            .all()
            .await
            .unwrap()
            .iter()
            .map(|t| t.priority)
            .collect();
        assert_eq!(priorities, [9, 1, 2]);
    });
}

#[test]
fn a_pulled_row_without_the_column_reads_as_the_default() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        // Another client, still on version 1, wrote these on the server.
        server.write("Todo", server_row("x", "from v1")).unwrap();
        server.write("Todo", server_row("y", "also v1")).unwrap();

        let ctx = device(&path, &server);
        let todos = ctx.table::<WithDefaultFn>().await.unwrap();
        let report = todos.pull("all", None).await.unwrap();
        assert_eq!(report.received, 2);
        let pulled: Vec<(String, i64)> = todos
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.priority))
            .collect();
        assert_eq!(pulled, [("x".to_string(), 3), ("y".to_string(), 3)]);
    });
}

#[test]
fn a_pulled_row_without_the_column_is_one_error_among_good_rows_without_a_default() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        let mut up_to_date = server_row("x", "v2 client");
        up_to_date.set("priority", 4i64);
        server.write("Todo", up_to_date).unwrap();
        server.write("Todo", server_row("y", "v1 client")).unwrap();

        let todos = device(&path, &server)
            .table::<WithoutDefault>()
            .await
            .unwrap();
        todos.pull("all", None).await.unwrap();
        let rows = todos.all_results().await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_ref().unwrap().priority, 4);
        let bad = rows[1].as_ref().unwrap_err();
        assert_eq!(
            (bad.id.as_deref(), bad.column.as_str()),
            (Some("y"), "priority")
        );
    });
}

#[test]
fn a_removed_field_keeps_its_column_which_is_ignored_and_never_sent() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        {
            let todos = device(&path, &server).table::<WithDefault>().await.unwrap();
            todos
                .insert(WithDefault {
                    id: "a".into(),
                    text: "milk".into(),
                    priority: 5,
                    version: None,
                })
                .await
                .unwrap();
        }

        // The app goes back to a struct without `priority`: its rows still read...
        let ctx = device(&path, &server);
        let todos = ctx.table::<TodoV1>().await.unwrap();
        assert_eq!(todos.get("a").await.unwrap().unwrap().text, "milk");
        // ...the column and its data stay in the file...
        let stored = ctx.store().read(|tx| tx.get("Todo", "a")).unwrap().unwrap();
        assert_eq!(stored.get("priority"), Some(&Value::Integer(5)));
        // ...and the push of the item does not send it.
        assert_eq!(ctx.push().await.unwrap().pushed, 1);
        let on_server = server.get("Todo", "a").unwrap();
        assert_eq!(on_server.get("text"), Some(&Value::from("milk")));
        assert!(
            matches!(on_server.get("priority"), None | Some(Value::Null)),
            "{on_server:?}"
        );
        // The server's copy, stored back, replaces the row: the old value is gone.
        let stored = ctx.store().read(|tx| tx.get("Todo", "a")).unwrap().unwrap();
        assert_eq!(stored.get("priority"), Some(&Value::Null));
    });
}

/// The column a removed field leaves in the file is the store's, not the app's: a filter
/// or a sort key on it is the same error in a local query, a count and a pull, where
/// the store alone would match the stale data.
#[test]
fn a_removed_fields_column_is_no_column_to_filter_or_sort_on() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        {
            let todos = device(&path, &server).table::<WithDefault>().await.unwrap();
            todos
                .insert(WithDefault {
                    id: "a".into(),
                    text: "milk".into(),
                    priority: 5,
                    version: None,
                })
                .await
                .unwrap();
        }
        let ctx = device(&path, &server);
        let todos = ctx.table::<TodoV1>().await.unwrap();
        let stale = || Filter::eq("priority", 5i64);
        let is_unknown = |e: &SyncError| {
            matches!(
                e,
                SyncError::Store(StoreError::UnknownColumn { table, column })
                    if table == "Todo" && column == "priority"
            )
        };
        let e = todos.count(Some(stale())).await.unwrap_err();
        assert!(is_unknown(&e), "{e:?}");
        let e = todos.query(Query::new().filter(stale())).await.unwrap_err();
        assert!(is_unknown(&e), "{e:?}");
        let e = todos
            .query(Query::new().order_by("priority", Order::Desc))
            .await
            .unwrap_err();
        assert!(is_unknown(&e), "{e:?}");
        let e = todos.pull("p5", Some(stale())).await.unwrap_err();
        assert!(is_unknown(&e), "{e:?}");
        // The struct's own columns still filter, typed or by name.
        let milk = TodoV1::columns().text.eq("milk");
        assert_eq!(todos.count(Some(milk)).await.unwrap(), 1);
        assert_eq!(
            todos.count(Some(Filter::eq("text", "milk"))).await.unwrap(),
            1
        );
    });
}

#[test]
fn a_field_renamed_with_rename_keeps_its_column_and_data() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        {
            let todos = device(&path, &server).table::<WithDefault>().await.unwrap();
            todos
                .insert(WithDefault {
                    id: "a".into(),
                    text: "milk".into(),
                    priority: 5,
                    version: None,
                })
                .await
                .unwrap();
        }
        let todos = device(&path, &server).table::<Renamed>().await.unwrap();
        assert_eq!(todos.get("a").await.unwrap().unwrap().rank, 5);
        assert!(Renamed::schema().column("rank").is_none());
    });
}

#[test]
fn a_changed_column_type_is_refused_by_name_and_a_new_column_is_the_way() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        {
            let todos = device(&path, &server).table::<WithDefault>().await.unwrap();
            todos
                .insert(WithDefault {
                    id: "a".into(),
                    text: "milk".into(),
                    priority: 5,
                    version: None,
                })
                .await
                .unwrap();
        }
        let ctx = device(&path, &server);
        match ctx.table::<TypeChanged>().await {
            Err(SyncError::Store(StoreError::Schema(SchemaError::TypeChanged {
                table,
                column,
                stored,
                wanted,
            }))) => assert_eq!(
                (
                    table.as_str(),
                    column.as_str(),
                    stored.as_str(),
                    wanted.as_str()
                ),
                ("Todo", "priority", "integer", "text")
            ),
            Err(e) => panic!("expected TypeChanged, got {e}"),
            Ok(_) => panic!("expected TypeChanged, got a table"),
        }

        // Under a new column the new type works; the old column keeps its data.
        let todos = ctx.table::<TypeChangedNewColumn>().await.unwrap();
        assert_eq!(todos.get("a").await.unwrap().unwrap().priority, "");
        let stored = ctx.store().read(|tx| tx.get("Todo", "a")).unwrap().unwrap();
        assert_eq!(stored.get("priority"), Some(&Value::Integer(5)));
    });
}

#[test]
fn a_new_type_on_the_same_column_type_makes_each_row_it_refuses_an_error() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let server = MemoryRemote::new();
        {
            let todos = device(&path, &server)
                .table::<WithDefault>()
                .await
                .unwrap();
            for (id, priority) in [("a", 300), ("b", 7)] {
                todos
                    .insert(WithDefault {
                        id: id.into(),
                        text: "milk".into(),
                        priority,
                        version: None,
                    })
                    .await
                    .unwrap();
            }
        }
        let todos = device(&path, &server).table::<Narrowed>().await.unwrap();
        let rows = todos.all_results().await.unwrap();
        let bad = rows[0].as_ref().unwrap_err();
        assert_eq!(
            bad.to_string(),
            "table `Todo`, item `a`, column `priority`: expected u8, found integer 300 (out of range)"
        );
        assert_eq!(rows[1].as_ref().unwrap().priority, 7);
    });
}
