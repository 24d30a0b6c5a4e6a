//! Answers as the engine needs them: a row checked against its ETag, a page of rows, or
//! a [`TransportError`] in the category the engine acts on.

use std::fmt::Display;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::Value as Json;
use sync_core::transport::TransportError;
use sync_core::{Record, TableSchema, Value};

use super::send::Reply;
use crate::wire::ErrorBody;
use crate::wire::etag::etag_version;
use crate::wire::json::{Object, record_from_json};

fn malformed(message: String) -> TransportError {
    TransportError::Malformed { message }
}

/// What a JSON value is, for messages.
fn kind(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the bool {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// The start of a body that is not JSON, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "an empty body".into();
    }
    let mut cut: String = text.chars().take(120).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// The body as JSON.
pub(crate) fn json(body: &[u8], what: &(impl Display + ?Sized)) -> Result<Json, TransportError> {
    serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "{what}: the body is not JSON ({e}): {}",
            excerpt(body)
        ))
    })
}

/// A JSON object as a row of `table`; it must have a text `id`.
pub(crate) fn row_from_object(
    table: &str,
    obj: Object,
    schema: Option<&TableSchema>,
    what: &(impl Display + ?Sized),
) -> Result<Record, TransportError> {
    let record =
        record_from_json(table, obj, schema).map_err(|e| malformed(format!("{what}: {e}")))?;
    check_id(&record, what)?;
    Ok(record)
}

/// A row must have a non-empty text `id`.
pub(crate) fn check_id(
    record: &Record,
    what: &(impl Display + ?Sized),
) -> Result<(), TransportError> {
    if record.id().is_none_or(str::is_empty) {
        return Err(malformed(format!("{what}: the row has no text `id`")));
    }
    Ok(())
}

/// A single-row answer: the row, its version checked against a strong `ETag`.
///
/// Microsoft's clients copy the `ETag` over the body's `version`, so a server whose
/// strong ETag names another version is telling two stories: refuse the answer rather
/// than guess. A weak ETag (`W/"..."`) is a web framework's body hash, not a version.
pub(crate) fn row(
    reply: &Reply,
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl Display + ?Sized),
) -> Result<Record, TransportError> {
    // A well-formed row straight into a record; anything else the general way, which
    // says what was wrong.
    match super::page::row(&reply.body, table, schema) {
        Some(record) => {
            check_id(&record, what)?;
            with_etag(record, &reply.headers, what)
        }
        None => row_with_etag(
            json(&reply.body, what)?,
            &reply.headers,
            table,
            schema,
            what,
        ),
    }
}

fn row_with_etag(
    body: Json,
    headers: &HeaderMap,
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl Display + ?Sized),
) -> Result<Record, TransportError> {
    let obj = match body {
        Json::Object(obj) => obj,
        other => {
            return Err(malformed(format!(
                "{what}: expected a JSON object (a row), got {}",
                kind(&other)
            )));
        }
    };
    with_etag(row_from_object(table, obj, schema, what)?, headers, what)
}

/// A row checked against the answer's ETag, or given its version when it has none.
fn with_etag(
    mut record: Record,
    headers: &HeaderMap,
    what: &(impl Display + ?Sized),
) -> Result<Record, TransportError> {
    let etag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .and_then(etag_version);
    if let Some(etag) = etag {
        match record.version() {
            Some(v) if v == etag => {}
            // A row without a body version takes the ETag's, as Microsoft's clients do.
            None if matches!(record.get("version"), None | Some(Value::Null)) => {
                record.set("version", etag);
            }
            other => {
                return Err(malformed(format!(
                    "{what}: the ETag says version {etag:?} but the body says {:?}",
                    other.unwrap_or("")
                )));
            }
        }
    }
    Ok(record)
}

/// A refused request as the engine's error.
///
/// 412 carries the server's row. A 409 carries it only when the body is a server row
/// (it has `updatedAt`): the reference server echoes the *request* on a 409, which
/// must not pass for the server's copy, so the engine fetches the real one.
pub(crate) fn refusal(
    reply: &Reply,
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl Display + ?Sized),
) -> TransportError {
    let status = reply.status;
    match status {
        StatusCode::PRECONDITION_FAILED => TransportError::PreconditionFailed {
            server_copy: server_row(reply, table, schema, what),
        },
        StatusCode::CONFLICT => TransportError::Conflict {
            server_copy: server_row(reply, table, schema, what),
        },
        StatusCode::NOT_FOUND => TransportError::NotFound,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => TransportError::Unauthorized {
            status: status.as_u16(),
            message: message(reply),
        },
        _ => TransportError::Server {
            status: status.as_u16(),
            message: message(reply),
        },
    }
}

