//! The change feed, part of the `tablesync` extension v1 (see `EXTENSION.md`): one
//! long-lived answer in the Server-Sent Events format (`text/event-stream`) that tells
//! a client, for the tables it asked about, that rows past its watermark may exist.
//!
//! The server writes [`poke_event`]s and [`HEARTBEAT`] comments; a client reads them
//! with an [`EventReader`], which takes the bytes as they arrive and gives whole events
//! only, with every line bounded (a hostile server cannot make it buffer without
//! limit).
//!
//! ```
//! use sync_http::wire::feed::{EventReader, Sse, poke_event};
//! let mut reader = EventReader::new(1024);
//! let mut out = Vec::new();
//! let mut bytes = poke_event("Todo", Some("e1.7"));
//! bytes.extend_from_slice(sync_http::wire::feed::HEARTBEAT);
//! reader.push(&bytes, &mut out).unwrap();
//! assert_eq!(out[0].poke_table().as_deref(), Some("Todo"));
//! assert_eq!(out[0], Sse { event: "poke".into(), data: "{\"table\":\"Todo\"}".into(), id: Some("e1.7".into()) });
//! assert_eq!(out.len(), 1, "a heartbeat is no event");
//! ```

use serde::{Deserialize, Serialize};

/// The route: `GET {FEED_PATH}?tables=A,B` opens a feed about tables `A` and `B`.
pub const FEED_PATH: &str = "/tablesync/v1/feed";
/// The answer's content type.
pub const CONTENT_TYPE: &str = "text/event-stream";
/// The query parameter naming the tables, comma-separated.
pub const TABLES_PARAM: &str = "tables";
/// The header a client resumes with (the SSE standard's).
pub const LAST_EVENT_ID: &str = "Last-Event-ID";
/// The event type of a poke.
pub const POKE: &str = "poke";
/// A heartbeat: an SSE comment, which no client takes for an event.
pub const HEARTBEAT: &[u8] = b": heartbeat\n\n";
/// What the server writes first, so that a client knows at once the feed is open.
pub const OPENED: &[u8] = b": tablesync feed\n\n";

/// The feed's bounds, in the discovery answer.
///
/// ```
/// let f: sync_http::wire::feed::FeedLimits =
///     serde_json::from_str(r#"{"heartbeat_seconds":15,"max_tables":100}"#).unwrap();
/// assert_eq!((f.heartbeat_seconds, f.max_tables), (15, 100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedLimits {
    /// The server writes a heartbeat at least this often: a feed silent for several
    /// of these is dead.
    pub heartbeat_seconds: u64,
    /// The most tables one feed may ask about.
    pub max_tables: u64,
}

/// A poke's `data`.
///
/// ```
/// let d: sync_http::wire::feed::PokeData = serde_json::from_str(r#"{"table":"Todo"}"#).unwrap();
/// assert_eq!(d.table, "Todo");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PokeData {
    /// The table, as the client named it.
    pub table: String,
}

/// One poke event, with its `id` line when given.
///
/// ```
/// let e = sync_http::wire::feed::poke_event("Todo", Some("a.1"));
/// assert_eq!(e, b"event: poke\ndata: {\"table\":\"Todo\"}\nid: a.1\n\n");
/// ```
pub fn poke_event(table: &str, id: Option<&str>) -> Vec<u8> {
    let data = PokeData {
        table: table.to_owned(),
    };
    // A string field: serializing cannot fail, and JSON text has no raw newline.
    let json = serde_json::to_string(&data).unwrap_or_default();
    let mut out = format!("event: {POKE}\ndata: {json}\n").into_bytes();
    if let Some(id) = id {
        out.extend_from_slice(format!("id: {id}\n").as_bytes());
    }
    out.push(b'\n');
    out
}

/// One event as an [`EventReader`] gives it.
///
/// ```
/// let e = sync_http::wire::feed::Sse { event: "poke".into(), data: r#"{"table":"A"}"#.into(), id: None };
/// assert_eq!(e.poke_table().as_deref(), Some("A"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sse {
    /// The `event` field (`message` when absent, as the standard says).
    pub event: String,
    /// The `data` lines, joined by `\n`.
    pub data: String,
    /// This event's `id` field, when it had one.
    pub id: Option<String>,
}

impl Sse {
    /// The table a poke names; `None` for another event or a `data` that is not a
    /// poke's.
    pub fn poke_table(&self) -> Option<String> {
        if self.event != POKE {
            return None;
        }
        serde_json::from_str::<PokeData>(&self.data)
            .ok()
            .map(|d| d.table)
    }
}

