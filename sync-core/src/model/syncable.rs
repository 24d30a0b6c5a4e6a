//! [`Syncable`]: what a struct must provide to be synced. `#[derive(Syncable)]` writes it.

use super::error::{DecodeError, EncodeError};
use super::record::{Merged, Record};
use super::schema::TableSchema;

/// A type whose values are rows of a synced table.
///
/// Normally derived with `#[derive(Syncable)]`; implementing it by hand is possible (for
/// example for a dynamic table) and must keep these contracts:
/// - `schema()` is valid ([`TableSchema::validate`]) and always the same value;
/// - `to_record` emits `id`, `version` and every data column of the schema; the other
///   system columns (`updatedAt`, `createdAt`, `deleted`) belong to the server and the
///   store, and are never emitted;
/// - `from_record(to_record(x))` equals `x` for every field that is stored (all but
///   `#[sync(skip)]` fields);
/// - `changed_columns` and `merge3` look at data columns only.
///
/// ```
/// use sync_core::{ColumnType, DecodeError, EncodeError, Merged, Record, SyncValue, Syncable, TableSchema};
/// use std::sync::OnceLock;
///
/// #[derive(Debug, Clone, PartialEq)]
/// struct Note { id: String, body: String, version: Option<String> }
///
/// impl Syncable for Note {
///     fn schema() -> &'static TableSchema {
///         static S: OnceLock<TableSchema> = OnceLock::new();
///         S.get_or_init(|| TableSchema::new("Note").with_column("body", ColumnType::Text, false))
///     }
///     fn id(&self) -> &str { &self.id }
///     fn set_id(&mut self, id: String) { self.id = id }
///     fn version(&self) -> Option<&str> { self.version.as_deref() }
///     fn set_version(&mut self, v: Option<String>) { self.version = v }
///     fn to_record(&self) -> Result<Record, EncodeError> {
///         let mut r = Record::new();
///         r.push("id", self.id.clone());
///         r.push("version", self.version.clone());
///         r.push("body", self.body.clone());
///         Ok(r)
///     }
///     fn from_record(mut r: Record) -> Result<Self, DecodeError> {
///         let mut take = |c: &str| r.remove(c).ok_or_else(|| DecodeError::missing("Note", c, "text"));
///         let id = take("id")?;
///         let body = take("body")?;
///         let version = r.remove("version").unwrap_or(sync_core::Value::Null);
///         Ok(Note {
///             id: String::from_value(id).map_err(|e| DecodeError::value("Note", "id", e))?,
///             body: String::from_value(body).map_err(|e| DecodeError::value("Note", "body", e))?,
///             version: Option::from_value(version).map_err(|e| DecodeError::value("Note", "version", e))?,
///         })
///     }
///     fn changed_columns(&self, other: &Self) -> Vec<&'static str> {
///         if self.body == other.body { vec![] } else { vec!["body"] }
///     }
///     fn merge3(base: &Self, local: Self, remote: Self) -> Merged<Self> {
///         let rec = Record::merge3(&base.to_record().unwrap(), &local.to_record().unwrap(), &remote.to_record().unwrap());
///         Merged { value: Note::from_record(rec.value).unwrap(), clashes: rec.clashes }
///     }
/// }
///
/// let n = Note { id: "n1".into(), body: "hi".into(), version: None };
/// assert_eq!(Note::from_record(n.to_record()?)?, n);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Syncable: Sized {
    /// The table's schema: system columns, then one column per synced field.
    fn schema() -> &'static TableSchema;

    /// The table's name (the schema's).
    fn table_name() -> &'static str {
        &Self::schema().name
    }

    /// The record's id.
    fn id(&self) -> &str;

    /// Sets the id (the engine assigns a UUID to an empty id on insert).
    fn set_id(&mut self, id: String);

    /// The server-assigned version, `None` before the first push (an empty `String`
    /// version field counts as `None`).
    fn version(&self) -> Option<&str>;

    /// Sets the version.
    fn set_version(&mut self, version: Option<String>);

    /// The record: `id`, `version`, then the data columns in schema order.
    fn to_record(&self) -> Result<Record, EncodeError>;

    /// Decodes a record. A missing column (unless the field is an `Option` or has a
    /// default) or a value of the wrong type is an error naming the table, the row's id
    /// ([`DecodeError::with_id`]), the column and the expected type. Extra columns are
    /// ignored; `#[sync(skip)]` fields get their default, and so do fields with
    /// `#[sync(default)]` or `#[sync(default = "path")]` and local-only
    /// (`#[sync(local)]`) fields that the record lacks or holds as `Null`.
    fn from_record(record: Record) -> Result<Self, DecodeError>;

    /// The data columns whose values differ between `self` and `other`, in schema order.
    fn changed_columns(&self, other: &Self) -> Vec<&'static str>;

    /// The struct field that holds a data column, by the column's name (matched like
    /// [`TableSchema::column`]: exactly, then ignoring ASCII case); `None` for a system
    /// column or a name the table does not have.
    ///
    /// The derive answers with the field's name as written (`due_date` for `dueDate`,
    /// `site` for a field renamed `#[sync(rename = "siteId")]`). The default, for
    /// hand-written impls, names each field after its column.
    ///
    /// ```
    /// use sync_core::Syncable;
    /// #[derive(sync_derive::Syncable)]
    /// #[sync(crate = "sync_core")]
    /// struct Visit {
    ///     id: String,
    ///     due_date: Option<chrono::NaiveDate>,
    ///     #[sync(rename = "siteId")]
    ///     site: String,
    ///     #[version]
    ///     version: Option<String>,
    /// }
    /// assert_eq!(Visit::field_of("dueDate"), Some("due_date"));
    /// assert_eq!(Visit::field_of("SITEID"), Some("site"));
    /// assert_eq!((Visit::field_of("version"), Visit::field_of("nope")), (None, None));
    /// ```
    fn field_of(column: &str) -> Option<&'static str> {
        Self::schema()
            .column(column)
            .filter(|c| c.system.is_none())
            .map(|c| c.name.as_str())
    }

    /// The data column of a struct field, by the field's name (exactly as written);
    /// `None` for the id, version, server-maintained, local-only and `skip` fields, and for a
    /// name the struct does not have. The inverse of [`field_of`](Syncable::field_of).
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
    /// assert_eq!(Visit::column_of("site"), Some("siteId"));
    /// assert_eq!((Visit::column_of("id"), Visit::column_of("siteId")), (None, None));
    /// ```
    fn column_of(field: &str) -> Option<&'static str> {
        Self::schema()
            .data_columns()
            .find(|c| c.name == field)
            .map(|c| c.name.as_str())
    }

    /// 3-way field merge: a field changed on one side only takes that side's value; a
    /// field changed differently on both sides is a clash (reported by its field name,
    /// local value kept).
    /// The id, local-only and `skip` fields come from `local`; the version and server-maintained
    /// fields from `remote`, so that the merged value can be pushed against the remote.
    fn merge3(base: &Self, local: Self, remote: Self) -> Merged<Self>;
}
