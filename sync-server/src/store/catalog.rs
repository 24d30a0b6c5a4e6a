//! The dynamic schema: which app tables and columns exist, of what kind, under which
//! physical names, and how JSON values become SQL values and back.
//!
//! An app column gets its [`Kind`] from the first non-null value written to it (like
//! the reference server's dynamic schema) and keeps it: a later value of another kind
//! is a 400 naming the column. A string that is an RFC 3339 instant makes a
//! [`Kind::DateTime`] column; objects and arrays make a [`Kind::Json`] column, stored as
//! JSON text and returned as the same JSON value. A `null` for a column that does not
//! exist yet adds nothing (there is no kind to give it); reading such a column back
//! leaves it out of the row.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sea_query::Value as Sql;
use serde_json::{Number, Value as Json};
use sync_core::model::instant;

use super::StoreError;

/// What a column holds.
///
/// ```
/// use sync_server::store::Kind;
/// assert_eq!(Kind::infer(&serde_json::json!("2026-01-01T00:00:00.000Z")), Some(Kind::DateTime));
/// assert_eq!(Kind::infer(&serde_json::json!("milk")), Some(Kind::Text));
/// assert_eq!(Kind::infer(&serde_json::json!(null)), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// UTF-8 text (`TEXT`).
    Text,
    /// A 64-bit float (`REAL` / `DOUBLE PRECISION`); integers up to 2^53 are exact.
    Number,
    /// A bool (`BOOLEAN`; 0/1 in SQLite).
    Bool,
    /// An instant, stored as milliseconds since the epoch (`BIGINT`), sent as `.sssZ`.
    DateTime,
    /// A JSON object or array, stored as JSON text.
    Json,
}

/// The largest integer a 64-bit float holds exactly.
const MAX_EXACT: i64 = 1 << 53;

impl Kind {
    /// The kind a JSON value gives a new column (`None` for `null`).
    pub fn infer(json: &Json) -> Option<Kind> {
        Some(match json {
            Json::Null => return None,
            Json::Bool(_) => Kind::Bool,
            Json::Number(_) => Kind::Number,
            Json::String(s) if is_instant(s) => Kind::DateTime,
            Json::String(_) => Kind::Text,
            Json::Array(_) | Json::Object(_) => Kind::Json,
        })
    }

    /// The name stored in the registry.
    ///
    /// ```
    /// use sync_server::store::Kind;
    /// assert_eq!(Kind::parse(Kind::DateTime.as_str()), Some(Kind::DateTime));
    /// assert_eq!(Kind::parse("blob"), None);
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Bool => "bool",
            Kind::DateTime => "datetime",
            Kind::Json => "json",
        }
    }

    /// The kind a registry name stands for.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "text" => Kind::Text,
            "number" => Kind::Number,
            "bool" => Kind::Bool,
            "datetime" => Kind::DateTime,
            "json" => Kind::Json,
            _ => return None,
        })
    }

    /// A typed SQL `NULL` of this kind (PostgreSQL checks parameter types even for NULL).
    ///
    /// ```
    /// use sync_server::store::Kind;
    /// assert_eq!(Kind::Bool.null(), sea_query::Value::Bool(None));
    /// ```
    pub fn null(self) -> Sql {
        match self {
            Kind::Text | Kind::Json => Sql::String(None),
            Kind::Number => Sql::Double(None),
            Kind::Bool => Sql::Bool(None),
            Kind::DateTime => Sql::BigInt(None),
        }
    }
}

/// Whether a string written to a new column makes it a [`Kind::DateTime`] column: an
/// instant ([`instant::parse`]) with an upper-case `T` between date and time (the
/// parser also takes `t` or a space there; those strings make a text column).
fn is_instant(s: &str) -> bool {
    s.as_bytes().get(10) == Some(&b'T') && instant::parse(s).is_some()
}

/// One app column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMeta {
    /// The name as first written by a client (names match ignoring ASCII case).
    pub name: String,
    /// The physical column name.
    pub phys: String,
    /// What it holds.
    pub kind: Kind,
}

/// One app table and its app columns (system columns are implicit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    /// The lowercased name: the key.
    pub key: String,
    /// The physical table name.
    pub phys: String,
    /// App columns in the order they were added.
    pub columns: Vec<ColumnMeta>,
}

