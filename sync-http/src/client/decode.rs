//! The client's one JSON decoder: an answer body read into records of a table, for
//! every answer that carries rows — a page of a pull, the row of a single answer or of
//! a batch result, a line of a streamed pull.
//!
//! A page of a thousand rows read as a `serde_json::Value` first builds a thousand
//! ordered maps only to take them apart again; here each row's columns go from the
//! parser into a [`Record`] one by one ([`RowSeed`]), each value decoded exactly as
//! [`record_from_json`] decodes it.
//!
//! Only a well-formed body takes that path. At the first thing that is not — a body
//! that is not JSON, a shape that is not a list, an item that is not an object, a
//! column named twice, a value that does not fit its column — the direct read stops
//! and the body is read again the general way (a JSON value, then
//! [`record_from_json`]), whose error names what was wrong. Errors are rare and a body
//! is small, and so one decoder says what every error message is.
//!
//! A page holds at most the rows it asked for: past them the direct read only counts
//! the remaining items (skipping them unparsed), and the general read counts them
//! before decoding any row, so a server ignoring `$top` costs no more than that many
//! records (the body itself is bounded by the transport's response limit).

use std::fmt::{self, Display};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use sync_core::transport::TransportError;
use sync_core::{Record, TableSchema};

use crate::wire::json::{Object, column_from_json, record_from_json};

fn malformed(message: String) -> TransportError {
    TransportError::Malformed { message }
}

/// A body that must be one row (a JSON object) as a row of `table`, with a text `id`.
/// A body that is JSON but not an object is refused with `not_a_row`'s words about
/// the value it is.
pub(crate) fn row(
    body: &[u8],
    table: &str,
    schema: Option<&TableSchema>,
    what: &(impl Display + ?Sized),
    not_a_row: impl FnOnce(&Json) -> String,
) -> Result<Record, TransportError> {
    if let Some(record) = direct_row(body, table, schema) {
        check_id(&record, what)?;
        return Ok(record);
    }
    match json(body, what)? {
        Json::Object(obj) => row_from_object(table, obj, schema, what),
        other => Err(malformed(format!("{what}: {}", not_a_row(&other)))),
    }
}

/// A list body (a bare array, or `{"results": [...]}` with perhaps `nextLink` or
/// `@odata.nextLink`) as rows of `table`, each with a text `id` and passed through
/// `check` in order; and the next link the body gives. More than `max_rows` rows is
/// [`TransportError::PageTooLong`].
pub(crate) fn rows<T>(
    body: &[u8],
    table: &str,
    schema: Option<&TableSchema>,
    what: &str,
    max_rows: usize,
    mut check: impl FnMut(Record) -> Result<T, TransportError>,
) -> Result<(Vec<T>, Option<String>), TransportError> {
    let Some(page) = direct_page(body, table, schema, max_rows) else {
        return general_rows(body, table, schema, what, max_rows, check);
    };
    if page.beyond > 0 {
        return Err(too_long(max_rows, max_rows + page.beyond, what));
    }
    // Every row decoded: the first one `check` refuses is the first error, as in the
    // general read.
    let rows = page
        .records
        .into_iter()
        .map(|record| {
            check_id(&record, what)?;
            check(record)
        })
        .collect::<Result<_, _>>()?;
    Ok((rows, page.next_link))
}

fn too_long(asked: usize, got: usize, what: &str) -> TransportError {
    TransportError::PageTooLong {
        asked: asked as u64,
        got: got as u64,
        message: what.to_owned(),
    }
}

/// A row must have a non-empty text `id`.
fn check_id(record: &Record, what: &(impl Display + ?Sized)) -> Result<(), TransportError> {
    if record.id().is_none_or(str::is_empty) {
        return Err(malformed(format!("{what}: the row has no text `id`")));
    }
    Ok(())
}

