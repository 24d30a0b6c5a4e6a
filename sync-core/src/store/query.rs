//! Local queries: a [`Filter`] tree, ordering and paging, evaluated by each store.
//!
//! Semantics every store keeps (the conformance suite checks them):
//! - comparisons follow SQL: a `Null` column matches no comparison; compare with
//!   [`Filter::is_null`] instead (`eq`/`ne` against `Value::Null` mean is-null/is-not-null);
//! - integers and reals compare numerically, text byte-wise (UTF-8), dates and instants
//!   chronologically, bools as `false < true`;
//! - `starts_with`, `ends_with` and `contains` are case-sensitive and treat `%` and `_`
//!   as plain characters;
//! - ordering puts `Null` first when ascending, and rows equal on every key come in `id`
//!   order, so results are deterministic.

use std::cmp::Ordering;
use std::ops::Not;

use crate::model::{Record, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// Text starts with the value.
    StartsWith,
    /// Text ends with the value.
    EndsWith,
    /// Text contains the value.
    Contains,
}

/// A condition on a table's columns, named by their wire names.
///
/// For a derived type, build filters from its typed column handles
/// (`Todo::columns().due_date.is_null()`, see [`TypedColumn`](super::TypedColumn)): they
/// make the same `Filter`, and a wrong column or value type does not compile. A name
/// given as a string is checked when a query, count or pull uses the filter.
///
/// ```
/// use sync_core::store::Filter;
/// let f = Filter::eq("complete", false).and(Filter::starts_with("text", "buy").or(Filter::is_null("dueDate")));
/// assert!(matches!(f, Filter::And(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `column op value`.
    Cmp {
        /// The column.
        column: String,
        /// The operator.
        op: CmpOp,
        /// The value compared with.
        value: Value,
    },
    /// The column is `Null`.
    IsNull(String),
    /// All of these (true when empty).
    And(Vec<Filter>),
    /// Any of these (false when empty).
    Or(Vec<Filter>),
    /// Not this.
    Not(Box<Filter>),
}

macro_rules! cmp_ctor {
    ($($(#[$doc:meta])* $name:ident => $op:ident),*) => {$(
        $(#[$doc])*
        pub fn $name(column: impl Into<String>, value: impl Into<Value>) -> Filter {
            Filter::cmp(column, CmpOp::$op, value)
        }
    )*};
}

impl Filter {
    /// `column op value`.
    pub fn cmp(column: impl Into<String>, op: CmpOp, value: impl Into<Value>) -> Filter {
        Filter::Cmp {
            column: column.into(),
            op,
            value: value.into(),
        }
    }

    cmp_ctor!(
        /// `column = value` (`Null`: is null).
        eq => Eq,
        /// `column <> value` (`Null`: is not null).
        ne => Ne,
        /// `column < value`.
        lt => Lt,
        /// `column <= value`.
        le => Le,
        /// `column > value`.
        gt => Gt,
        /// `column >= value`.
        ge => Ge,
        /// Text column starts with the value (case-sensitive).
        starts_with => StartsWith,
        /// Text column ends with the value (case-sensitive).
        ends_with => EndsWith,
        /// Text column contains the value (case-sensitive).
        contains => Contains
    );

    /// The column is `Null`.
    pub fn is_null(column: impl Into<String>) -> Filter {
        Filter::IsNull(column.into())
    }

    /// Both conditions.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut v) => {
                v.push(other);
                Filter::And(v)
            }
            f => Filter::And(vec![f, other]),
        }
    }

    /// Either condition.
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut v) => {
                v.push(other);
                Filter::Or(v)
            }
            f => Filter::Or(vec![f, other]),
        }
    }

    /// Every column name the filter mentions (for validation against a schema).
    ///
    /// ```
    /// use sync_core::store::Filter;
    /// let f = Filter::eq("a", 1i64).or(!Filter::is_null("b"));
    /// assert_eq!(f.columns(), ["a", "b"]);
    /// ```
    pub fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_columns(&mut out);
        out
    }

    /// Whether a record matches, by the semantics in the module docs. Values are compared
    /// as they are: stores coerce filter values to their columns' types first.
    ///
    /// ```
    /// use sync_core::{store::Filter, Record};
    /// let mut r = Record::new();
    /// r.set("n", 3i64);
    /// assert!(Filter::gt("n", 2.5).matches(&r));
    /// assert!(!Filter::ne("missing", 1i64).matches(&r)); // Null matches no comparison
    /// ```
    pub fn matches(&self, record: &Record) -> bool {
        eval3(self, record) == Some(true)
    }

    fn collect_columns<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::Cmp { column, .. } | Filter::IsNull(column) => out.push(column),
            Filter::And(v) | Filter::Or(v) => v.iter().for_each(|f| f.collect_columns(out)),
            Filter::Not(f) => f.collect_columns(out),
        }
    }
}

