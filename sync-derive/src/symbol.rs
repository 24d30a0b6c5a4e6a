//! The attribute keywords the derive understands, named once so that parsing, checks and
//! error messages cannot drift apart.

use std::fmt;

use syn::{Ident, Path};

/// One attribute keyword, either an attribute's own name (`table`, `id`) or a key inside
/// `#[sync(...)]` (`rename`, `skip`).
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Symbol(pub &'static str);

/// `#[table("Name")]` on the struct.
pub const TABLE: Symbol = Symbol("table");
/// `#[sync(...)]`, on the struct or a field.
pub const SYNC: Symbol = Symbol("sync");
/// `#[id]` on a field.
pub const ID: Symbol = Symbol("id");
/// `#[version]` on a field.
pub const VERSION: Symbol = Symbol("version");
/// `#[updated_at]` on a field.
pub const UPDATED_AT: Symbol = Symbol("updated_at");
/// `#[created_at]` on a field.
pub const CREATED_AT: Symbol = Symbol("created_at");
/// `#[deleted]` on a field.
pub const DELETED: Symbol = Symbol("deleted");

/// `#[sync(rename_all = "...")]` on the struct.
pub const RENAME_ALL: Symbol = Symbol("rename_all");
/// `#[sync(crate = "...")]` on the struct.
pub const CRATE: Symbol = Symbol("crate");
/// `#[sync(rename = "...")]` on a field.
pub const RENAME: Symbol = Symbol("rename");
/// `#[sync(skip)]` on a field.
pub const SKIP: Symbol = Symbol("skip");
/// `#[sync(json)]` on a field.
pub const JSON: Symbol = Symbol("json");
/// `#[sync(local)]` on a field.
pub const LOCAL: Symbol = Symbol("local");
/// `#[sync(default)]` or `#[sync(default = "path")]` on a field.
pub const DEFAULT: Symbol = Symbol("default");

/// The keys `#[sync(...)]` accepts on the struct.
pub const CONTAINER_SYNC_KEYS: &[Symbol] = &[RENAME_ALL, CRATE];
/// The keys `#[sync(...)]` accepts on a field.
pub const FIELD_SYNC_KEYS: &[Symbol] = &[RENAME, SKIP, LOCAL, JSON, DEFAULT];

/// The field named `id` is the id when no field carries `#[id]`.
pub const DEFAULT_ID_FIELD: &str = "id";

impl Symbol {
    /// `a`, `b` and `c` with backquotes, for "expected one of ..." messages.
    pub fn list(symbols: &[Symbol]) -> String {
        let quoted: Vec<String> = symbols.iter().map(|s| format!("`{s}`")).collect();
        match quoted.split_last() {
            None => String::new(),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }
}

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.0
    }
}

impl PartialEq<Symbol> for Path {
    fn eq(&self, word: &Symbol) -> bool {
        self.is_ident(word.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
