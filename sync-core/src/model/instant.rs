//! Instants (`DateTime<Utc>`) and dates (`NaiveDate`) as text: every form tablesync
//! reads and writes, in one place.
//!
//! | form | written by | read by | text |
//! |---|---|---|---|
//! | wire | [`to_wire`], [`millis_to_wire`] | [`parse`] | `2026-11-21T12:50:52.847Z`: UTC, milliseconds |
//! | RFC 3339 | apps, other servers | [`parse`] | anything chrono's RFC 3339 parser reads |
//! | filter literal | people | [`parse_lenient`] | RFC 3339, or without an offset (UTC) |
//! | stored | [`to_stored`] | [`parse_stored`] | `2026-11-21T12:50:52.847000000Z`: UTC, nine digits |
//! | date | [`date_to_stored`] | [`parse_date`], [`parse_stored_date`] | `2026-11-21` |
//! | date on the wire | [`date_to_wire`] | [`parse_date`] | midnight UTC in the wire form |
//!
//! The wire form is what the Azure table protocol's reference server stores and
//! returns; a client sends it and keeps the server's `updatedAt` text verbatim (a
//! watermark goes back exactly as it came), so comparing two such texts goes through
//! [`same`] and [`order`], which compare instants, not spellings. The stored form is
//! fixed width, so that a store's text order is time order (years 0 to 9999) and an
//! index on the text serves a range of instants.
//!
//! Every synced row carries two instants, so the common forms are read and written by
//! hand (chrono's general parser and formatter cost 2,500 to 4,000 instructions an
//! instant); everything else goes to chrono, so that what is accepted, and how, is
//! chrono's. The tests below hold the hand-written paths to chrono's answers.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};

/// The stored form, as a chrono format (the hand-written path writes the same bytes).
const STORED_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";

/// The wire form, as a chrono format.
const WIRE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// Dates as stored: ISO, so that text order is calendar order (years 0 to 9999).
const DATE_FORMAT: &str = "%Y-%m-%d";

/// The length of the stored form for years 0 to 9999.
const STORED_LEN: usize = 30;

/// Where the stored form holds which separator; digits everywhere else.
const STORED_SEPARATORS: [(usize, u8); 7] = [
    (4, b'-'),
    (7, b'-'),
    (10, b'T'),
    (13, b':'),
    (16, b':'),
    (19, b'.'),
    (29, b'Z'),
];

/// Parses an instant as the wire, servers and apps give it: RFC 3339 with any offset
/// (chrono's parser: `t` or a space for `T`, any number of fractional digits), into
/// UTC. A date alone is not an instant.
///
/// ```
/// use sync_core::model::instant;
/// let t = instant::parse("2026-11-21T12:50:52.847Z").unwrap();
/// assert_eq!(t.timestamp_millis(), 1_795_265_452_847);
/// assert_eq!(instant::parse("2026-11-21T14:50:52.847+02:00"), Some(t));
/// assert_eq!(instant::parse("2026-11-21"), None);
/// ```
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    utc_fast(s).or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// Parses an instant as a `$filter` literal may spell it: [`parse`]'s RFC 3339, or the
/// same without an offset (taken as UTC), the seconds optional.
///
/// ```
/// use sync_core::model::instant;
/// let t = instant::parse("2026-11-21T12:50:00Z");
/// assert_eq!(instant::parse_lenient("2026-11-21T12:50"), t);
/// assert_eq!(instant::parse_lenient("2026-11-21T12:50:00.000"), t);
/// assert_eq!(instant::parse("2026-11-21T12:50"), None);
/// assert_eq!(instant::parse_lenient("2026-11-21"), None);
/// ```
pub fn parse_lenient(s: &str) -> Option<DateTime<Utc>> {
    parse(s).or_else(|| {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .map(|t| t.and_utc())
    })
}

