//! How failures of SQLite become [`StoreError`]s: every one says what the store was
//! doing and on which table, so a log line is enough to find the statement.

use std::fmt::Display;

use sync_core::ErrorSource;
use sync_core::store::{StoreError, StoreErrorKind};

/// Wraps a rusqlite error as [`StoreError::Database`], prefixed with what was being
/// done, its kind read off SQLite's result code and the error kept as its source.
pub(crate) fn backend<C: Display>(context: C) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| {
        StoreError::database(
            kind(&e),
            format!("{context}: {e}"),
            Some(ErrorSource::new(e)),
        )
    }
}

/// What an app can do about a SQLite failure, from its primary result code.
pub(crate) fn kind(e: &rusqlite::Error) -> StoreErrorKind {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => StoreErrorKind::Busy,
        Some(C::DiskFull | C::TooBig) => StoreErrorKind::DiskFull,
        Some(C::DatabaseCorrupt | C::NotADatabase) => StoreErrorKind::Corrupt,
        Some(C::ReadOnly) => StoreErrorKind::ReadOnly,
        Some(C::SystemIoFailure | C::CannotOpen | C::FileLockingProtocolFailed) => {
            StoreErrorKind::Io
        }
        _ => StoreErrorKind::Other,
    }
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