impl TableMeta {
    /// An app column by name, ignoring ASCII case.
    pub fn column(&self, name: &str) -> Option<&ColumnMeta> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// A physical name: a unique ordinal first (so names that differ only in case, or are
/// longer than PostgreSQL's 63-byte identifiers, never collide), then a readable part.
pub(crate) fn phys_name(prefix: char, n: i64, name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    format!("{prefix}{n}_{}", &lower[..lower.len().min(40)])
}

/// The in-process cache of table metadata. Columns are only ever added, so a stale
/// entry lacks columns but never lies about one: readers that meet an unknown physical
/// column, or a query that names an unknown column, reload the entry.
#[derive(Default)]
pub struct Catalog {
    tables: RwLock<HashMap<String, Arc<TableMeta>>>,
}

impl Catalog {
    /// The cached entry of a table (by lowercased name).
    pub fn get(&self, key: &str) -> Option<Arc<TableMeta>> {
        self.tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// Records a table's entry, unless the one cached is newer: columns are only ever
    /// added, so the entry with more columns is the newer one. A reader whose snapshot
    /// predates a schema change must not put the old schema back.
    pub fn put(&self, meta: TableMeta) -> Arc<TableMeta> {
        let meta = Arc::new(meta);
        let mut tables = self.tables.write().unwrap_or_else(|p| p.into_inner());
        match tables.get(&meta.key) {
            Some(cached) if cached.columns.len() > meta.columns.len() => Arc::clone(cached),
            _ => {
                tables.insert(meta.key.clone(), Arc::clone(&meta));
                meta
            }
        }
    }
}

/// The most app columns a table can have (PostgreSQL allows 1600 in all): a body that
/// would add more is a 400, not a failed `ALTER TABLE`.
pub const MAX_COLUMNS: usize = 1000;

/// A 400 when adding `new` columns would pass [`MAX_COLUMNS`].
pub(crate) fn check_column_cap(
    table: &str,
    meta: &TableMeta,
    new: usize,
) -> Result<(), StoreError> {
    if meta.columns.len() + new > MAX_COLUMNS {
        return Err(StoreError::BadRequest(format!(
            "table `{table}` would have more than {MAX_COLUMNS} columns"
        )));
    }
    Ok(())
}

/// The columns (with the kinds they would get) that a write needs and `meta` lacks.
pub fn missing_columns(meta: Option<&TableMeta>, data: &[(String, Json)]) -> Vec<(String, Kind)> {
    let mut out: Vec<(String, Kind)> = Vec::new();
    for (name, value) in data {
        let known = meta.is_some_and(|m| m.column(name).is_some())
            || out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if let (false, Some(kind)) = (known, Kind::infer(value)) {
            out.push((name.clone(), kind));
        }
    }
    out
}

/// A JSON value as the SQL value of a column of `kind`, or a 400 naming the column.
pub fn to_sql(table: &str, column: &ColumnMeta, value: &Json) -> Result<Sql, StoreError> {
    let bad = |what: String| {
        StoreError::BadRequest(format!("table `{table}`, column `{}`: {what}", column.name))
    };
    let expected = |json: &Json| {
        bad(format!(
            "expected {}, got {}",
            match column.kind {
                Kind::Text => "a string",
                Kind::Number => "a number",
                Kind::Bool => "a bool",
                Kind::DateTime => "an RFC 3339 instant",
                Kind::Json => "JSON",
            },
            json
        ))
    };
    Ok(match (column.kind, value) {
        (kind, Json::Null) => kind.null(),
        (Kind::Text, Json::String(s)) if s.contains('\0') => {
            return Err(bad(
                "text cannot contain the NUL character (U+0000); PostgreSQL cannot store it".into(),
            ));
        }
        (Kind::Text, Json::String(s)) => Sql::String(Some(s.clone())),
        (Kind::Number, Json::Number(n)) => Sql::Double(Some(exact_f64(n).ok_or_else(|| {
            bad(format!(
                "{n} cannot be stored exactly: numbers are 64-bit floats (integers up to 2^53)"
            ))
        })?)),
        (Kind::Bool, Json::Bool(b)) => Sql::Bool(Some(*b)),
        (Kind::DateTime, Json::String(s)) => Sql::BigInt(Some(
            instant::parse_millis(s).ok_or_else(|| expected(value))?,
        )),
        (Kind::Json, j) => Sql::String(Some(j.to_string())),
        (_, j) => return Err(expected(j)),
    })
}

/// The app columns of a write as SQL values of their columns' kinds.
pub(crate) fn bind_data(
    table: &str,
    meta: &TableMeta,
    data: &[(String, Json)],
) -> Result<Vec<(String, Sql)>, StoreError> {
    let mut out: Vec<(String, Sql)> = Vec::with_capacity(data.len());
    for (name, value) in data {
        // A null for a column that does not exist yet has nothing to set.
        let Some(col) = meta.column(name) else {
            continue;
        };
        let v = to_sql(table, col, value)?;
        match out.iter_mut().find(|(p, _)| *p == col.phys) {
            Some(slot) => slot.1 = v,
            None => out.push((col.phys.clone(), v)),
        }
    }
    Ok(out)
}

/// A JSON number as an f64, unless that would change it (a large integer).
fn exact_f64(n: &Number) -> Option<f64> {
    if let Some(i) = n.as_i64() {
        return (-MAX_EXACT..=MAX_EXACT).contains(&i).then_some(i as f64);
    }
    if n.as_u64().is_some() {
        return None;
    }
    n.as_f64().filter(|f| f.is_finite())
}

/// One stored cell, as a backend reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float.
    Real(f64),
    /// A bool.
    Bool(bool),
}

/// A stored cell of a column of `kind` as JSON.
pub fn cell_to_json(kind: Kind, cell: Cell) -> Json {
    match (kind, cell) {
        (_, Cell::Null) => Json::Null,
        (Kind::Number, Cell::Real(f)) => number_json(f),
        (Kind::Number, Cell::Int(i)) => Json::from(i),
        (Kind::Bool, Cell::Bool(b)) => Json::Bool(b),
        (Kind::Bool, Cell::Int(i)) => Json::Bool(i != 0),
        (Kind::DateTime, Cell::Int(ms)) => Json::String(instant::millis_to_wire(ms)),
        (Kind::Json, Cell::Text(s)) => serde_json::from_str(&s).unwrap_or(Json::String(s)),
        (_, Cell::Text(s)) => Json::String(s),
        (_, Cell::Int(i)) => Json::from(i),
        (_, Cell::Real(f)) => number_json(f),
        (_, Cell::Bool(b)) => Json::Bool(b),
    }
}

/// An integral float within the exact range goes out as an integer (`3`, not `3.0`),
/// so that typed clients decode integer fields.
fn number_json(f: f64) -> Json {
    if f.fract() == 0.0 && f.abs() <= MAX_EXACT as f64 {
        Json::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Json::Null, Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(kind: Kind) -> ColumnMeta {
        ColumnMeta {
            name: "c".into(),
            phys: "c1_c".into(),
            kind,
        }
    }

    #[test]
    fn numbers_that_a_float_would_change_are_refused() {
        assert!(to_sql("T", &col(Kind::Number), &json!(9007199254740992i64)).is_ok());
        assert!(to_sql("T", &col(Kind::Number), &json!(9007199254740993i64)).is_err());
        assert!(to_sql("T", &col(Kind::Number), &json!(u64::MAX)).is_err());
        assert_eq!(
            to_sql("T", &col(Kind::Number), &json!(1.25)).unwrap(),
            Sql::Double(Some(1.25))
        );
    }

    #[test]
    fn text_with_a_nul_is_refused_naming_the_column() {
        let e = to_sql("T", &col(Kind::Text), &json!("a\u{0}b")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "table `T`, column `c`: text cannot contain the NUL character (U+0000); \
             PostgreSQL cannot store it"
        );
        assert!(to_sql("T", &col(Kind::Json), &json!(["a\u{0}b"])).is_ok());
    }

    #[test]
    fn kinds_are_kept() {
        let e = to_sql("T", &col(Kind::Bool), &json!("yes")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "table `T`, column `c`: expected a bool, got \"yes\""
        );
        assert!(to_sql("T", &col(Kind::DateTime), &json!("soon")).is_err());
        assert_eq!(
            to_sql(
                "T",
                &col(Kind::DateTime),
                &json!("1970-01-01T01:00:00.001+01:00")
            )
            .unwrap(),
            Sql::BigInt(Some(1))
        );
        assert_eq!(
            to_sql("T", &col(Kind::Json), &json!({"a": 1})).unwrap(),
            Sql::String(Some("{\"a\":1}".into()))
        );
    }

    #[test]
    fn cells_become_the_json_of_their_kind() {
        assert_eq!(cell_to_json(Kind::Number, Cell::Real(3.0)), json!(3));
        assert_eq!(cell_to_json(Kind::Number, Cell::Real(0.5)), json!(0.5));
        assert_eq!(cell_to_json(Kind::Bool, Cell::Int(1)), json!(true));
        assert_eq!(
            cell_to_json(Kind::Json, Cell::Text("[1]".into())),
            json!([1])
        );
        assert_eq!(
            cell_to_json(Kind::DateTime, Cell::Int(1)),
            json!("1970-01-01T00:00:00.001Z")
        );
    }

    #[test]
    fn physical_names_are_short_and_unique() {
        let long = "A".repeat(128);
        let p = phys_name('c', 12, &long);
        assert!(p.len() <= 63 && p.starts_with("c12_aaa"));
    }
}
