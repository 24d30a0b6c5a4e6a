//! The local store of tablesync on SQLite (rusqlite with a bundled SQLite; SQL built with sea-query).
