//! Query options of a list request: the query string in, a [`TableQuery`] out.
//!
//! `$filter` goes through [`parse_filter`] into a [`Filter`] tree; `$orderby`,
//! `$top`, `$skip`, `$select`, `$inlinecount` and `__includeDeleted` are read here. Names
//! may be percent-encoded (`%24filter`). The backends compile the result to SQL.
//!
//! `__includeDeleted` includes soft-deleted rows only when its value is `true` (any
//! case). The reference server includes them for any non-empty value; a client that
//! sends `__includeDeleted=false` means "no", so ours reads it that way.

mod filter;

pub use filter::{
    DEFAULT_MAX_FILTER_DEPTH, DEFAULT_MAX_FILTER_TERMS, FilterError, FilterLimits, parse_filter,
    parse_filter_with,
};

use sync_core::store::{Filter, Order};
use sync_http::wire::{DEFAULT_PAGE_SIZE, INCLUDE_DELETED};

/// What a list request asks for.
///
/// ```
/// use sync_server::query::TableQuery;
/// let q = TableQuery::parse("%24filter=done%20eq%20false&$orderby=updatedAt,id&$top=10", 1000).unwrap();
/// assert_eq!(q.top, 10);
/// assert_eq!(q.order_by.len(), 2);
/// assert!(q.filter.is_some() && !q.include_deleted && !q.count);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TableQuery {
    /// `$filter`, parsed.
    pub filter: Option<Filter>,
    /// `$orderby`: columns with their directions, most significant first.
    pub order_by: Vec<(String, Order)>,
    /// `$top`: at most this many rows (default 50).
    pub top: u64,
    /// `$skip`: rows skipped first.
    pub skip: u64,
    /// `$select`: only these columns (plus `deleted`, which every row carries).
    pub select: Option<Vec<String>>,
    /// `$inlinecount=allpages`: the answer carries the total count.
    pub count: bool,
    /// `__includeDeleted=true`: soft-deleted rows are included.
    pub include_deleted: bool,
}

/// A query option that cannot be honoured.
///
/// ```
/// let e = sync_server::query::TableQuery::parse("$top=5000", 1000).unwrap_err();
/// assert_eq!(e.to_string(), "$top: 5000 is above the maximum page size 1000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `$filter` does not parse.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// Any other option is malformed.
    #[error("{0}")]
    Invalid(String),
}

