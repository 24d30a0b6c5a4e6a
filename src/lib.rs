//! tablesync: offline-first data sync for Rust apps.
//!
//! Annotate a struct with `#[derive(Syncable)]`, read and write it through a
//! [`SyncContext`](engine::SyncContext) backed by a local [`Store`](store::Store), and
//! sync with a server through a [`Transport`](transport::Transport): every local write
//! is queued durably, `push` sends the queue with optimistic concurrency on `version`,
//! `pull` brings the server's changes back incrementally, and conflicting changes
//! become typed [`Conflict<T>`](conflict::Conflict)s.
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
