//! `#[derive(Syncable)]` for tablesync: turns a struct with named fields into a synced
//! table row.
//!
//! The derive reads the struct into a typed form (`ast`, `attr`), checks the rules that
//! span several attributes (`check`), collecting every mistake in one [`ctxt::Ctxt`], and
//! only then generates code (`expand`). Apps use it through `tablesync` (or `sync-core`
//! with its `derive` feature), which re-exports it next to the `Syncable` trait.

mod ast;
mod attr;
mod check;
mod core_path;
mod ctxt;
mod expand;
mod names;
mod shape;
mod symbol;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `Syncable`: the struct becomes a row of a synced table.
///
/// # What it generates
///
/// An `impl Syncable` whose
/// - `schema()` is built once: the table name, the five system columns (`id`, `version`,
///   `updatedAt`, `createdAt`, `deleted`), then one column per data field in declaration
///   order, typed by the field's `SyncValue` implementation (`Option<T>` is nullable);
/// - `id`/`set_id` and `version`/`set_version` read and write the id and version fields;
/// - `to_record` emits `id`, `version` and every data column (never the server-maintained
///   columns); `from_record` decodes them back, the id first, reporting a missing column
///   (unless the field is an `Option` or has a default), a value of the wrong type or an
///   out-of-range integer as a `DecodeError` naming the table, the row's id, the column
///   and the expected type;
/// - `changed_columns` lists the synced data columns that differ, in schema order;
/// - `field_of` and `column_of` map a data column to its field's name as written
///   (`dueDate` to `due_date`) and back, so that conflicts report fields;
/// - `merge3` merges field by field: a field changed on one side takes that side, a field
///   changed differently on both sides is a clash (reported by its field name, local
///   value kept). The id, local-only and `skip` fields come from `local`, the version
///   and server-maintained fields from `remote`. The struct needs neither `Clone` nor
///   `PartialEq`.
///
/// Beside the impl, column handles for filters and sort keys (`sync_core::store::TypedColumn`):
/// - a struct `<Name>Columns` (`TodoColumns` for `Todo`, with the struct's visibility;
///   `Clone`, `Copy`, `Debug`) with one public handle per column, in schema order: the
///   system columns first, named after the field that mirrors each (`#[id]`,
///   `#[version]`, `#[updated_at]`, ...) or else `id`, `version`, `updated_at`,
///   `created_at`, `deleted` (left out when a data field has that name), then every data
///   field by its own name. A field of type `T` gets a `TypedColumn<Name, T>`, one of
///   type `Option<T>` a `TypedColumn<Name, T, Nullable>` (compared with a `T`, and with
///   `is_null`). `#[sync(json)]` fields have no handle (a document is not compared), nor
///   have `#[sync(skip)]` ones (not a column); a `#[sync(local)]` field's handle filters
///   local queries and counts and is refused in a pull filter;
/// - an inherent `const fn columns() -> <Name>Columns`, so that
///   `Todo::columns().due_date.lt(day)` is `Filter::lt("dueDate", day)` and a
///   misspelt field or a value of another type does not compile.
///
/// # Required
///
/// - A struct with named fields, without generic or lifetime parameters.
/// - An id: a `String` field named `id`, or `#[id]` on a `String` field. Its column is
///   always `id`.
/// - `#[version]` on exactly one `Option<String>` or `String` field (an empty `String`
///   means "no version yet"). Its column is always `version`.
/// - Every data field's type implements `SyncValue`: `String`, `bool`, `i8`, `i16`, `i32`,
///   `i64`, `u8`, `u16`, `u32`, `f32`, `f64`, `Vec<u8>`, `chrono::NaiveDate`,
///   `chrono::DateTime<Utc>`, `uuid::Uuid`, `Option` of any of these, or your own type.
///
/// # Optional attributes
///
/// On the struct:
/// - `#[table("Name")]`: the table's name.
/// - `#[sync(rename_all = "...")]`: how field names become column names; one of
///   `"camelCase"`, `"PascalCase"`, `"snake_case"`, `"SCREAMING_SNAKE_CASE"`,
///   `"lowercase"`, `"UPPERCASE"`.
/// - `#[sync(crate = "path")]`: where sync-core is, if neither `sync-core` nor `tablesync`
///   is a direct dependency under its own name (e.g. when re-exported by your own crate).
///
/// On a field:
/// - `#[sync(rename = "column")]`: this data field's column name.
/// - `#[sync(json)]`: store any `serde` type as a nullable JSON column.
/// - `#[sync(local)]`: local-only; a column of the local store like any other (queries
///   and counts can use it), but never sent in a push, never taken from a pull (a
///   server copy leaves it as stored), never a changed or clashing field, never a pull
///   filter. Changing only local-only fields queues nothing. `Default::default()` when
///   the stored row has none (`Null`), or the `default` given. Combines with `rename`,
///   `json` and `default`. The type must implement `Default` (unless a `default =
///   "path"` is given).
/// - `#[sync(skip)]`: not stored at all; not a column, never synced, `Default::default()`
///   whenever decoded (so a value set before a save is gone when the item is read
///   back), kept from `local` when merged. The type must implement `Default`, or
///   `#[sync(default = "path")]` names the value's function.
/// - `#[sync(default)]`: a record with no value for the column (missing, or `Null`)
///   reads as `Default::default()` instead of being an error, e.g. a row stored before
///   the field was added, or pulled from a client that does not know it. A value that
///   is there is decoded as usual. Not on the id, version or server-maintained fields,
///   nor on an `Option` (its `Null` is `None`). Combines with `rename`, `json`, `local`
///   and `skip`. The type must implement `Default`.
/// - `#[sync(default = "path::to::fn")]`: the same with the value of a `fn() -> T`
///   (serde's form); the type needs no `Default`. The rules for adding, removing,
///   renaming and retyping fields are in the README's "Schema changes" section.
/// - `#[updated_at]`, `#[created_at]`, `#[deleted]` (at most one each): receive the
///   server's `updatedAt`, `createdAt` and `deleted` values when decoding (the type's
///   default when the record has none yet); never sent. The type must implement `SyncValue`
///   and `Default`, e.g. `Option<DateTime<Utc>>` and `bool`.
///
/// # Defaults (public API: changing one is a breaking change)
///
/// - Table name: the struct's name.
/// - Column names: `camelCase` of the field names (the wire protocol's convention), so
///   `due_date` is stored as `dueDate`.
/// - Id field: the field named `id`, unless a field is marked `#[id]`.
/// - Field values: none. A record without a value for a field that is not an `Option`
///   and has no `default` (local-only and `skip` fields have `Default`'s) is an error.
/// - Column handles: the struct `<Name>Columns`, the function `columns()`, handles named
///   after the fields (system columns without a field: `id`, `version`, `updated_at`,
///   `created_at`, `deleted`).
/// - Core crate path: `::sync_core` if `sync-core` is a dependency, else
///   `::tablesync::sync_core` if `tablesync` is, following renamed dependencies.
///
/// Column names must be ASCII letters, digits and `_`, not start with a digit, and be
/// unique ignoring case, the system column names included.
///
/// # Example
///
/// ```
/// use chrono::NaiveDate;
/// use sync_core::{ColumnType, Syncable};
///
/// #[derive(sync_derive::Syncable, Debug, PartialEq)]
/// #[table("TodoWithDate")]
/// struct Todo {
///     id: String,
///     text: String,
///     complete: bool,
///     due_date: Option<NaiveDate>,
///     #[version]
///     version: Option<String>,
/// }
///
/// let schema = Todo::schema();
/// assert_eq!(schema.name, "TodoWithDate");
/// let due = schema.column("dueDate").unwrap();
/// assert_eq!((due.ty, due.nullable), (ColumnType::Date, true));
///
/// let todo = Todo {
///     id: "t1".into(),
///     text: "milk".into(),
///     complete: false,
///     due_date: NaiveDate::from_ymd_opt(2025, 1, 31),
///     version: None,
/// };
/// let record = todo.to_record()?;
/// let columns: Vec<&str> = record.iter().map(|(c, _)| c).collect();
/// assert_eq!(columns, ["id", "version", "text", "complete", "dueDate"]);
/// assert_eq!(Todo::from_record(record)?, todo);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A local-only field is stored but never synced; a `skip` field is not stored at all:
///
/// ```
/// use sync_core::Syncable;
///
/// #[derive(sync_derive::Syncable)]
/// struct Visit {
///     id: String,
///     site: String,
///     #[sync(local)]
///     notes: String,
///     #[sync(skip)]
///     scratch: String,
///     #[version]
///     version: Option<String>,
/// }
///
/// let schema = Visit::schema();
/// assert!(schema.column("notes").is_some_and(|c| c.local));
/// assert!(schema.column("scratch").is_none());
/// let v = Visit { id: "v1".into(), site: "north".into(), notes: "gate code".into(),
///                 scratch: "typing".into(), version: None };
/// let back = Visit::from_record(v.to_record()?)?;
/// assert_eq!((back.notes.as_str(), back.scratch.as_str()), ("gate code", ""));
/// // A server's copy has no local columns: they read as their default.
/// let mut server_copy = sync_core::Record::new();
/// server_copy.set("id", "v1");
/// server_copy.set("site", "south");
/// assert_eq!(Visit::from_record(server_copy)?.notes, "");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A field added to a struct reads rows written before it as its default:
///
/// ```
/// use sync_core::{Record, Syncable};
///
/// fn normal() -> i64 {
///     3
/// }
///
/// #[derive(sync_derive::Syncable)]
/// struct Task {
///     id: String,
///     #[sync(default)]
///     done: bool,
///     #[sync(default = "normal")]
///     priority: i64,
///     #[version]
///     version: Option<String>,
/// }
///
/// let mut old = Record::new();
/// old.set("id", "t1");
/// let task = Task::from_record(old)?;
/// assert_eq!((task.done, task.priority), (false, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Column handles build the filters and sort keys of local queries, counts and pulls:
///
/// ```
/// use sync_core::store::{Filter, Order, Query};
///
/// #[derive(sync_derive::Syncable)]
/// struct Inspection {
///     id: String,
///     #[sync(rename = "site")]
///     site_id: String,
///     score: u32,
///     due_date: Option<chrono::NaiveDate>,
///     #[version]
///     version: Option<String>,
/// }
///
/// let c = Inspection::columns();
/// assert_eq!(c.site_id.eq("s1"), Filter::eq("site", "s1"));
/// assert_eq!(c.score.ge(3).and(c.due_date.is_null()), Filter::ge("score", 3i64).and(Filter::is_null("dueDate")));
/// let q = Query::new().filter(c.site_id.starts_with("north")).sort(c.updated_at.desc());
/// assert_eq!(q.order_by, [("updatedAt".to_string(), Order::Desc)]);
/// ```
///
/// A handle compares with its field's type only:
///
/// ```compile_fail
/// # #[derive(sync_derive::Syncable)]
/// # struct Inspection { id: String, site_id: String, #[version] version: Option<String> }
/// let f = Inspection::columns().site_id.eq(5); // `site_id` is a String
/// ```
///
/// A struct without a version field is refused at compile time:
///
/// ```compile_fail
/// #[derive(sync_derive::Syncable)]
/// struct Todo {
///     id: String,
///     text: String,
/// }
/// ```
#[proc_macro_derive(
    Syncable,
    attributes(table, id, version, sync, updated_at, created_at, deleted)
)]
pub fn derive_syncable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_syncable(&input)
        .unwrap_or_else(|errors| errors.iter().map(syn::Error::to_compile_error).collect())
        .into()
}
