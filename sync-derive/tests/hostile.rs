//! The derive must not depend on what the user's crate calls `Result`, `Option`, `String`,
//! `Vec`, `Default`, `Some`, `None`, `Ok`, `Err`, `str` or `sync_core`: everything it
//! generates uses absolute paths. `deny(warnings)` also proves it generates nothing that
//! warns.
#![deny(warnings)]
#![no_implicit_prelude]

extern crate std;

use ::std::assert_eq;
use ::std::clone::Clone;
use ::std::convert::From;
use ::std::string::String as StdString;

struct Result;
struct Option;
struct String;
struct Vec;
trait Default {
    fn hostile(&self) {}
}
impl Default for Result {}
#[allow(non_snake_case)] // Shadowing the prelude's constructors is the point of this test.
fn Some() {}
#[allow(non_snake_case)]
fn Ok() {}
#[allow(non_snake_case)]
fn Err() {}
#[allow(non_upper_case_globals)]
const None: () = ();
#[allow(non_camel_case_types)] // Shadows the primitive `str`, which generated code must not name bare.
struct str;
// A local module named like the core crate: generated code must reach the real one via `::`.
mod sync_core {}

#[derive(::sync_derive::Syncable, ::std::fmt::Debug, ::std::cmp::PartialEq)]
#[table("Hostile")]
struct Hostile {
    id: ::std::string::String,
    text: ::std::string::String,
    count: ::std::option::Option<i64>,
    #[sync(json)]
    tags: ::std::vec::Vec<StdString>,
    #[sync(skip)]
    local: u8,
    #[sync(default)]
    level: i64,
    #[sync(default = "five")]
    rank: i64,
    #[updated_at]
    updated_at: ::std::option::Option<::chrono::DateTime<::chrono::Utc>>,
    #[version]
    version: ::std::option::Option<::std::string::String>,
}

fn five() -> i64 {
    5
}

fn sample(text: &'static ::std::primitive::str) -> Hostile {
    Hostile {
        id: StdString::from("h1"),
        text: StdString::from(text),
        count: ::std::option::Option::Some(3),
        tags: ::std::vec![StdString::from("a")],
        local: 0,
        level: 1,
        rank: 2,
        updated_at: ::std::option::Option::None,
        version: ::std::option::Option::Some(StdString::from("v1")),
    }
}

#[test]
fn derives_and_round_trips_despite_shadowed_names() {
    // Use the shadowing items, so that they exist for real and do not warn.
    let _ = (Option, String, Vec, str, Some(), Ok(), Err(), None);
    Default::hostile(&Result);

    let h = sample("hi");
    let record = ::sync_core::Syncable::to_record(&h).unwrap();
    let back: Hostile = ::sync_core::Syncable::from_record(record.clone()).unwrap();
    assert_eq!(back, h);
    assert_eq!(<Hostile as ::sync_core::Syncable>::table_name(), "Hostile");
    assert_eq!(
        ::sync_core::Syncable::changed_columns(&h, &sample("ho")),
        ["text"]
    );
    let mut old = record.clone();
    old.remove("level");
    old.remove("rank");
    let back: Hostile = ::sync_core::Syncable::from_record(old).unwrap();
    assert_eq!((back.level, back.rank), (0, 5));
    let merged = <Hostile as ::sync_core::Syncable>::merge3(&sample("a"), sample("b"), sample("a"));
    assert_eq!(merged.value.text, "b");

    // The column handles: generated beside the struct, where the shadowing names are.
    let c = Hostile::columns();
    assert_eq!(c.text.eq("x"), ::sync_core::store::Filter::eq("text", "x"));
    assert_eq!(
        c.count.is_null(),
        ::sync_core::store::Filter::is_null("count")
    );
    assert_eq!(
        (c.updated_at.name(), c.deleted.name()),
        ("updatedAt", "deleted")
    );
}