/// A single-row answer must be about the row asked for. A row with another id (from a
/// confused proxy or cache, or a buggy server) would otherwise be stored by the engine
/// as the server's copy of an item it is not, and the operation dropped as done.
pub(crate) fn of_item(
    row: Record,
    id: Option<&str>,
    what: &(impl std::fmt::Display + ?Sized),
) -> Result<Record, TransportError> {
    match id {
        Some(asked) if row.id() != Some(asked) => Err(TransportError::Malformed {
            message: format!(
                "{what}: the answer is about row {:?}, not {asked:?}",
                row.id().unwrap_or_default()
            ),
        }),
        _ => Ok(row),
    }
}

/// A refusal whose server copy (409/412) is about another row carries no server copy:
/// the engine then reads the item itself, as after the reference server's 409.
pub(crate) fn refused(
    reply: &Reply,
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl std::fmt::Display + ?Sized),
    id: Option<&str>,
) -> TransportError {
    let mut e = refusal(reply, table, schema, what);
    if let TransportError::PreconditionFailed { server_copy }
    | TransportError::Conflict { server_copy } = &mut e
        && let Some(asked) = id
        && server_copy.as_ref().is_some_and(|c| c.id() != Some(asked))
    {
        *server_copy = None;
    }
    e
}

/// The body as the server's copy of a row, when it is one.
fn server_row(
    reply: &Reply,
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl Display + ?Sized),
) -> Option<Record> {
    match serde_json::from_slice(&reply.body).ok()? {
        Json::Object(obj) if obj.get("updatedAt").is_some_and(|v| !v.is_null()) => {
            row_with_etag(Json::Object(obj), &reply.headers, table, schema, what).ok()
        }
        _ => None,
    }
}

/// The server's message: the JSON error body's `error`, else the text, else the reason.
fn message(reply: &Reply) -> String {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(&reply.body) {
        return body.error;
    }
    let text = String::from_utf8_lossy(&reply.body);
    let text = text.trim();
    if text.is_empty() {
        return reply
            .status
            .canonical_reason()
            .unwrap_or("no message")
            .to_owned();
    }
    let mut cut: String = text.chars().take(500).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// A list answer: its rows, and the next link an object body may give.
pub(crate) struct List {
    pub rows: Vec<Object>,
    pub next_link: Option<String>,
}

/// A list body: a bare array, or `{"results": [...], "count": N}` (with `$inlinecount`),
/// perhaps with `nextLink` / `@odata.nextLink`.
pub(crate) fn list(body: &[u8], what: &(impl Display + ?Sized)) -> Result<List, TransportError> {
    let shape = "expected a JSON array or {results: [...]}";
    let (items, next_link) = match json(body, what)? {
        Json::Array(items) => (items, None),
        Json::Object(mut obj) => {
            let next_link = ["nextLink", "@odata.nextLink"]
                .iter()
                .find_map(|k| obj.get(*k).and_then(Json::as_str).map(str::to_owned));
            match obj.remove("results") {
                Some(Json::Array(items)) => (items, next_link),
                Some(other) => {
                    return Err(malformed(format!(
                        "{what}: {shape}, got an object whose `results` is {}",
                        kind(&other)
                    )));
                }
                None => {
                    return Err(malformed(format!(
                        "{what}: {shape}, got an object without `results`"
                    )));
                }
            }
        }
        other => return Err(malformed(format!("{what}: {shape}, got {}", kind(&other)))),
    };
    let rows = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Json::Object(obj) => Ok(obj),
            other => Err(malformed(format!(
                "{what}: item {i} is {}, expected an object (a row)",
                kind(&other)
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(List { rows, next_link })
}

/// The target of `rel=next` in `Link` headers, as written.
pub(crate) fn link_next(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(next_in_link)
}

/// `<url>; rel=next` in one `Link` value (which may list several links).
fn next_in_link(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
        let params = &after[close + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &after[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_name_their_next_target() {
        assert_eq!(
            next_in_link("<http://h/tables/T?$skip=2>; rel=next").as_deref(),
            Some("http://h/tables/T?$skip=2")
        );
        assert_eq!(
            next_in_link(r#"<http://h/a>; rel="prev", <http://h/b>; rel="next last""#).as_deref(),
            Some("http://h/b")
        );
        assert_eq!(next_in_link("<http://h/a>; rel=prev"), None);
        assert_eq!(next_in_link("garbage"), None);
        assert_eq!(next_in_link("<unclosed; rel=next"), None);
    }

    #[test]
    fn list_bodies_name_what_is_wrong() {
        let e = list(br#"{"count": 3}"#, "GET /tables/Todo page")
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "malformed response: GET /tables/Todo page: expected a JSON array or {results: [...]}, got an object without `results`"
        );
        let e = list(b"[1]", "p").err().unwrap();
        assert!(e.to_string().contains("item 0 is the number 1"), "{e}");
        let l = list(br#"{"results": [], "count": 0, "nextLink": "x"}"#, "p").unwrap();
        assert_eq!((l.rows.len(), l.next_link.as_deref()), (0, Some("x")));
    }
}
