//! Query options: `$filter` text from a [`Filter`], the keyset condition of incremental
//! pulls, and the query string of one page request.
//!
//! Text functions use the names the protocol's servers know: `startswith`, `endswith`
//! and `substringof('needle', column)`. Strings are single-quoted with `''` for a quote;
//! instants are `datetimeoffset'...'` in the server's exact `.sssZ` form.

use sync_core::Value;
use sync_core::model::instant;
use sync_core::store::{CmpOp, Filter, Watermark};
use sync_core::transport::PullRequest;

use super::WireError;

/// A string literal: single quotes, a quote doubled.
///
/// ```
/// assert_eq!(sync_http::wire::odata::quote("it's"), "'it''s'");
/// ```
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A value as an OData literal.
///
/// ```
/// use sync_core::Value;
/// use sync_http::wire::odata::literal;
/// assert_eq!(literal(&Value::Integer(-3)).unwrap(), "-3");
/// assert_eq!(literal(&Value::Bool(true)).unwrap(), "true");
/// assert_eq!(literal(&Value::Null).unwrap(), "null");
/// assert_eq!(literal(&Value::Date("2026-12-01".parse().unwrap())).unwrap(), "datetimeoffset'2026-12-01T00:00:00.000Z'");
/// assert!(literal(&Value::Real(f64::NAN)).is_err());
/// ```
pub fn literal(value: &Value) -> Result<String, WireError> {
    Ok(match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) if f.is_finite() => {
            let s = format!("{f:?}");
            // `1e300` is fine in OData; make sure an integral real still reads as a real.
            if s.contains(['.', 'e', 'E']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        Value::Real(f) => return Err(WireError::new(format!("{f} has no OData literal"))),
        Value::Text(s) => quote(s),
        Value::Date(d) => format!("datetimeoffset'{}'", instant::date_to_wire(d)),
        Value::DateTime(t) => format!("datetimeoffset'{}'", instant::to_wire(t)),
        Value::Blob(_) | Value::Json(_) => {
            return Err(WireError::new(format!(
                "a {} value cannot be filtered on",
                value.kind()
            )));
        }
    })
}

fn column(name: &str) -> Result<&str, WireError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(WireError::new(format!("`{name}` is not a column name")))
    }
}

/// A filter as `$filter` text.
///
/// ```
/// use sync_core::store::Filter;
/// use sync_http::wire::odata::filter_to_odata;
/// let f = Filter::eq("complete", false).and(Filter::contains("text", "O'Neil").or(!Filter::is_null("dueDate")));
/// assert_eq!(
///     filter_to_odata(&f).unwrap(),
///     "((complete eq false) and (substringof('O''Neil',text) or not (dueDate eq null)))"
/// );
/// ```
pub fn filter_to_odata(filter: &Filter) -> Result<String, WireError> {
    Ok(match filter {
        Filter::Cmp {
            column: c,
            op,
            value,
        } => {
            let c = column(c)?;
            match op {
                CmpOp::StartsWith | CmpOp::EndsWith | CmpOp::Contains => {
                    let Value::Text(s) = value else {
                        return Err(WireError::new(format!("`{c}`: text functions take text")));
                    };
                    match op {
                        CmpOp::StartsWith => format!("startswith({c},{})", quote(s)),
                        CmpOp::EndsWith => format!("endswith({c},{})", quote(s)),
                        _ => format!("substringof({},{c})", quote(s)),
                    }
                }
                _ => {
                    let op = match op {
                        CmpOp::Eq => "eq",
                        CmpOp::Ne => "ne",
                        CmpOp::Lt => "lt",
                        CmpOp::Le => "le",
                        CmpOp::Gt => "gt",
                        _ => "ge",
                    };
                    format!("({c} {op} {})", literal(value)?)
                }
            }
        }
        Filter::IsNull(c) => format!("({} eq null)", column(c)?),
        Filter::And(v) if v.is_empty() => "true".into(),
        Filter::Or(v) if v.is_empty() => "false".into(),
        Filter::And(v) => join(v, " and ")?,
        Filter::Or(v) => join(v, " or ")?,
        Filter::Not(f) => format!("not {}", filter_to_odata(f)?),
    })
}

fn join(parts: &[Filter], sep: &str) -> Result<String, WireError> {
    let parts = parts
        .iter()
        .map(filter_to_odata)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("({})", parts.join(sep)))
}

/// The keyset condition "after this watermark" in `(updatedAt, id)` order.
///
/// ```
/// use sync_core::store::Watermark;
/// let w = Watermark { updated_at: "2026-11-21T12:50:52.847Z".into(), id: "a'1".into() };
/// assert_eq!(
///     sync_http::wire::odata::keyset(&w),
///     "((updatedAt gt datetimeoffset'2026-11-21T12:50:52.847Z') or (updatedAt eq datetimeoffset'2026-11-21T12:50:52.847Z' and id gt 'a''1'))"
/// );
/// ```
pub fn keyset(after: &Watermark) -> String {
    let t = quote(&after.updated_at);
    format!(
        "((updatedAt gt datetimeoffset{t}) or (updatedAt eq datetimeoffset{t} and id gt {}))",
        quote(&after.id)
    )
}

/// The query parameters of one page request (names unencoded; the HTTP client encodes).
///
/// ```
/// use sync_core::store::Filter;
/// use sync_core::transport::PullRequest;
/// let mut r = PullRequest::new(100);
/// r.filter = Some(Filter::eq("complete", false));
/// let q = sync_http::wire::odata::page_query(&r).unwrap();
/// assert_eq!(q, [
///     ("$filter".to_string(), "(complete eq false)".to_string()),
///     ("$orderby".to_string(), "updatedAt,id".to_string()),
///     ("$top".to_string(), "100".to_string()),
///     ("__includeDeleted".to_string(), "true".to_string()),
/// ]);
/// ```
pub fn page_query(request: &PullRequest) -> Result<Vec<(String, String)>, WireError> {
    let mut conditions = Vec::new();
    if let Some(after) = &request.after {
        conditions.push(keyset(after));
    }
    if let Some(f) = &request.filter {
        conditions.push(filter_to_odata(f)?);
    }
    let mut q = Vec::new();
    if !conditions.is_empty() {
        q.push(("$filter".to_owned(), conditions.join(" and ")));
    }
    q.push(("$orderby".to_owned(), "updatedAt,id".to_owned()));
    q.push(("$top".to_owned(), request.page_size.to_string()));
    if request.include_deleted {
        // The reference includes deleted rows for any non-empty value: send it only
        // when wanted.
        q.push(("__includeDeleted".to_owned(), "true".to_owned()));
    }
    Ok(q)
}
