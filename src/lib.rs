//! tablesync: offline-first data sync for Rust apps.
#[doc(hidden)]
pub use sync_core;
pub use sync_core::*;
