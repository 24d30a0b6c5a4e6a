//! Answers as the engine needs them: a row checked against its ETag and the id asked
//! for, a refusal as a [`TransportError`] in the category the engine acts on, and the
//! next link a page's headers give. The rows themselves are read by [`super::decode`].

use std::fmt::Display;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use sync_core::transport::TransportError;
use sync_core::{Record, TableSchema, Value};

use super::decode;
use super::send::Reply;
use crate::wire::ErrorBody;
use crate::wire::etag::etag_version;

fn malformed(message: String) -> TransportError {
    TransportError::Malformed { message }
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
    let record = decode::row(&reply.body, table, schema, what, |other| {
        format!(
            "expected a JSON object (a row), got {}",
            decode::kind(other)
        )
    })?;
    with_etag(record, &reply.headers, what)
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
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            match retry_after(reply) {
                Some(retry_after) => TransportError::Throttled {
                    status: status.as_u16(),
                    message: message(reply),
                    retry_after,
                },
                None => TransportError::Server {
                    status: status.as_u16(),
                    message: message(reply),
                },
            }
        }
        _ => TransportError::Server {
            status: status.as_u16(),
            message: message(reply),
        },
    }
}

/// The wait a refusal's `Retry-After` asks for, capped at an hour (a server cannot
/// park a client for longer).
fn retry_after(reply: &Reply) -> Option<std::time::Duration> {
    let header = reply.headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    super::retry::parse_retry_after(header, chrono::Utc::now())
        .map(|d| d.min(std::time::Duration::from_secs(3600)))
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

/// The body as the server's copy of a row, when it is one: a row with an `updatedAt`.
fn server_row(
    reply: &Reply,
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl Display + ?Sized),
) -> Option<Record> {
    let record = row(reply, table, schema, what).ok()?;
    record
        .get("updatedAt")
        .is_some_and(|v| !v.is_null())
        .then_some(record)
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
}