/// A line or an event past the reader's bound.
///
/// ```
/// let mut r = sync_http::wire::feed::EventReader::new(8);
/// let e = r.push(b"data: far too long", &mut Vec::new()).unwrap_err();
/// assert_eq!(e.to_string(), "the feed sent a line or event longer than 8 bytes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the feed sent a line or event longer than {limit} bytes")]
pub struct TooLong {
    /// The bound.
    pub limit: usize,
}

/// Reads an event stream as its bytes arrive: lines end with `\n` (a `\r` before it
/// is dropped), an empty line ends an event, `:` lines are comments, and unknown
/// fields are ignored, as the SSE standard says. A line, and an event's data, is at
/// most `max` bytes.
///
/// ```
/// use sync_http::wire::feed::EventReader;
/// let mut reader = EventReader::new(1024);
/// let mut out = Vec::new();
/// reader.push(b"event: poke\ndata: {\"table\":\"A\"}\n", &mut out).unwrap();
/// assert!(out.is_empty(), "not ended yet");
/// reader.push(b"\n", &mut out).unwrap();
/// assert_eq!(out[0].poke_table().as_deref(), Some("A"));
/// ```
#[derive(Debug)]
pub struct EventReader {
    max: usize,
    line: Vec<u8>,
    event: String,
    data: String,
    id: Option<String>,
    has_data: bool,
}

impl EventReader {
    /// A reader whose lines and events are at most `max` bytes.
    pub fn new(max: usize) -> EventReader {
        EventReader {
            max,
            line: Vec::new(),
            event: String::new(),
            data: String::new(),
            id: None,
            has_data: false,
        }
    }

    /// Takes bytes; every event they complete is appended to `out`. See the module
    /// example.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Sse>) -> Result<(), TooLong> {
        let mut rest = bytes;
        while let Some(n) = rest.iter().position(|&b| b == b'\n') {
            if self.line.len() + n > self.max {
                return Err(TooLong { limit: self.max });
            }
            self.line.extend_from_slice(&rest[..n]);
            rest = &rest[n + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.field(&line, out)?;
        }
        if self.line.len() + rest.len() > self.max {
            return Err(TooLong { limit: self.max });
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    fn field(&mut self, line: &[u8], out: &mut Vec<Sse>) -> Result<(), TooLong> {
        if line.is_empty() {
            if self.has_data || !self.event.is_empty() || self.id.is_some() {
                let event = std::mem::take(&mut self.event);
                out.push(Sse {
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        event
                    },
                    data: std::mem::take(&mut self.data),
                    id: self.id.take(),
                });
            }
            self.has_data = false;
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let text = String::from_utf8_lossy(line);
        let (name, value) = match text.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match name {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    return Err(TooLong { limit: self.max });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // The standard ignores an id holding NUL.
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], max: usize) -> Result<Vec<Sse>, TooLong> {
        let mut r = EventReader::new(max);
        let mut out = Vec::new();
        // Byte by byte: an event cut anywhere is still read whole.
        for b in bytes {
            r.push(std::slice::from_ref(b), &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn events_are_whole_whatever_the_cuts_and_comments_are_not_events() {
        let mut bytes = OPENED.to_vec();
        bytes.extend(poke_event("A", None));
        bytes.extend(HEARTBEAT);
        bytes.extend(b"event: poke\r\ndata: {\"table\":\"B\"}\r\nid: x.2\r\nretry: 5\r\n\r\n");
        bytes.extend(b"data: half an event, never ended\n");
        let out = read(&bytes, 256).unwrap();
        let tables: Vec<_> = out.iter().map(|e| e.poke_table()).collect();
        assert_eq!(tables, [Some("A".into()), Some("B".into())]);
        assert_eq!(out[0].id, None);
        assert_eq!(out[1].id.as_deref(), Some("x.2"));
    }

    #[test]
    fn a_line_or_an_event_past_the_bound_is_refused() {
        assert_eq!(read(&[b'x'; 100], 64), Err(TooLong { limit: 64 }));
        let mut r = EventReader::new(64);
        assert!(r.push(&[b'x'; 65], &mut Vec::new()).is_err(), "in one push");
        // Many short data lines make one long event.
        let many = b"data: 0123456789\n".repeat(10);
        assert_eq!(read(&many, 64), Err(TooLong { limit: 64 }));
    }

    #[test]
    fn other_events_are_no_pokes() {
        let out = read(
            b"data: {\"table\":\"A\"}\n\nevent: poke\ndata: nope\n\n",
            64,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].event, "message");
        assert!(out.iter().all(|e| e.poke_table().is_none()));
    }
}
