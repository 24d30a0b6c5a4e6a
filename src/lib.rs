//! tablesync: offline-first data sync for Rust apps.
//!
//! An app keeps its data in a local store (SQLite), reads and writes it with no
//! network, and syncs with a server when it can:
//!
//! 1. `#[derive(Syncable)]` on a struct gives its table schema, its conversion to and
//!    from rows, and its field names for conflicts ([`Syncable`]).
//! 2. A [`SyncContext`](engine::SyncContext) joins a [`Store`](store::Store) (where
//!    rows, the operation queue, conflicts and watermarks live) and a
//!    [`Transport`](transport::Transport) (how to reach the server).
//! 3. [`SyncTable`](engine::SyncTable) reads and writes one type: every write commits
//!    with its queue entry in one transaction.
//! 4. [`push`](engine::SyncContext::push) sends the queue, each write conditional on
//!    the version it was based on; [`pull`](engine::SyncTable::pull) brings the
//!    server's changes since the last pull of that query.
//! 5. When both sides changed an item, the app gets a typed
//!    [`Conflict<T>`](conflict::Conflict) with the local, remote and base copies, and
//!    keeps one side, merges, or lets a [`ConflictPolicy`](conflict::ConflictPolicy) do it.
//!
//! ```
//! use tablesync::engine::SyncContext;
//! use tablesync::store::MemoryStore;
//! use tablesync::transport::MemoryRemote;
//! use tablesync::Syncable;
//!
//! #[derive(Syncable, Debug, Clone, PartialEq)]
//! struct Todo {
//!     id: String,
//!     text: String,
//!     done: bool,
//!     #[version]
//!     version: Option<String>,
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! // Two devices and a server (in process here; `HttpTransport` reaches a real one).
//! let server = MemoryRemote::new();
//! let phone = SyncContext::new(MemoryStore::new(), server.transport());
//! let laptop = SyncContext::new(MemoryStore::new(), server.transport());
//! let on_phone = phone.table::<Todo>().await?;
//! let on_laptop = laptop.table::<Todo>().await?;
//!
//! // Offline writes are queued; a push sends them.
//! let milk = on_phone
//!     .insert(Todo { id: String::new(), text: "Buy milk".into(), done: false, version: None })
//!     .await?;
//! assert_eq!(on_phone.pending().await?.len(), 1);
//! assert_eq!(phone.push().await?.pushed, 1);
//!
//! // The other device pulls it (incrementally: the query id "all" keeps its place).
//! assert_eq!(on_laptop.pull("all", None).await?.received, 1);
//!
//! // Both change the same item; the laptop pushes first.
//! let mut l = on_laptop.get(&milk.id).await?.unwrap();
//! l.done = true;
//! on_laptop.update(l).await?;
//! laptop.push().await?;
//! let mut p = on_phone.get(&milk.id).await?.unwrap();
//! p.text = "Buy oat milk".into();
//! on_phone.update(p).await?;
//!
//! // The phone's push finds the conflict and keeps it for the app.
//! assert_eq!(phone.push().await?.conflicts, 1);
//! let conflict = on_phone.conflicts().await?.remove(0);
//! assert_eq!(conflict.differing_fields(), ["text", "done"]);
//! // Different fields changed: the 3-way merge keeps both changes.
//! let merged = conflict.merge().unwrap();
//! on_phone.use_value(merged.value).await?;
//! phone.push().await?;
//! on_laptop.pull("all", None).await?;
//! let both = on_laptop.get(&milk.id).await?.unwrap();
//! assert_eq!((both.text.as_str(), both.done), ("Buy oat milk", true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `derive` | yes | `#[derive(Syncable)]` |
//! | `sqlite` | yes | [`SqliteStore`]: rusqlite with a bundled SQLite (WAL, `synchronous=FULL`) |
//! | `http` | no | `HttpTransport` (the Azure Mobile Apps table protocol, and the `tablesync` extension: batch push, streamed pull) and the wire module, under `tablesync::sync_http` |
//! | `server` | no | the tablesync server as a library (`tablesync::sync_server::router`), SQLite or PostgreSQL |
//!
//! # Where things are
//!
//! - [`engine`]: [`SyncContext`](engine::SyncContext), [`SyncTable`](engine::SyncTable),
//!   [`SyncOptions`](engine::SyncOptions), events ([`SyncEvent`](engine::SyncEvent)),
//!   reports and errors;
//! - [`conflict`]: conflicts, resolutions, policies, handlers;
//! - [`store`]: the [`Store`](store::Store) trait, [`MemoryStore`](store::MemoryStore),
//!   filters and queries;
//! - [`transport`]: the [`Transport`](transport::Transport) trait and
//!   [`MemoryRemote`](transport::MemoryRemote), an in-process server with fault
//!   injection for tests;
//! - the model at the root: [`Syncable`], [`Record`], [`Value`], [`TableSchema`].
//!
//! This crate re-exports the whole of `sync-core`, the derive (feature `derive`), and
//! the backends behind their features. The README's examples are compiled as doctests
//! of `tests/readme`, a crate with only the dependencies the README tells a user to
//! add, so they cannot rot.

#![warn(missing_docs)]

pub use sync_core::*;

/// The core crate, under the path the derive's generated code uses.
#[doc(hidden)]
pub use sync_core;

/// The SQLite store crate (feature `sqlite`).
#[cfg(feature = "sqlite")]
pub use sync_sqlite;

/// The SQLite store (feature `sqlite`): `SqliteStore::open("app.db")`.
#[cfg(feature = "sqlite")]
pub use sync_sqlite::SqliteStore;

/// The HTTP transport and wire protocol (feature `http`).
#[cfg(feature = "http")]
pub use sync_http;

/// The HTTP transport (feature `http`): `HttpTransport::new("https://example.com/")`.
#[cfg(feature = "http")]
pub use sync_http::HttpTransport;

/// The server as a library (feature `server`).
#[cfg(feature = "server")]
pub use sync_server;
