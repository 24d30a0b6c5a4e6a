//! [`Record`]: a row as ordered (column, value) pairs, the untyped form of a synced struct.

use super::schema::SystemColumn;
use super::value::Value;

/// A row: ordered `(column, value)` pairs.
///
/// Stores and transports speak records; [`Syncable`](super::Syncable) converts them to and
/// from typed structs. Column order is kept (it is the schema's order for derived
/// records); lookups match the exact name first, then ignoring ASCII case.
///
/// ```
/// use sync_core::{Record, Value};
/// let mut r = Record::new();
/// r.set("id", "a1");
/// r.set("text", "milk");
/// r.set("text", "bread"); // replaces, keeps the position
/// assert_eq!(r.get("TEXT"), Some(&Value::from("bread")));
/// assert_eq!(r.id(), Some("a1"));
/// assert_eq!(r.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    columns: Vec<(String, Value)>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// An empty record with room for `n` columns.
    pub fn with_capacity(n: usize) -> Record {
        Record {
            columns: Vec::with_capacity(n),
        }
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|(c, _)| c == column)
            .or_else(|| {
                self.columns
                    .iter()
                    .position(|(c, _)| c.eq_ignore_ascii_case(column))
            })
    }

    /// Sets a column, replacing its value in place if present, appending otherwise.
    pub fn set(&mut self, column: impl Into<String>, value: impl Into<Value>) {
        let column = column.into();
        let value = value.into();
        match self.position(&column) {
            Some(i) => self.columns[i].1 = value,
            None => self.columns.push((column, value)),
        }
    }

    /// Appends a column without looking for an existing one (for builders that know the
    /// names are distinct, such as generated code).
    pub fn push(&mut self, column: impl Into<String>, value: impl Into<Value>) {
        self.columns.push((column.into(), value.into()));
    }

    /// A column's value.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.position(column).map(|i| &self.columns[i].1)
    }

    /// Takes a column out of the record.
    ///
    /// ```
    /// let mut r = sync_core::Record::new();
    /// r.set("a", 1i64);
    /// assert_eq!(r.remove("a"), Some(sync_core::Value::Integer(1)));
    /// assert!(r.is_empty());
    /// ```
    pub fn remove(&mut self, column: &str) -> Option<Value> {
        self.position(column).map(|i| self.columns.remove(i).1)
    }

    /// Whether the record has this column.
    pub fn contains(&self, column: &str) -> bool {
        self.position(column).is_some()
    }

    /// The columns in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns.iter().map(|(c, v)| (c.as_str(), v))
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the record has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The `id` column as text, if present and text.
    pub fn id(&self) -> Option<&str> {
        self.text(SystemColumn::Id.name())
    }

    /// The `version` column as text, if present and non-empty text.
    pub fn version(&self) -> Option<&str> {
        self.text(SystemColumn::Version.name())
            .filter(|v| !v.is_empty())
    }

    /// Whether the `deleted` column is present and true.
    pub fn is_deleted(&self) -> bool {
        matches!(
            self.get(SystemColumn::Deleted.name()),
            Some(Value::Bool(true)) | Some(Value::Integer(1))
        )
    }

    fn text(&self, column: &str) -> Option<&str> {
        match self.get(column) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// The data columns (not system columns) whose values differ between `self` and
    /// `other`, in `self`'s order, then columns only `other` has. A column missing on one
    /// side counts as `Null` there.
    ///
    /// ```
    /// use sync_core::Record;
    /// let mut a = Record::new();
    /// a.set("id", "1"); a.set("version", "v1"); a.set("text", "x"); a.set("n", 1i64);
    /// let mut b = a.clone();
    /// b.set("version", "v2"); b.set("n", 2i64);
    /// assert_eq!(a.changed_columns(&b), ["n"]);
    /// ```
    pub fn changed_columns(&self, other: &Record) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in self.iter() {
            if SystemColumn::from_name(name).is_some() {
                continue;
            }
            if other.get(name).unwrap_or(&Value::Null) != value {
                out.push(name.to_owned());
            }
        }
        for (name, value) in other.iter() {
            if SystemColumn::from_name(name).is_none() && !self.contains(name) && !value.is_null() {
                out.push(name.to_owned());
            }
        }
        out
    }

    /// 3-way merge of data columns: a column changed on one side only takes that side's
    /// value; changed on both sides to the same value is no clash; changed on both sides
    /// differently is a clash (the local value is kept and the column is reported).
    /// System columns are taken from `remote` (the merged value is pushed against the
    /// remote version), the id from `local`.
    ///
    /// ```
    /// use sync_core::Record;
    /// let rec = |name: &str, age: i64| {
    ///     let mut r = Record::new();
    ///     r.set("id", "p1"); r.set("name", name); r.set("age", age);
    ///     r
    /// };
    /// let base = rec("Jane", 25);
    /// let merged = Record::merge3(&base, &rec("Janet", 25), &rec("Jane", 30));
    /// assert_eq!(merged.value, rec("Janet", 30));
    /// assert!(merged.clashes.is_empty());
    /// let clash = Record::merge3(&base, &rec("Jane", 32), &rec("Jane", 30));
    /// assert_eq!(clash.clashes, ["age"]);
    /// ```
    pub fn merge3(base: &Record, local: &Record, remote: &Record) -> Merged<Record> {
        let null = Value::Null;
        let mut value = Record::with_capacity(local.len().max(remote.len()));
        let mut clashes = Vec::new();
        let mut names: Vec<&str> = local.iter().map(|(n, _)| n).collect();
        names.extend(remote.iter().map(|(n, _)| n).filter(|n| !local.contains(n)));
        for name in names {
            let l = local.get(name).unwrap_or(&null);
            let r = remote.get(name).unwrap_or(&null);
            let chosen = match SystemColumn::from_name(name) {
                Some(SystemColumn::Id) => l,
                Some(_) => r,
                None => {
                    let b = base.get(name).unwrap_or(&null);
                    if l == b {
                        r
                    } else if r == b || l == r {
                        l
                    } else {
                        clashes.push(name.to_owned());
                        l
                    }
                }
            };
            value.push(name, chosen.clone());
        }
        Merged { value, clashes }
    }
}

