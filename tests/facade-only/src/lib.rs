//! The tutorial's struct, derived with nothing but the `tablesync` facade in
//! `Cargo.toml`: the derive must find sync-core through `tablesync::sync_core`.

// What the derive adds to a public struct (its column handles) is public and documented.
#![deny(missing_docs)]

use tablesync::Syncable;

/// A to-do item, as in the tutorial (a `String` date keeps chrono out of the dependencies).
#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("TodoWithDate")]
pub struct TodoWithDate {
    /// The record's id.
    pub id: String,
    /// What to do.
    pub text: String,
    /// Whether it is done.
    pub complete: bool,
    /// When it is due, if ever.
    pub due_date: Option<String>,
    /// The server's version.
    #[version]
    pub version: Option<String>,
}