/// What a JSON value is, for messages.
pub(crate) fn kind(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the bool {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// A well-formed page's rows (up to `max_rows`, the others counted) and next link;
/// `None` for anything else.
fn direct_page(
    body: &[u8],
    table: &str,
    schema: Option<&TableSchema>,
    max_rows: usize,
) -> Option<Page> {
    whole(
        body,
        PageSeed {
            table,
            schema,
            max_rows,
        },
    )
}

/// A well-formed single-row body (an object) as a record; `None` for anything else.
fn direct_row(body: &[u8], table: &str, schema: Option<&TableSchema>) -> Option<Record> {
    whole(body, RowSeed { table, schema })
}

/// The whole body read by `seed`; `None` if the seed stops or anything follows.
fn whole<'de, T: DeserializeSeed<'de>>(body: &'de [u8], seed: T) -> Option<T::Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
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

/// The general way, first step: the body as a JSON value.
fn json(body: &[u8], what: &(impl Display + ?Sized)) -> Result<Json, TransportError> {
    serde_json::from_slice(body).map_err(|e| {
        malformed(format!(
            "{what}: the body is not JSON ({e}): {}",
            excerpt(body)
        ))
    })
}

/// The general way for one row: a JSON object as a row of `table` with a text `id`.
fn row_from_object(
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

/// The general way for a page: the body as JSON, then its shape and length, then each
/// row in turn.
fn general_rows<T>(
    body: &[u8],
    table: &str,
    schema: Option<&TableSchema>,
    what: &str,
    max_rows: usize,
    mut check: impl FnMut(Record) -> Result<T, TransportError>,
) -> Result<(Vec<T>, Option<String>), TransportError> {
    let list = list(body, what)?;
    if list.rows.len() > max_rows {
        return Err(too_long(max_rows, list.rows.len(), what));
    }
    let rows = list
        .rows
        .into_iter()
        .map(|obj| check(row_from_object(table, obj, schema, what)?))
        .collect::<Result<_, _>>()?;
    Ok((rows, list.next_link))
}

/// A list answer: its rows, and the next link an object body may give.
struct List {
    rows: Vec<Object>,
    next_link: Option<String>,
}

/// A list body: a bare array, or `{"results": [...], "count": N}` (with `$inlinecount`),
/// perhaps with `nextLink` / `@odata.nextLink`.
fn list(body: &[u8], what: &(impl Display + ?Sized)) -> Result<List, TransportError> {
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

/// What the direct read makes of a page.
struct Page {
    records: Vec<Record>,
    /// Items past the rows asked for, counted, not read.
    beyond: usize,
    next_link: Option<String>,
}

/// Stops the direct read; the general read finds out what was wrong.
fn stop<E: de::Error>() -> E {
    E::custom("not a well-formed page")
}

/// The whole body.
struct PageSeed<'a> {
    table: &'a str,
    schema: Option<&'a TableSchema>,
    max_rows: usize,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Page;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Page, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Page;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array or {results: [...]}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Page, A::Error> {
        let (records, beyond) = RowsSeed {
            table: self.table,
            schema: self.schema,
            max_rows: self.max_rows,
        }
        .visit_seq(seq)?;
        Ok(Page {
            records,
            beyond,
            next_link: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page, A::Error> {
        let mut records = None;
        let (mut next_link, mut odata_next_link) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                // A key given twice: the general read decides which one counts.
                "results" if records.is_some() => return Err(stop()),
                "results" => {
                    records = Some(map.next_value_seed(RowsSeed {
                        table: self.table,
                        schema: self.schema,
                        max_rows: self.max_rows,
                    })?);
                }
                "nextLink" => next_link = Some(map.next_value::<Json>()?),
                "@odata.nextLink" => odata_next_link = Some(map.next_value::<Json>()?),
                // Read as JSON, not skipped: the general read would refuse what the
                // parser refuses there.
                _ => {
                    map.next_value::<Json>()?;
                }
            }
        }
        let next_link = [next_link, odata_next_link]
            .into_iter()
            .find_map(|link| match link {
                Some(Json::String(s)) => Some(s),
                _ => None,
            });
        let (records, beyond) = records.ok_or_else(stop)?;
        Ok(Page {
            records,
            beyond,
            next_link,
        })
    }
}

/// The array of rows: up to `max_rows` of them read, and how many items follow.
struct RowsSeed<'a> {
    table: &'a str,
    schema: Option<&'a TableSchema>,
    max_rows: usize,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = (Vec<Record>, usize);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = (Vec<Record>, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let room = seq.size_hint().unwrap_or(0).min(self.max_rows);
        let mut records = Vec::with_capacity(room);
        while records.len() < self.max_rows {
            match seq.next_element_seed(RowSeed {
                table: self.table,
                schema: self.schema,
            })? {
                Some(record) => records.push(record),
                None => return Ok((records, 0)),
            }
        }
        let mut beyond = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            beyond += 1;
        }
        Ok((records, beyond))
    }
}

/// One row.
struct RowSeed<'a> {
    table: &'a str,
    schema: Option<&'a TableSchema>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Record;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Record, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// Columns a row usually has: the five system columns and a few of the app's.
const USUAL_COLUMNS: usize = 12;

/// The room a row's record starts with: the five system columns and three of the
/// app's. Room for twelve is a block too large for glibc's per-thread cache (1032
/// bytes at most); room for eight is not, and saves about 400 instructions a row
/// (callgrind). A wider row grows its record once.
const ROW_ROOM: usize = 8;

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object (a row)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record::with_capacity(map.size_hint().unwrap_or(ROW_ROOM));
        // Names seen, once a row is wider than usual: a scan of the record per column
        // would make a hostile row of many columns cost their square.
        let mut seen: Option<std::collections::HashSet<String>> = None;
        while let Some(column) = map.next_key::<String>()? {
            let json = map.next_value::<Json>()?;
            let repeated = match &mut seen {
                Some(seen) => !seen.insert(column.clone()),
                None if record.len() < USUAL_COLUMNS * 4 => record.iter().any(|(c, _)| c == column),
                None => {
                    let names = seen.insert(record.iter().map(|(c, _)| c.to_owned()).collect());
                    !names.insert(column.clone())
                }
            };
            if repeated {
                return Err(stop());
            }
            let value =
                column_from_json(self.table, &column, json, self.schema).map_err(|_| stop())?;
            record.push(column, value);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::{ColumnType, Value};

    fn schema() -> TableSchema {
        TableSchema::new("Todo")
            .with_column("text", ColumnType::Text, true)
            .with_column("n", ColumnType::Integer, true)
            .with_column("due", ColumnType::Date, true)
    }

    /// What the pull asks of each row, in short: an `updatedAt`.
    fn check(record: Record) -> Result<Record, TransportError> {
        match record.get("updatedAt") {
            Some(Value::Text(_)) => Ok(record),
            _ => Err(TransportError::Malformed {
                message: format!("p: row {:?} has no `updatedAt`", record.id()),
            }),
        }
    }

    type Rows = (Vec<Record>, Option<String>);

    /// The direct read and the general read agree: the same rows, or the same error.
    fn agree(body: &str) -> Result<Rows, String> {
        agree_within(body, usize::MAX)
    }

    /// [`agree`], for a page of at most `max_rows` rows.
    fn agree_within(body: &str, max_rows: usize) -> Result<Rows, String> {
        let s = schema();
        let read = rows(body.as_bytes(), "Todo", Some(&s), "p", max_rows, check)
            .map_err(|e| e.to_string());
        let general = general_rows(body.as_bytes(), "Todo", Some(&s), "p", max_rows, check)
            .map_err(|e| e.to_string());
        assert_eq!(read, general, "{body}");
        read
    }

    const ROW: &str = r#"{"id": "a", "text": "x", "n": 3, "due": "2026-12-01T00:00:00.000Z", "updatedAt": "2026-11-21T12:50:52.847Z", "version": "MQ==", "deleted": false, "extra": [1]}"#;

    #[test]
    fn a_well_formed_page_becomes_typed_records() {
        let body = format!("[{ROW}, {}]", ROW.replace("\"a\"", "\"b\""));
        assert!(direct_page(body.as_bytes(), "Todo", Some(&schema()), usize::MAX).is_some());
        let (records, next_link) = agree(&body).unwrap();
        assert_eq!((records.len(), next_link), (2, None));
        let r = &records[0];
        assert_eq!(r.get("n"), Some(&Value::Integer(3)));
        assert_eq!(
            r.get("due"),
            Some(&Value::Date("2026-12-01".parse().unwrap()))
        );
        assert_eq!(
            r.get("updatedAt"),
            Some(&Value::from("2026-11-21T12:50:52.847Z"))
        );
        assert_eq!(r.get("extra"), Some(&Value::Json(serde_json::json!([1]))));
        assert_eq!(r.iter().next().map(|(c, _)| c), Some("id"));
        assert_eq!(records[1].id(), Some("b"));
    }

    #[test]
    fn an_object_body_gives_its_rows_and_next_link() {
        let (records, next_link) = agree(&format!(
            r#"{{"count": 1, "@odata.nextLink": "o", "results": [{ROW}], "nextLink": "n"}}"#
        ))
        .unwrap();
        assert_eq!((records.len(), next_link.as_deref()), (1, Some("n")));
        let (_, next_link) = agree(&format!(
            r#"{{"results": [{ROW}], "@odata.nextLink": "o"}}"#
        ))
        .unwrap();
        assert_eq!(next_link.as_deref(), Some("o"));
        assert_eq!(
            agree(r#"{"results": [], "nextLink": 3}"#).unwrap(),
            (vec![], None)
        );
        assert_eq!(agree("[]").unwrap(), (vec![], None));
        // A key given twice: the last one counts, as in a JSON value.
        let (records, _) =
            agree(r#"[{"id": "a", "id": "b", "updatedAt": "2026-11-21T12:50:52.847Z"}]"#).unwrap();
        assert_eq!(records[0].id(), Some("b"));
        assert_eq!(
            agree(r#"{"results": [1], "results": []}"#).unwrap(),
            (vec![], None)
        );
    }

    #[test]
    fn every_malformed_page_is_the_general_reads_error() {
        let bad = [
            "",
            "not json",
            "[",
            &format!("[{ROW}"),
            &format!("[{ROW}] trailing"),
            "{}",
            r#"{"count": 3}"#,
            r#"{"results": 3}"#,
            r#"{"results": [], "results": [1]}"#,
            "3",
            "null",
            r#""rows""#,
            "[1]",
            "[[]]",
            "[null]",
            &format!("[{ROW}, 2]"),
            "[{}]",
            r#"[{"id": ""}]"#,
            r#"[{"id": 7}]"#,
            r#"[{"id": true}]"#,
            r#"[{"id": "a"}]"#,
            r#"[{"id": "a", "updatedAt": null}]"#,
            r#"[{"id": "a", "updatedAt": "yesterday"}]"#,
            r#"[{"id": "a", "updatedAt": 5}]"#,
            r#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "n": "x"}]"#,
            r#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "n": 1.5}]"#,
            r#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "due": "soon"}]"#,
            r#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "deleted": "no"}]"#,
            r#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "version": 1}]"#,
            r#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "text": "x", "text": 1}]"#,
            r#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "text": "\ud800"}]"#,
            // The first row refused comes first, whatever the reason.
            &format!(r#"[{{"id": "a"}}, {{"id": ""}}, {ROW}]"#),
            &format!(r#"[{{"id": ""}}, {{"id": "a"}}, {ROW}]"#),
            &format!(r#"[{{"id": "a"}}, {{"id": "b", "n": "x"}}, {ROW}]"#),
        ];
        for body in bad {
            let e = agree(body).err();
            assert!(
                e.as_deref()
                    .is_some_and(|e| e.starts_with("malformed response: p: ")),
                "{body}: {e:?}"
            );
        }
    }

    #[test]
    fn a_page_longer_than_asked_for_is_too_long_unread_past_the_limit() {
        let row = |i: usize| ROW.replace("\"a\"", &format!("\"r{i}\""));
        let page = |n: usize| format!("[{}]", (0..n).map(row).collect::<Vec<_>>().join(", "));
        assert_eq!(agree_within(&page(3), 3).map(|(r, _)| r.len()), Ok(3));
        let too_long = "page too long: p: 5 rows, but at most 3 were asked for";
        assert_eq!(agree_within(&page(5), 3), Err(too_long.into()));
        assert_eq!(
            agree_within(
                &format!(r#"{{"results": {}, "nextLink": "n"}}"#, page(5)),
                3
            ),
            Err(too_long.into())
        );
        // Rows past the limit are not decoded: one that would be refused changes
        // nothing, and neither does a bad row within it (the general read counts first).
        let bad = r#"{"id": "x", "n": "not a number"}"#;
        for body in [
            format!("[{}, {}, {}, {}, {bad}]", row(0), row(1), row(2), row(3)),
            format!("[{bad}, {}, {}, {}, {}]", row(0), row(1), row(2), row(3)),
        ] {
            assert_eq!(agree_within(&body, 3), Err(too_long.into()), "{body}");
        }
        // Not a list at all is still what it was.
        assert!(
            agree_within("{}", 3)
                .unwrap_err()
                .starts_with("malformed response: p: ")
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_malformed() {
        let mut body =
            br#"[{"id": "a", "updatedAt": "2026-11-21T12:50:52.847Z", "text": ""#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}]"#);
        let e = rows(&body, "Todo", Some(&schema()), "p", 10, check).unwrap_err();
        assert!(e.to_string().contains("the body is not JSON"), "{e}");
    }

    #[test]
    fn a_single_row_read_directly_is_the_row_the_general_read_makes() {
        let s = schema();
        let general = |body: &str| -> Result<Record, String> {
            let obj = match serde_json::from_str::<Json>(body).map_err(|e| e.to_string())? {
                Json::Object(obj) => obj,
                other => return Err(format!("not an object: {other}")),
            };
            row_from_object("Todo", obj, Some(&s), "p").map_err(|e| e.to_string())
        };
        // Each body, and whether it is well-formed (read directly).
        let bodies = [
            (ROW.to_owned(), true),
            (ROW.replace("\"n\": 3", "\"n\": 3.0"), true),
            (r#"{"id": "a"}"#.to_owned(), true),
            (
                r#"{"id": "a", "text": null, "n": -9223372036854775808}"#.to_owned(),
                true,
            ),
            (
                r#"{"id": "a", "nested": {"x": [1, {"y": null}]}}"#.to_owned(),
                true,
            ),
            (r#"{"id": "a", "text": "x", "text": "y"}"#.to_owned(), false),
            (r#"{"id": "a", "n": "3"}"#.to_owned(), false),
            (r#"{"id": "a", "n": 1.5}"#.to_owned(), false),
            (r#"{"id": "a", "due": "soon"}"#.to_owned(), false),
            (r#"{"id": "a"} trailing"#.to_owned(), false),
            (r#"{"id": "a""#.to_owned(), false),
            (format!("[{ROW}]"), false),
            ("null".to_owned(), false),
            (String::new(), false),
        ];
        for (body, well_formed) in &bodies {
            let direct = direct_row(body.as_bytes(), "Todo", Some(&s));
            assert_eq!(direct.is_some(), *well_formed, "{body}");
            if let Some(record) = direct {
                assert_eq!(Ok(record), general(body), "{body}");
            }
        }
    }

    #[test]
    fn a_single_row_is_the_general_reads_row_or_error() {
        let s = schema();
        let not_a_row = |other: &Json| format!("not a row: {}", kind(other));
        let general = |body: &str| -> Result<Record, String> {
            match json(body.as_bytes(), "p").map_err(|e| e.to_string())? {
                Json::Object(obj) => {
                    row_from_object("Todo", obj, Some(&s), "p").map_err(|e| e.to_string())
                }
                other => Err(malformed(format!("p: {}", not_a_row(&other))).to_string()),
            }
        };
        for body in [
            ROW,
            r#"{"id": "a"}"#,
            r#"{"id": 7}"#,
            r#"{"id": "a", "id": "b"}"#,
            r#"{"id": "a", "text": "x", "text": 1}"#,
            r#"{"id": "a", "n": "3"}"#,
            r#"{"id": "a", "due": "soon"}"#,
            r#"{"id": "a", "updatedAt": "yesterday"}"#,
            r#"{"id": "a", "deleted": "no"}"#,
            r#"{"id": ""}"#,
            r#"{"id": true}"#,
            "{}",
            r#"{"id": "a"} trailing"#,
            r#"{"id": "a""#,
            "[]",
            "3",
            "null",
            r#""row""#,
            "",
            "not json",
        ] {
            let read =
                row(body.as_bytes(), "Todo", Some(&s), "p", not_a_row).map_err(|e| e.to_string());
            assert_eq!(read, general(body), "{body}");
        }
        let e = row(b"[1]", "Todo", Some(&s), "p", not_a_row).unwrap_err();
        assert_eq!(e.to_string(), "malformed response: p: not a row: an array");
    }

    #[test]
    fn a_wide_row_is_checked_for_repeated_columns_past_the_usual_width() {
        let s = schema();
        let wide = |repeat: Option<usize>| {
            let mut cols: Vec<String> = (0..2000).map(|i| format!("\"c{i}\": {i}")).collect();
            if let Some(i) = repeat {
                cols.push(format!("\"c{i}\": 0"));
            }
            format!("{{\"id\": \"a\", {}}}", cols.join(", "))
        };
        let body = wide(None);
        let record = direct_row(body.as_bytes(), "Todo", Some(&s)).expect("read directly");
        assert_eq!(record.len(), 2001);
        assert_eq!(record.get("c1999"), Some(&sync_core::Value::Integer(1999)));
        // A column named twice, early or late, leaves the row to the general read.
        for i in [3, 1500] {
            assert!(
                direct_row(wide(Some(i)).as_bytes(), "Todo", Some(&s)).is_none(),
                "c{i}"
            );
        }
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
