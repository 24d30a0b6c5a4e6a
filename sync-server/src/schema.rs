//! The schema an operator declares: which tables the server serves and which columns
//! each has, of which [`Kind`].
//!
//! Without a declared schema the server is dynamic, like the reference server: any valid
//! table name is served and a column is added, with the kind of its first value, by the
//! first write that names it. That suits one app and its devices, but when clients do
//! not trust each other (per-user mode) it lets one of them shape everyone's tables: fix
//! a column's kind, fill a table with junk columns, and learn from error messages about
//! columns only others wrote. So a server can be given its schema ([`Schema`], from a
//! JSON file with `--schema`):
//!
//! ```json
//! { "TodoItem": { "text": "text", "complete": "bool", "due": "datetime" } }
//! ```
//!
//! The declared tables and columns are created with their declared kinds before the
//! server answers its first request to them (a column that already exists with another
//! kind is an error naming it). Whether writes may still add columns of their own is
//! [`Config::dynamic_schema`](crate::Config::dynamic_schema): off by default in per-user
//! mode, on otherwise. With it off, a write naming a column the schema lacks is a 400
//! that names only that column, and only the declared tables are served.

use std::collections::BTreeMap;

use crate::store::Kind;

/// One declared table: its name (as clients write it; names match ignoring ASCII case)
/// and its app columns with their kinds.
///
/// ```
/// use sync_server::schema::TableDecl;
/// use sync_server::store::Kind;
/// let t = TableDecl::new("TodoItem").column("text", Kind::Text).column("complete", Kind::Bool);
/// assert_eq!(t.columns.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDecl {
    /// The table's name.
    pub name: String,
    /// Its app columns (no system columns), in order.
    pub columns: Vec<(String, Kind)>,
}

impl TableDecl {
    /// A table with no app columns yet.
    pub fn new(name: impl Into<String>) -> TableDecl {
        TableDecl {
            name: name.into(),
            columns: Vec::new(),
        }
    }

    /// Adds a column.
    pub fn column(mut self, name: impl Into<String>, kind: Kind) -> TableDecl {
        self.columns.push((name.into(), kind));
        self
    }

    /// The declared column of this name, ignoring ASCII case.
    pub fn find(&self, name: &str) -> Option<Kind> {
        self.columns
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .map(|(_, k)| *k)
    }
}

/// A declared schema: the tables a server serves, with their columns.
///
/// ```
/// let s = sync_server::schema::Schema::from_json(r#"{"TodoItem": {"text": "text", "due": "datetime"}}"#).unwrap();
/// assert_eq!(s.table("todoitem").unwrap().columns.len(), 2);
/// assert_eq!(
///     sync_server::schema::Schema::from_json(r#"{"T": {"n": "integer"}}"#).unwrap_err(),
///     "table `T`, column `n`: unknown kind `integer` (text, number, bool, datetime or json)"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// The tables.
    pub tables: Vec<TableDecl>,
}

impl Schema {
    /// A schema of these tables.
    pub fn new(tables: impl IntoIterator<Item = TableDecl>) -> Schema {
        Schema {
            tables: tables.into_iter().collect(),
        }
    }

    /// The declared table of this name, ignoring ASCII case.
    pub fn table(&self, name: &str) -> Option<&TableDecl> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Reads the JSON form: an object of tables, each an object of column names to
    /// kinds (`text`, `number`, `bool`, `datetime`, `json`). Every name is checked as a
    /// client's would be; the error names the table and column.
    pub fn from_json(text: &str) -> Result<Schema, String> {
        let raw: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(text).map_err(|e| {
                format!(
                    "the schema must be an object of tables, each an object of column kinds: {e}"
                )
            })?;
        let mut tables = Vec::new();
        for (name, columns) in raw {
            sync_core::validate_table_name(&name).map_err(|e| e.to_string())?;
            let mut t = TableDecl::new(&name);
            for (column, kind) in columns {
                if ["id", "version", "createdat", "updatedat", "deleted"]
                    .contains(&column.to_ascii_lowercase().as_str())
                {
                    return Err(format!(
                        "table `{name}`, column `{column}`: system columns are always there and are not declared"
                    ));
                }
                sync_core::validate_column_name(&name, &column).map_err(|e| e.to_string())?;
                let kind = kind.as_str().and_then(Kind::parse).ok_or_else(|| {
                    format!(
                        "table `{name}`, column `{column}`: unknown kind {} (text, number, bool, datetime or json)",
                        match kind.as_str() {
                            Some(s) => format!("`{s}`"),
                            None => kind.to_string(),
                        }
                    )
                })?;
                if t.find(&column).is_some() {
                    return Err(format!(
                        "table `{name}`: column `{column}` is declared twice"
                    ));
                }
                t.columns.push((column, kind));
            }
            if tables
                .iter()
                .any(|o: &TableDecl| o.name.eq_ignore_ascii_case(&name))
            {
                return Err(format!("table `{name}` is declared twice"));
            }
            tables.push(t);
        }
        Ok(Schema { tables })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_and_its_errors() {
        let s = Schema::from_json(
            r#"{"Todo": {"text": "text", "n": "number", "tags": "json"}, "Empty": {}}"#,
        )
        .unwrap();
        assert_eq!(s.tables.len(), 2);
        assert_eq!(s.table("TODO").unwrap().find("N"), Some(Kind::Number));
        for (text, want) in [
            ("[]", "the schema must be an object"),
            (r#"{"T": {"id": "text"}}"#, "system columns"),
            (r#"{"T": {"a b": "text"}}"#, "a b"),
            (r#"{"T": {"a": 1}}"#, "unknown kind 1"),
            (r#"{"T": {"a": "text", "A": "bool"}}"#, "declared twice"),
            (r#"{"T": {}, "t": {}}"#, "declared twice"),
            (r#"{"bad name": {}}"#, "bad name"),
        ] {
            let e = Schema::from_json(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
