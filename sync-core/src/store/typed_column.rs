//! Typed column handles: a [`Filter`] or sort key built from a handle names a column the
//! table has, with a value of the column's Rust type, or it does not compile.

use std::fmt;
use std::marker::PhantomData;

use crate::model::SyncValue;

use super::query::{CmpOp, Filter, Order};

/// The marker of a column that never holds `Null` (a field whose type is not an
/// `Option`): its handle has no `is_null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotNull {}

/// The marker of a column that may hold `Null` (a field of type `Option<T>`): its
/// handle compares with a `T` and has [`is_null`](TypedColumn::is_null).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nullable {}

/// A handle on one column of the table of `R`, whose values are `T`s; `N` says whether
/// the column may hold `Null` ([`Nullable`]) or not ([`NotNull`], the default).
///
/// `#[derive(Syncable)]` generates one handle per column, reached through
/// `Type::columns()`: a [`TypedColumn<R, T>`] for a field of type `T`, and a
/// [`TypedColumn<R, T, Nullable>`] for a field of type `Option<T>`. A handle only knows
/// the column's wire name; what it builds is the same [`Filter`] a string would, so
/// stores, transports and servers see no difference:
///
/// ```
/// use sync_core::store::{Filter, Order, Query};
///
/// #[derive(sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// struct Inspection {
///     id: String,
///     site_id: String,
///     score: i64,
///     due_date: Option<chrono::NaiveDate>,
///     #[version]
///     version: Option<String>,
/// }
///
/// let c = Inspection::columns();
/// let typed = c.site_id.eq("s1").and(c.score.gt(5)).and(!c.due_date.is_null());
/// let strings = Filter::eq("siteId", "s1")
///     .and(Filter::gt("score", 5i64))
///     .and(!Filter::is_null("dueDate"));
/// assert_eq!(typed, strings);
///
/// let q = Query::new().filter(c.site_id.starts_with("north")).sort(c.score.desc());
/// assert_eq!(q.order_by, [("score".to_string(), Order::Desc)]);
/// ```
///
/// What does not compile: a column the struct does not have, a value of another type,
/// a text operator on a column that is not text, `is_null` on a column that cannot be
/// null.
///
/// ```compile_fail
/// # #[derive(sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Inspection { id: String, site_id: String, #[version] version: Option<String> }
/// let f = Inspection::columns().site_id.eq(5); // `siteId` is text
/// ```
///
/// ```compile_fail
/// # #[derive(sync_derive::Syncable)]
/// # #[sync(crate = "sync_core")]
/// # struct Inspection { id: String, score: i64, #[version] version: Option<String> }
/// let f = Inspection::columns().score.starts_with("1"); // not a text column
/// ```
///
/// Comparisons take anything that is an [`IntoOperand<T>`]: a `T`, a `&T`, a `&str` for
/// a text column. Each builds a [`Filter`] on the column's wire name, with the value as
/// [`SyncValue::to_value`] stores it, and follows the comparison semantics of
/// [`Filter`] (a `Null` column matches no comparison). A hand-written
/// [`Syncable`](crate::Syncable) implementation can make its own handles with
/// [`TypedColumn::new`].
pub struct TypedColumn<R, T, N = NotNull> {
    name: &'static str,
    _marker: Marker<R, T, N>,
}

/// A handle holds no `R`, `T` or `N`: `fn() -> ...` keeps it `Send`, `Sync` and free of
/// their auto traits and drop checks, whatever they are.
type Marker<R, T, N> = PhantomData<fn() -> (R, T, N)>;

impl<R, T, N> TypedColumn<R, T, N> {
    /// A handle on the column `name` (its wire name, as the table's schema spells it).
    /// The name is checked when a query, count or pull uses the filter, as a string's
    /// would be: prefer the handles `#[derive(Syncable)]` generates.
    ///
    /// ```
    /// use sync_core::store::{Filter, TypedColumn};
    /// struct Note;
    /// const TITLE: TypedColumn<Note, String> = TypedColumn::new("title");
    /// assert_eq!(TITLE.eq("x"), Filter::eq("title", "x"));
    /// ```
    pub const fn new(name: &'static str) -> Self {
        TypedColumn {
            name,
            _marker: PhantomData,
        }
    }