/// Parses the stored form back ([`to_stored`]'s text, and nothing looser: a store that
/// finds anything else in an instant column reports it as corrupt).
///
/// ```
/// use sync_core::model::instant;
/// let t = instant::parse_stored("2023-11-14T22:13:20.005000000Z").unwrap();
/// assert_eq!(t.timestamp_millis(), 1_700_000_000_005);
/// assert_eq!(instant::parse_stored("2023-11-14T22:13:20.005Z"), None);
/// ```
pub fn parse_stored(s: &str) -> Option<DateTime<Utc>> {
    // The hand-written reader takes the stored form's 30 bytes exactly; chrono the
    // rest (years beyond 9999, before 0, leap seconds).
    if s.len() == STORED_LEN
        && let Some(t) = utc_fast(s)
    {
        return Some(t);
    }
    NaiveDateTime::parse_from_str(s, STORED_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// `YYYY-MM-DDTHH:MM:SS[.f]Z` with one to nine fractional digits, or `None` (for
/// chrono to try).
fn utc_fast(s: &str) -> Option<DateTime<Utc>> {
    let (head, rest) = s.as_bytes().split_first_chunk::<19>()?;
    let (&z, fraction) = rest.split_last()?;
    if z != b'Z' {
        return None;
    }
    let fraction = match fraction {
        [] => fraction,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => digits,
        _ => return None,
    };
    if STORED_SEPARATORS[..5].iter().any(|&(at, c)| head[at] != c) {
        return None;
    }
    let nanos = digits(fraction)? * 10u32.pow(9 - fraction.len() as u32);
    let date = NaiveDate::from_ymd_opt(
        digits(&head[0..4])? as i32,
        digits(&head[5..7])?,
        digits(&head[8..10])?,
    )?;
    let time = date.and_hms_nano_opt(
        digits(&head[11..13])?,
        digits(&head[14..16])?,
        digits(&head[17..19])?,
        nanos,
    )?;
    Some(time.and_utc())
}

/// The number ASCII digits spell (at most nine of them), or `None` for a non-digit.
fn digits(d: &[u8]) -> Option<u32> {
    d.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// An instant in the wire form: UTC, milliseconds (digits below them dropped), `Z`.
///
/// ```
/// use sync_core::model::instant;
/// let t = instant::parse("2026-11-21T12:50:52.847123Z").unwrap();
/// assert_eq!(instant::to_wire(&t), "2026-11-21T12:50:52.847Z");
/// ```
pub fn to_wire(t: &DateTime<Utc>) -> String {
    fixed_text(t, 3).unwrap_or_else(|| t.format(WIRE_FORMAT).to_string())
}

/// Milliseconds since the epoch in the wire form (as a server keeps its timestamps);
/// milliseconds beyond chrono's range of years write the epoch.
///
/// ```
/// use sync_core::model::instant;
/// assert_eq!(instant::millis_to_wire(1500), "1970-01-01T00:00:01.500Z");
/// assert_eq!(instant::millis_to_wire(i64::MAX), "1970-01-01T00:00:00.000Z");
/// ```
pub fn millis_to_wire(ms: i64) -> String {
    let t = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    to_wire(&t)
}

/// Milliseconds since the epoch of what [`parse`] reads (digits below them dropped).
///
/// ```
/// use sync_core::model::instant;
/// assert_eq!(instant::parse_millis("1970-01-01T00:00:01.5009+00:00"), Some(1500));
/// assert_eq!(instant::parse_millis("yesterday"), None);
/// ```
pub fn parse_millis(s: &str) -> Option<i64> {
    parse(s).map(|t| t.timestamp_millis())
}

/// An instant in the stored form: UTC, always nine fractional digits, so that text
/// order is time order (years 0 to 9999; chrono spells the others, `+10000-...`).
///
/// ```
/// use sync_core::model::instant;
/// let t = instant::parse("2023-11-14T22:13:20Z").unwrap();
/// assert_eq!(instant::to_stored(&t), "2023-11-14T22:13:20.000000000Z");
/// ```
pub fn to_stored(t: &DateTime<Utc>) -> String {
    fixed_text(t, 9).unwrap_or_else(|| t.format(STORED_FORMAT).to_string())
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` with `fraction` digits (3 or 9: wire or stored), written by
/// hand for the years chrono writes in four digits; `None` for the rest and for leap
/// seconds (chrono writes those).
fn fixed_text(t: &DateTime<Utc>, fraction: usize) -> Option<String> {
    // The naive UTC time: `DateTime`'s own accessors apply the (zero) offset each time.
    let t = t.naive_utc();
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let mut out = [0u8; STORED_LEN];
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    put(17, 2, t.second());
    // Truncated, not rounded, as chrono's `%.3f` does.
    put(20, fraction, nanos / 10u32.pow(9 - fraction as u32));
    for (at, c) in &STORED_SEPARATORS[..6] {
        out[*at] = *c;
    }
    let len = 20 + fraction + 1;
    out[len - 1] = b'Z';
    // ASCII digits and separators: always UTF-8 (`ok()` rather than a panic all the same).
    String::from_utf8(out[..len].to_vec()).ok()
}

/// Parses a date as the wire and apps give it: `YYYY-MM-DD`, or an instant ([`parse`])
/// and its UTC date (servers keep dates as instants).
///
/// ```
/// use sync_core::model::instant;
/// let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 21);
/// assert_eq!(instant::parse_date("2026-11-21"), d);
/// assert_eq!(instant::parse_date("2026-11-21T00:00:00.000Z"), d);
/// assert_eq!(instant::parse_date("21.11.2026"), None);
/// ```
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    parse_stored_date(s).or_else(|| parse(s).map(|t| t.date_naive()))
}

/// Parses the stored form of a date back ([`date_to_stored`]'s `YYYY-MM-DD`).
///
/// ```
/// use sync_core::model::instant;
/// assert_eq!(instant::parse_stored_date("2026-02-28"), chrono::NaiveDate::from_ymd_opt(2026, 2, 28));
/// assert_eq!(instant::parse_stored_date("2026-02-29"), None);
/// ```
pub fn parse_stored_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, DATE_FORMAT).ok()
}

/// A date in the stored form: `YYYY-MM-DD`, so that text order is calendar order
/// (years 0 to 9999).
///
/// ```
/// use sync_core::model::instant;
/// let d = chrono::NaiveDate::from_ymd_opt(2026, 2, 8).unwrap();
/// assert_eq!(instant::date_to_stored(&d), "2026-02-08");
/// ```
pub fn date_to_stored(d: &NaiveDate) -> String {
    d.format(DATE_FORMAT).to_string()
}

/// A date in the wire form: its midnight UTC as an instant (the protocol has no dates).
///
/// ```
/// use sync_core::model::instant;
/// let d = chrono::NaiveDate::from_ymd_opt(2026, 2, 8).unwrap();
/// assert_eq!(instant::date_to_wire(&d), "2026-02-08T00:00:00.000Z");
/// ```
pub fn date_to_wire(d: &NaiveDate) -> String {
    to_wire(&d.and_time(NaiveTime::MIN).and_utc())
}

/// How two instant texts (a server's `updatedAt`) order: as instants when both parse
/// ([`parse`]), as text otherwise.
///
/// ```
/// use std::cmp::Ordering;
/// use sync_core::model::instant;
/// assert_eq!(instant::order("2026-11-21T12:00:00Z", "2026-11-21T13:00:00+02:00"), Ordering::Greater);
/// assert_eq!(instant::order("b", "a"), Ordering::Greater);
/// ```
pub fn order(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Whether two instant texts are one instant (equal text when either does not parse).
///
/// ```
/// use sync_core::model::instant;
/// assert!(instant::same("2026-11-21T12:50:52.800Z", "2026-11-21T12:50:52.8+00:00"));
/// assert!(!instant::same("2026-11-21T12:50:52.800Z", "2026-11-21T12:50:52.801Z"));
/// assert!(instant::same("soon", "soon"));
/// ```
pub fn same(a: &str, b: &str) -> bool {
    order(a, b) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::Scramble;

    fn chrono_rfc3339(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    fn chrono_stored(s: &str) -> Option<DateTime<Utc>> {
        NaiveDateTime::parse_from_str(s, STORED_FORMAT)
            .ok()
            .map(|t| t.and_utc())
    }

    #[test]
    fn parse_reads_what_chrono_reads() {
        let mut rng = Scramble::new();
        let mut texts: Vec<String> = [
            "2026-11-21T12:50:52.847Z",
            "2026-11-21T12:50:52Z",
            "2026-11-21T12:50:52.Z",
            "2026-11-21T12:50:52.1234567891Z",
            "2026-11-21t12:50:52.847z",
            "2026-11-21 12:50:52.847Z",
            "2026-11-21T12:50:52.847+02:00",
            "2016-12-31T23:59:60.500Z", // a leap second
            "2023-02-29T00:00:00Z",     // no such day
            "2023-11-14T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2026-1١-21T12:50:52Z",
            "",
            "2026-11-21T12:50:52.847Z",
            "0000-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2024-02-29T12:00:00.000Z",
            "2026-02-29T12:00:00.000Z",
            "2100-02-29T12:00:00.000Z",
            "2000-02-29T12:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-00-01T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
            "2026-01-32T00:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T23:60:00.000Z",
            "2026-01-01T23:59:60.000Z",
            "2026-01-01T23:59:60.999Z",
            "2026-01-01t00:00:00.000Z",
            "2026-01-01T00:00:00.000z",
            "2026-01-01 00:00:00.000Z",
            "2026-01-01T00:00:00.00Z",
            "2026-01-01T00:00:00.0000Z",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.000+00:00",
            "2026-01-01T00:00:00.000+01:30",
            "2026-1-01T00:00:00.0000Z",
            "+026-01-01T00:00:00.000Z",
            "2026-01-01T0a:00:00.000Z",
            "2026-01-01T00:00:00.-00Z",
            "2026-01-01T00:00:00.000ZZ",
            "2026-01-01T00:00:00.00éZ",
            "",
        ]
        .map(str::to_owned)
        .to_vec();
        for _ in 0..20_000 {
            let secs = (rng.number() % 253_402_300_800) as i64 - 62_167_219_200;
            let nanos = (rng.number() >> 34) as u32 % 1_000_000_000;
            let t = DateTime::from_timestamp(secs, nanos).expect("in range");
            let digits = (rng.number() % 10) as usize;
            let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if digits > 0 {
                text.push_str(&format!(".{:09}", nanos)[..=digits]);
            }
            text.push('Z');
            assert_eq!(parse(&text), chrono_rfc3339(&text), "{text}");
            assert!(parse(&text).is_some(), "{text}");
            // And a damaged copy: one byte replaced.
            texts.push(rng.damage(text));
        }
        for text in &texts {
            assert_eq!(parse(text), chrono_rfc3339(text), "{text:?}");
        }
    }

    #[test]
    fn parse_lenient_reads_offsetless_literals_as_utc() {
        let t = parse("2026-11-21T12:50:52.5Z");
        assert_eq!(parse_lenient("2026-11-21T12:50:52.5"), t);
        assert_eq!(parse_lenient("2026-11-21T12:50:52.5+00:00"), t);
        assert_eq!(
            parse_lenient("2026-11-21T12:50"),
            parse("2026-11-21T12:50:00Z")
        );
        for refused in [
            "2026-11-21",
            "2026-11-21T12",
            "noon",
            "2026-11-21T12:50:52.5Q",
        ] {
            assert_eq!(parse_lenient(refused), None, "{refused}");
        }
    }

    #[test]
    fn stored_form_is_fixed_width_so_text_order_is_time_order() {
        let a = DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant");
        let b = DateTime::from_timestamp(1_700_000_000, 5_000_000).expect("valid instant");
        assert_eq!(to_stored(&a), "2023-11-14T22:13:20.000000000Z");
        assert!(to_stored(&a) < to_stored(&b));
    }

    /// Instants at the edges of the hand-written paths, then a spread of years -248 to
    /// 12,000.
    fn instants() -> Vec<DateTime<Utc>> {
        let mut instants = vec![
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::from_timestamp(0, 0).expect("epoch"),
            DateTime::from_timestamp(-62_167_219_200, 0).expect("year 0"),
            DateTime::from_timestamp(-62_167_219_201, 999_999_999).expect("year -1"),
            DateTime::from_timestamp(253_402_300_799, 999_999_999).expect("end of 9999"),
            DateTime::from_timestamp(253_402_300_800, 0).expect("year 10000"),
            // A leap second: chrono keeps it as a nanosecond count past 1e9.
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000).expect("leap second"),
        ];
        let mut rng = Scramble::new();
        for _ in 0..20_000 {
            let secs = (rng.number() % 400_000_000_000) as i64 - 70_000_000_000;
            let nanos = (rng.number() >> 34) as u32 % 1_000_000_000;
            instants.push(DateTime::from_timestamp(secs, nanos).expect("in range"));
        }
        instants
    }

    #[test]
    fn to_stored_and_to_wire_write_what_chrono_writes() {
        for t in &instants() {
            assert_eq!(to_stored(t), t.format(STORED_FORMAT).to_string(), "{t:?}");
            assert_eq!(to_wire(t), t.format(WIRE_FORMAT).to_string(), "{t:?}");
        }
    }

    #[test]
    fn millis_to_wire_writes_what_chrono_writes() {
        let reference = |ms: i64| {
            let t = Utc.timestamp_millis_opt(ms).single().expect("in range");
            t.format(WIRE_FORMAT).to_string()
        };
        // Around the epoch, leap days, year 0 and 9999, then a spread of instants.
        let mut cases = vec![
            0,
            1,
            -1,
            999,
            951_782_400_000,
            -62_167_219_200_000,
            -62_167_219_200_001,
            253_402_300_799_999,
            253_402_300_800_000,
        ];
        let mut rng = Scramble::new();
        for _ in 0..20_000 {
            cases.push(rng.number() as i64 % 300_000_000_000_000);
        }
        for ms in cases {
            assert_eq!(millis_to_wire(ms), reference(ms), "{ms}");
        }
    }

    #[test]
    fn parse_stored_reads_what_chrono_reads() {
        let mut rng = Scramble::new();
        let mut texts = vec![
            "2023-11-14T22:13:20.000000000Z".to_owned(),
            "0000-01-01T00:00:00.000000000Z".to_owned(),
            "9999-12-31T23:59:59.999999999Z".to_owned(),
            "2016-12-31T23:59:60.500000000Z".to_owned(), // a leap second
            "2023-02-29T00:00:00.000000000Z".to_owned(), // no such day
            "2023-13-01T00:00:00.000000000Z".to_owned(),
            "2023-11-14T24:00:00.000000000Z".to_owned(),
            "2023-11-14T22:13:20.000000000z".to_owned(),
            "2023-11-14 22:13:20.000000000Z".to_owned(),
            "2023-11-14T22:13:20.00000000Z".to_owned(),
            "+2023-11-14T22:13:20.000000000Z".to_owned(),
            "2023-11-14T22:13:20.0000000001Z".to_owned(),
            "2023-1١-14T22:13:20.000000000Z".to_owned(),
            String::new(),
        ];
        for t in instants() {
            let text = to_stored(&t);
            assert_eq!(parse_stored(&text), Some(t), "{text}");
            // And a damaged copy: one byte replaced.
            texts.push(rng.damage(text));
        }
        for text in &texts {
            assert_eq!(parse_stored(text), chrono_stored(text), "{text:?}");
        }
    }

    #[test]
    fn dates_read_their_own_form_and_an_instants_date() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 28).expect("valid date");
        assert_eq!(parse_stored_date(&date_to_stored(&d)), Some(d));
        assert_eq!(parse_date(&date_to_stored(&d)), Some(d));
        assert_eq!(parse_date(&date_to_wire(&d)), Some(d));
        // Late on the 28th west of Greenwich is the 1st of March in UTC.
        assert_eq!(
            parse_date("2026-02-28T23:00:00-02:00"),
            NaiveDate::from_ymd_opt(2026, 3, 1)
        );
        assert_eq!(parse_stored_date("2026-02-28T00:00:00.000Z"), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Any instant of years 0 to 9999, the years every form spells in four digits.
        fn four_digit_years() -> impl Strategy<Value = DateTime<Utc>> {
            (-62_167_219_200i64..253_402_300_800, 0u32..1_000_000_000)
                .prop_map(|(s, n)| DateTime::from_timestamp(s, n).expect("in range"))
        }

        /// Any instant chrono has, leap seconds too.
        fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
            let (min, max) = (
                DateTime::<Utc>::MIN_UTC.timestamp(),
                DateTime::<Utc>::MAX_UTC.timestamp(),
            );
            (min..=max, 0u32..2_000_000_000).prop_map(|(s, n)| {
                // A leap second only at the end of a minute, where chrono has one.
                let n = if s.rem_euclid(60) == 59 {
                    n
                } else {
                    n % 1_000_000_000
                };
                DateTime::from_timestamp(s, n).expect("in range")
            })
        }

        fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
            DateTime::from_timestamp_millis(t.timestamp_millis()).expect("in range")
        }

        proptest! {
            #[test]
            fn the_stored_form_reads_back_as_the_same_instant(t in any_instant()) {
                prop_assert_eq!(parse_stored(&to_stored(&t)), Some(t));
            }

            #[test]
            fn the_wire_form_reads_back_as_the_instant_to_the_millisecond(t in four_digit_years()) {
                let text = to_wire(&t);
                prop_assert_eq!(text.len(), 24);
                prop_assert_eq!(parse(&text), Some(to_millis(t)));
                prop_assert_eq!(parse_millis(&text), Some(t.timestamp_millis()));
                prop_assert_eq!(millis_to_wire(t.timestamp_millis()), text);
            }

            #[test]
            fn stored_text_order_is_time_order(a in four_digit_years(), b in four_digit_years()) {
                let (x, y) = (to_stored(&a), to_stored(&b));
                prop_assert_eq!(x.len(), STORED_LEN);
                prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            }

            #[test]
            fn parse_agrees_with_chrono_on_every_form_written(t in four_digit_years()) {
                let chrono_forms = [
                    chrono::SecondsFormat::Secs,
                    chrono::SecondsFormat::Millis,
                    chrono::SecondsFormat::Micros,
                    chrono::SecondsFormat::Nanos,
                    chrono::SecondsFormat::AutoSi,
                ]
                .map(|f| t.to_rfc3339_opts(f, true));
                let offset = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
                for text in [to_wire(&t), to_stored(&t), offset].iter().chain(&chrono_forms) {
                    prop_assert!(parse(text).is_some(), "{}", text);
                    prop_assert_eq!(parse(text), chrono_rfc3339(text), "{}", text);
                    prop_assert_eq!(same(text, &to_stored(&t)), parse(text) == Some(t));
                }
                prop_assert_eq!(parse(&to_stored(&t)), Some(t));
            }

            #[test]
            fn order_is_time_order_for_texts_in_any_form(a in four_digit_years(), b in four_digit_years()) {
                prop_assert_eq!(order(&to_stored(&a), &a.to_rfc3339()), Ordering::Equal);
                prop_assert_eq!(order(&to_stored(&a), &b.to_rfc3339()), a.cmp(&b));
            }
        }
    }
}