impl Not for Filter {
    type Output = Filter;
    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// Smallest first (`Null` first).
    Asc,
    /// Largest first (`Null` last).
    Desc,
}

/// A query over one table: filter, order, paging.
///
/// ```
/// use sync_core::store::{Filter, Order, Query};
/// let q = Query::new().filter(Filter::eq("complete", false)).order_by("text", Order::Asc).limit(20).offset(40);
/// assert_eq!((q.limit, q.offset), (Some(20), 40));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Rows must match this (all rows when `None`).
    pub filter: Option<Filter>,
    /// Sort keys, most significant first; `id` ascending is always the last tie-breaker.
    pub order_by: Vec<(String, Order)>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Skip this many rows first.
    pub offset: u64,
}

impl Query {
    /// All rows, in id order.
    pub fn new() -> Query {
        Query::default()
    }

    /// Sets the filter, and-ed with any filter already set.
    pub fn filter(mut self, filter: Filter) -> Query {
        self.filter = Some(match self.filter.take() {
            Some(f) => f.and(filter),
            None => filter,
        });
        self
    }

    /// Adds a sort key by column name.
    pub fn order_by(mut self, column: impl Into<String>, order: Order) -> Query {
        self.order_by.push((column.into(), order));
        self
    }

    /// Adds a sort key made by a typed column's [`asc`](super::TypedColumn::asc) or
    /// [`desc`](super::TypedColumn::desc) (the same key as [`order_by`](Query::order_by)
    /// with its name).
    ///
    /// ```
    /// use sync_core::store::{Order, Query};
    /// # #[derive(sync_derive::Syncable)]
    /// # #[sync(crate = "sync_core")]
    /// # struct Todo { id: String, text: String, complete: bool, #[version] version: Option<String> }
    /// let c = Todo::columns();
    /// let q = Query::new().filter(c.complete.eq(false)).sort(c.text.asc()).sort(c.id.desc());
    /// assert_eq!(q.order_by, [("text".to_string(), Order::Asc), ("id".to_string(), Order::Desc)]);
    /// ```
    pub fn sort(mut self, key: super::SortKey) -> Query {
        self.order_by.push((key.column, key.order));
        self
    }

    /// Caps the number of rows.
    pub fn limit(mut self, n: u64) -> Query {
        self.limit = Some(n);
        self
    }

    /// Skips rows.
    pub fn offset(mut self, n: u64) -> Query {
        self.offset = n;
        self
    }
}

/// SQL's three-valued logic: `None` is unknown (a comparison with `Null`).
fn eval3(f: &Filter, r: &Record) -> Option<bool> {
    match f {
        Filter::Cmp { column, op, value } => {
            let v = r.get(column).unwrap_or(&Value::Null);
            match (op, value) {
                (CmpOp::Eq, Value::Null) => Some(v.is_null()),
                (CmpOp::Ne, Value::Null) => Some(!v.is_null()),
                _ if v.is_null() || value.is_null() => None,
                (CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Contains, _) => match (v, value) {
                    (Value::Text(s), Value::Text(p)) => Some(match op {
                        CmpOp::StartsWith => s.starts_with(p.as_str()),
                        CmpOp::EndsWith => s.ends_with(p.as_str()),
                        _ => s.contains(p.as_str()),
                    }),
                    _ => Some(false),
                },
                _ => {
                    let ord = compare(v, value)?;
                    Some(match op {
                        CmpOp::Eq => ord == Ordering::Equal,
                        CmpOp::Ne => ord != Ordering::Equal,
                        CmpOp::Lt => ord == Ordering::Less,
                        CmpOp::Le => ord != Ordering::Greater,
                        CmpOp::Gt => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    })
                }
            }
        }
        Filter::IsNull(c) => Some(r.get(c).is_none_or(Value::is_null)),
        Filter::And(v) => {
            let mut unknown = false;
            for f in v {
                match eval3(f, r) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        Filter::Or(v) => {
            let mut unknown = false;
            for f in v {
                match eval3(f, r) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Filter::Not(f) => eval3(f, r).map(|b| !b),
    }
}

/// Orders two non-null values of comparable kinds.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::Real(x), Value::Real(y)) => x.partial_cmp(y),
        (Value::Integer(x), Value::Real(y)) => (*x as f64).partial_cmp(y),
        (Value::Real(x), Value::Integer(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Text(x), Value::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Blob(x), Value::Blob(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(y)),
        (Value::Json(x), Value::Json(y)) => Some(x.to_string().cmp(&y.to_string())),
        _ => None,
    }
}

/// Total order for sorting: `Null` first, then by value.
pub(crate) fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => compare(a, b).unwrap_or(Ordering::Equal),
    }
}