fn is_column_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl TableQuery {
    /// Reads the options of a raw (still percent-encoded) query string, with the
    /// default [`FilterLimits`]. Unknown parameters are ignored, as the reference server
    /// does.
    pub fn parse(raw_query: &str, max_page_size: u64) -> Result<TableQuery, QueryError> {
        TableQuery::parse_with(raw_query, max_page_size, &FilterLimits::default())
    }

    /// [`TableQuery::parse`] with a `$filter` bounded by `limits`.
    ///
    /// ```
    /// use sync_server::query::{FilterLimits, TableQuery};
    /// let limits = FilterLimits { max_terms: 1, max_depth: 8 };
    /// assert!(TableQuery::parse_with("$filter=a eq 1", 50, &limits).is_ok());
    /// assert!(TableQuery::parse_with("$filter=a eq 1 and b eq 2", 50, &limits).is_err());
    /// ```
    pub fn parse_with(
        raw_query: &str,
        max_page_size: u64,
        limits: &FilterLimits,
    ) -> Result<TableQuery, QueryError> {
        let mut q = TableQuery {
            filter: None,
            order_by: Vec::new(),
            top: u64::from(DEFAULT_PAGE_SIZE).min(max_page_size),
            skip: 0,
            select: None,
            count: false,
            include_deleted: false,
        };
        let invalid = |s: String| QueryError::Invalid(s);
        for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
            match name.as_ref() {
                "$filter" => q.filter = Some(parse_filter_with(&value, limits)?),
                "$orderby" => q.order_by = parse_order_by(&value)?,
                "$top" => {
                    let top: u64 = value.trim().parse().map_err(|_| {
                        invalid(format!("$top: `{value}` is not a non-negative integer"))
                    })?;
                    if top > max_page_size {
                        return Err(invalid(format!(
                            "$top: {top} is above the maximum page size {max_page_size}"
                        )));
                    }
                    q.top = top;
                }
                "$skip" => {
                    q.skip = value.trim().parse().map_err(|_| {
                        invalid(format!("$skip: `{value}` is not a non-negative integer"))
                    })?;
                    // Both backends take a signed 64-bit offset.
                    if q.skip > i64::MAX as u64 {
                        return Err(invalid(format!("$skip: {value} is too large")));
                    }
                }
                "$select" => {
                    let cols: Vec<String> = value
                        .split(',')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .collect();
                    if let Some(bad) = cols.iter().find(|c| !is_column_name(c)) {
                        return Err(invalid(format!("$select: `{bad}` is not a column name")));
                    }
                    q.select = Some(cols);
                }
                "$inlinecount" => match value.as_ref() {
                    "allpages" => q.count = true,
                    "none" => q.count = false,
                    other => {
                        return Err(invalid(format!(
                            "$inlinecount: expected `allpages` or `none`, got `{other}`"
                        )));
                    }
                },
                n if n == INCLUDE_DELETED => {
                    q.include_deleted = value.eq_ignore_ascii_case("true");
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// `$orderby` text: `col [asc|desc], ...`.
///
/// ```
/// use sync_core::store::Order;
/// let o = sync_server::query::parse_order_by("updatedAt desc, id").unwrap();
/// assert_eq!(o, [("updatedAt".to_string(), Order::Desc), ("id".to_string(), Order::Asc)]);
/// ```
pub fn parse_order_by(text: &str) -> Result<Vec<(String, Order)>, QueryError> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let mut words = part.split_whitespace();
        let Some(col) = words.next() else {
            return Err(QueryError::Invalid(format!(
                "$orderby: empty column in `{text}`"
            )));
        };
        if !is_column_name(col) {
            return Err(QueryError::Invalid(format!(
                "$orderby: `{col}` is not a column name"
            )));
        }
        let dir = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => Order::Asc,
            Some("desc") => Order::Desc,
            Some(other) => {
                return Err(QueryError::Invalid(format!(
                    "$orderby: expected `asc` or `desc` after `{col}`, got `{other}`"
                )));
            }
        };
        if let Some(extra) = words.next() {
            return Err(QueryError::Invalid(format!(
                "$orderby: unexpected `{extra}` after `{col}`"
            )));
        }
        out.push((col.to_owned(), dir));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_caps() {
        let q = TableQuery::parse("", 1000).unwrap();
        assert_eq!(
            (q.top, q.skip, q.count, q.include_deleted),
            (50, 0, false, false)
        );
        assert_eq!(TableQuery::parse("", 20).unwrap().top, 20);
        assert!(TableQuery::parse("$top=1000", 1000).is_ok());
        assert!(TableQuery::parse("$top=1001", 1000).is_err());
        assert!(TableQuery::parse("$top=-1", 1000).is_err());
        assert!(TableQuery::parse("$skip=x", 1000).is_err());
        assert!(TableQuery::parse("$inlinecount=some", 1000).is_err());
    }

    #[test]
    fn include_deleted_only_for_true() {
        for (v, want) in [
            ("true", true),
            ("True", true),
            ("false", false),
            ("1", false),
        ] {
            let q = TableQuery::parse(&format!("__includeDeleted={v}"), 10).unwrap();
            assert_eq!(q.include_deleted, want, "{v}");
        }
    }

    #[test]
    fn encoded_names_and_plus_signs() {
        let q = TableQuery::parse(
            "%24filter=d%20gt%20datetimeoffset'2026-01-01T02%3A00%3A00%2B02%3A00'&%24select=a,b",
            10,
        )
        .unwrap();
        assert!(q.filter.is_some());
        assert_eq!(q.select, Some(vec!["a".to_string(), "b".to_string()]));
    }
}