    /// The column's wire name.
    ///
    /// ```
    /// # #[derive(sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, due_date: Option<chrono::NaiveDate>, #[version] version: Option<String> }
    /// assert_eq!(Todo::columns().due_date.name(), "dueDate");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Sorts smallest first (`Null` first), for [`Query::sort`](super::Query::sort).
    ///
    /// ```
    /// use sync_core::store::{Order, Query};
    /// # #[derive(sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// let q = Query::new().sort(Todo::columns().text.asc());
    /// assert_eq!(q, Query::new().order_by("text", Order::Asc));
    /// ```
    pub fn asc(&self) -> SortKey {
        SortKey::new(self.name, Order::Asc)
    }

    /// Sorts largest first (`Null` last), for [`Query::sort`](super::Query::sort).
    ///
    /// ```
    /// use sync_core::store::{Order, Query};
    /// # #[derive(sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
    /// let q = Query::new().sort(Todo::columns().updated_at.desc());
    /// assert_eq!(q, Query::new().order_by("updatedAt", Order::Desc));
    /// ```
    pub fn desc(&self) -> SortKey {
        SortKey::new(self.name, Order::Desc)
    }
}

macro_rules! typed_cmp {
    ($($(#[$doc:meta])* $name:ident => $op:ident),*) => {$(
        $(#[$doc])*
        pub fn $name(&self, value: impl IntoOperand<T>) -> Filter {
            Filter::cmp(self.name, CmpOp::$op, value.into_operand().to_value())
        }
    )*};
}

impl<R, T: SyncValue, N> TypedColumn<R, T, N> {
    typed_cmp!(
        /// `column = value`.
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
        /// let text = String::from("milk");
        /// assert_eq!(Todo::columns().text.eq(&text), Filter::eq("text", "milk"));
        /// ```
        eq => Eq,
        /// `column <> value` (a `Null` column matches neither `eq` nor `ne`).
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, done: bool, #[version] version: Option<String> }
        /// assert_eq!(Todo::columns().done.ne(true), Filter::ne("done", true));
        /// ```
        ne => Ne,
        /// `column < value`.
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Reading { id: String, celsius: f64, #[version] version: Option<String> }
        /// assert_eq!(Reading::columns().celsius.lt(-5), Filter::lt("celsius", -5.0));
        /// ```
        lt => Lt,
        /// `column <= value`.
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, priority: u8, #[version] version: Option<String> }
        /// assert_eq!(Todo::columns().priority.le(2), Filter::le("priority", 2i64));
        /// ```
        le => Le,
        /// `column > value`.
        ///
        /// ```
        /// use chrono::NaiveDate;
        /// use sync_core::{Value, store::Filter};
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, due: Option<NaiveDate>, #[version] version: Option<String> }
        /// let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        /// assert_eq!(Todo::columns().due.gt(day), Filter::gt("due", Value::Date(day)));
        /// ```
        gt => Gt,
        /// `column >= value`.
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, score: i64, #[version] version: Option<String> }
        /// assert_eq!(Todo::columns().score.ge(10), Filter::ge("score", 10i64));
        /// ```
        ge => Ge
    );
}

impl<R, T: SyncValue> TypedColumn<R, T, Nullable> {
    /// The column is `Null` (the field is `None`).
    ///
    /// ```
    /// use sync_core::store::Filter;
    /// # #[derive(sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, note: Option<String>, #[version] version: Option<String> }
    /// assert_eq!(Todo::columns().note.is_null(), Filter::is_null("note"));
    /// ```
    pub fn is_null(&self) -> Filter {
        Filter::is_null(self.name)
    }

    /// The column is not `Null` (the field is `Some`).
    ///
    /// ```
    /// use sync_core::store::Filter;
    /// # #[derive(sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, note: Option<String>, #[version] version: Option<String> }
    /// assert_eq!(Todo::columns().note.is_not_null(), !Filter::is_null("note"));
    /// ```
    pub fn is_not_null(&self) -> Filter {
        !Filter::is_null(self.name)
    }
}

macro_rules! text_cmp {
    ($($(#[$doc:meta])* $name:ident => $op:ident),*) => {$(
        $(#[$doc])*
        pub fn $name(&self, text: impl Into<String>) -> Filter {
            Filter::cmp(self.name, CmpOp::$op, text.into())
        }
    )*};
}

/// The text operators, only on `String` columns (and `Option<String>` ones).
impl<R, N> TypedColumn<R, String, N> {
    text_cmp!(
        /// The text starts with `text` (case-sensitive; `%` and `_` are plain characters).
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
        /// assert_eq!(Todo::columns().text.starts_with("buy"), Filter::starts_with("text", "buy"));
        /// ```
        starts_with => StartsWith,
        /// The text ends with `text` (case-sensitive).
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, text: String, #[version] version: Option<String> }
        /// assert_eq!(Todo::columns().text.ends_with("!"), Filter::ends_with("text", "!"));
        /// ```
        ends_with => EndsWith,
        /// The text contains `text` (case-sensitive).
        ///
        /// ```
        /// use sync_core::store::Filter;
        /// # #[derive(sync_derive::Syncable)]
        /// # #[sync(crate = "sync_core")]
        /// # struct Todo { id: String, note: Option<String>, #[version] version: Option<String> }
        /// assert_eq!(Todo::columns().note.contains("gate"), Filter::contains("note", "gate"));
        /// ```
        contains => Contains
    );
}

// Not derived: the derives would require `R: Clone`, `T: Debug`, ... of types that are
// only markers here.
impl<R, T, N> Clone for TypedColumn<R, T, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, T, N> Copy for TypedColumn<R, T, N> {}

impl<R, T, N> fmt::Debug for TypedColumn<R, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TypedColumn").field(&self.name).finish()
    }
}

impl<R, T, N> PartialEq for TypedColumn<R, T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<R, T, N> Eq for TypedColumn<R, T, N> {}

/// A value that a column of `T`s can be compared with: a `T`, a `&T`, a `&str` or
/// `&String` for a `String` column, an `i32` for an `f64` column and an `i16` for an
/// `f32` one (so that `celsius.gt(5)` reads as written).
///
/// Deliberately narrower than `Into<T>`: every integer type converts into `i64`, and
/// with several candidates an integer literal would fall back to `i32` and fail for a
/// `u32` column. Here an untyped literal has one candidate, the column's own type.
///
/// ```
/// use sync_core::store::IntoOperand;
/// assert_eq!(IntoOperand::<String>::into_operand("s1"), "s1");
/// assert_eq!(IntoOperand::<f64>::into_operand(3), 3.0);
/// ```
#[diagnostic::on_unimplemented(
    message = "a column of `{T}` cannot be compared with a `{Self}`",
    label = "expected a `{T}` (or a `&{T}`)",
    note = "a column handle compares with its field's type (the inner type for an `Option` field); a text column also takes `&str`"
)]
pub trait IntoOperand<T> {
    /// The value to compare with.
    fn into_operand(self) -> T;
}

impl<T> IntoOperand<T> for T {
    fn into_operand(self) -> T {
        self
    }
}

impl<T: Clone> IntoOperand<T> for &T {
    fn into_operand(self) -> T {
        self.clone()
    }
}

impl IntoOperand<String> for &str {
    fn into_operand(self) -> String {
        self.to_owned()
    }
}

impl IntoOperand<f64> for i32 {
    fn into_operand(self) -> f64 {
        f64::from(self)
    }
}

impl IntoOperand<f32> for i16 {
    fn into_operand(self) -> f32 {
        f32::from(self)
    }
}

/// One sort key of a [`Query`](super::Query): a column and a direction. Made by a
/// typed column's [`asc`](TypedColumn::asc) or [`desc`](TypedColumn::desc), or from a
/// name.
///
/// ```
/// use sync_core::store::{Order, SortKey};
/// let key = SortKey::new("dueDate", Order::Desc);
/// assert_eq!((key.column.as_str(), key.order), ("dueDate", Order::Desc));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The column's wire name.
    pub column: String,
    /// The direction.
    pub order: Order,
}

impl SortKey {
    /// A sort key on `column`.
    pub fn new(column: impl Into<String>, order: Order) -> SortKey {
        SortKey {
            column: column.into(),
            order,
        }
    }
}
