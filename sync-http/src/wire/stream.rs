//! Streamed pull, part of the `tablesync` extension v1 (see `EXTENSION.md`): the rows
//! of a keyset range in one answer, one JSON object per line (newline-delimited JSON),
//! ended by a control line that says whether more rows follow.
//!
//! A row line is exactly the object a page would carry. A control line is an object
//! whose one key starts with `@`, which no column name can (column names are letters,
//! digits and `_`): [`END`] closes every complete answer, so a client can tell an
//! answer cut short (by a proxy, a reset, a killed server) from a finished one; [`ERROR`]
//! closes one that failed after its rows began.
//!
//! ```
//! use sync_http::wire::stream::{Control, control, end_line};
//! assert_eq!(end_line(true), b"{\"@end\":{\"more\":true}}\n");
//! assert_eq!(control(b"{\"@end\":{\"more\":false}}").unwrap().unwrap(), Control::End { more: false });
//! assert!(control(b"{\"id\":\"a\"}").is_none(), "a row");
//! ```

use serde::{Deserialize, Serialize};

/// The route prefix: `GET {STREAM_PATH}/{table}` streams that table's rows.
pub const STREAM_PATH: &str = "/tablesync/v1/stream";
/// The answer's content type.
pub const CONTENT_TYPE: &str = "application/x-ndjson";
/// The key of the line that ends a complete answer.
pub const END: &str = "@end";
/// The key of the line that ends an answer that failed after its rows began.
pub const ERROR: &str = "@error";

/// The bounds of one streamed answer, in the discovery answer.
///
/// ```
/// let s: sync_http::wire::stream::StreamLimits = serde_json::from_str(r#"{"max_rows":100000}"#).unwrap();
/// assert_eq!((s.max_rows, s.count), (100_000, false), "a server that does not say cannot count");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamLimits {
    /// The most rows one answer carries; an answer that stops there says more follow.
    pub max_rows: u64,
    /// The server answers `$inlinecount=allpages` on a stream with a count line first
    /// ([`Control::Count`]).
    #[serde(default)]
    pub count: bool,
}

/// A control line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// `{"@end":{"more":...}}`: the answer is complete; `more` when it stopped at a
    /// bound with rows still to come (ask again after its last row).
    #[serde(rename = "@end")]
    End {
        /// Rows follow the last one sent.
        more: bool,
    },
    /// `{"@count":{"rows":...}}`: sent first when the request asked
    /// (`$inlinecount=allpages`): how many rows match the request from its start, so
    /// that a client can show a progress bar with a total.
    #[serde(rename = "@count")]
    Count {
        /// Rows matching the request (its filter, after its keyset start).
        rows: u64,
    },
    /// `{"@error":{"status":...,"message":...}}`: the answer failed after its rows
    /// began; `status` is what a single request failing so would have been answered.
    #[serde(rename = "@error")]
    Error {
        /// The status (a 5xx when asking again may succeed).
        status: u16,
        /// What went wrong.
        message: String,
    },
}

/// The end line, with its newline.
pub fn end_line(more: bool) -> Vec<u8> {
    line(&Control::End { more })
}

/// The count line, with its newline.
///
/// ```
/// let l = sync_http::wire::stream::count_line(100_000);
/// assert_eq!(l, b"{\"@count\":{\"rows\":100000}}\n");
/// ```
pub fn count_line(rows: u64) -> Vec<u8> {
    line(&Control::Count { rows })
}

/// The error line, with its newline.
///
/// ```
/// let l = sync_http::wire::stream::error_line(503, "busy");
/// assert_eq!(l, b"{\"@error\":{\"status\":503,\"message\":\"busy\"}}\n");
/// ```
pub fn error_line(status: u16, message: &str) -> Vec<u8> {
    line(&Control::Error {
        status,
        message: message.to_owned(),
    })
}

fn line(c: &Control) -> Vec<u8> {
    // A control value is two plain fields: serializing it cannot fail.
    let mut out = serde_json::to_vec(c).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}

/// The control a line holds; `None` when it is not a control line (a row). A line that
/// starts like one but is not a valid control is the parse error.
pub fn control(line: &[u8]) -> Option<Result<Control, serde_json::Error>> {
    let rest = line
        .trim_ascii_start()
        .strip_prefix(b"{")?
        .trim_ascii_start();
    rest.starts_with(b"\"@")
        .then(|| serde_json::from_slice(line))
}
