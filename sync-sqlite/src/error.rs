//! How failures of SQLite become [`StoreError`]s: every one says what the store was
//! doing and on which table, so a log line is enough to find the statement.

use std::fmt::Display;

use sync_core::store::StoreError;

/// Wraps a rusqlite error as [`StoreError::Backend`], prefixed with what was being done.
pub(crate) fn backend<C: Display>(context: C) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend(format!("{context}: {e}"))
}

/// A bookkeeping or app row that cannot be read back as written.
pub(crate) fn corrupt(table: &str, row: impl Display, why: impl Display) -> StoreError {
    StoreError::Corrupt(format!("table `{table}`, row {row}: {why}"))
}

/// True when SQLite refused a write because of a UNIQUE or PRIMARY KEY constraint.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