impl FromIterator<(String, Value)> for Record {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut r = Record::new();
        for (c, v) in iter {
            r.set(c, v);
        }
        r
    }
}

impl IntoIterator for Record {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.columns.into_iter()
    }
}

/// The result of a 3-way merge: the merged value and what changed differently on both
/// sides (empty when the merge is clean). With clashes, `value` holds the local side for
/// the clashing fields.
///
/// ```
/// let m = sync_core::Merged { value: 1, clashes: Vec::<String>::new() };
/// assert!(m.is_clean());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged<T> {
    /// The merged value.
    pub value: T,
    /// What changed differently on both sides, in schema order: the struct's field
    /// names for a typed merge ([`Syncable::merge3`](super::Syncable::merge3)), the
    /// column names for a [`Record::merge3`]. For a typed merge,
    /// [`clashing_columns`](Merged::clashing_columns) names the columns.
    pub clashes: Vec<String>,
}

impl<T> Merged<T> {
    /// True when nothing clashed.
    pub fn is_clean(&self) -> bool {
        self.clashes.is_empty()
    }
}

impl<T: super::Syncable> Merged<T> {
    /// The columns of the clashing fields (the names in the store and on the wire), in
    /// the order of [`clashes`](Merged::clashes). A clash that names no field of `T`
    /// (a hand-written merge reporting columns) is given as it is.
    ///
    /// ```
    /// use sync_core::Syncable;
    /// #[derive(sync_derive::Syncable)]
    /// #[sync(crate = "sync_core")]
    /// struct Visit {
    ///     id: String,
    ///     #[sync(rename = "siteId")]
    ///     site: String,
    ///     #[version]
    ///     version: Option<String>,
    /// }
    /// let v = |site: &str| Visit { id: "v1".into(), site: site.into(), version: None };
    /// let merged = Visit::merge3(&v("base"), v("north"), v("south"));
    /// assert_eq!(merged.clashes, ["site"]);
    /// assert_eq!(merged.clashing_columns(), ["siteId"]);
    /// ```
    pub fn clashing_columns(&self) -> Vec<&str> {
        self.clashes
            .iter()
            .map(|field| T::column_of(field).unwrap_or(field))
            .collect()
    }
}
