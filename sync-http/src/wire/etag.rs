//! Versions on the wire: a single-row answer carries `ETag: "<version>"` (strong,
//! quoted, equal to the body's `version`); a conditional write carries
//! `If-Match: "<version>"` (quotes optional). Weak ETags (`W/"..."`) are made by web
//! frameworks for lists and errors: they are not row versions and are ignored.

/// The `ETag` header value for a version.
///
/// ```
/// assert_eq!(sync_http::wire::etag::to_etag("MQ=="), "\"MQ==\"");
/// ```
pub fn to_etag(version: &str) -> String {
    let mut etag = String::with_capacity(version.len() + 2);
    etag.push('"');
    etag.push_str(version);
    etag.push('"');
    etag
}

/// The version in an `ETag` header; `None` for a weak or malformed one.
///
/// ```
/// use sync_http::wire::etag::from_etag;
/// assert_eq!(from_etag("\"MQ==\"").as_deref(), Some("MQ=="));
/// assert_eq!(from_etag("W/\"1a-xyz\""), None);
/// assert_eq!(from_etag("\"\""), None);
/// assert_eq!(from_etag("unquoted"), None);
/// ```
pub fn from_etag(header: &str) -> Option<String> {
    etag_version(header).map(str::to_owned)
}

/// [`from_etag`], borrowed from the header.
pub(crate) fn etag_version(header: &str) -> Option<&str> {
    let inner = header.trim().strip_prefix('"')?.strip_suffix('"')?;
    (!inner.is_empty() && !inner.contains('"')).then_some(inner)
}

/// The `If-Match` header value for a version.
///
/// ```
/// assert_eq!(sync_http::wire::etag::if_match("v3"), "\"v3\"");
/// ```
pub fn if_match(version: &str) -> String {
    to_etag(version)
}

/// The version an `If-Match` header asks for (quotes optional). `*` is not a wildcard
/// on the reference server: it names a version no row has.
///
/// ```
/// use sync_http::wire::etag::parse_if_match;
/// assert_eq!(parse_if_match("\"v3\"").as_deref(), Some("v3"));
/// assert_eq!(parse_if_match("v3").as_deref(), Some("v3"));
/// assert_eq!(parse_if_match("*").as_deref(), Some("*"));
/// assert_eq!(parse_if_match("  "), None);
/// ```
pub fn parse_if_match(header: &str) -> Option<String> {
    let h = header.trim();
    let inner = h.strip_prefix("W/").unwrap_or(h).trim_matches('"');
    (!inner.is_empty()).then(|| inner.to_owned())
}
