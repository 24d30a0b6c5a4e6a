//! Typed column handles (`Type::columns()`) against the string filters they stand for:
//! the same `Filter` on the wire names (`rename`, `rename_all`, system columns), and the
//! same results in a local query, a count and a pull, on every store. A string filter
//! stays possible, and a misspelt column in it is one error wherever it is used.

mod common;

use tablesync::chrono::{DateTime, NaiveDate, Utc};
use tablesync::engine::{SyncContext, SyncError};
use tablesync::store::{Filter, Order, Query, Store, StoreError};
use tablesync::transport::{MemoryRemote, MemoryTransport};
use tablesync::{Syncable, Value};

#[derive(Syncable, Debug, Clone, PartialEq)]
struct Inspection {
    id: String,
    site_id: String,
    score: i64,
    due_date: Option<NaiveDate>,
    #[sync(rename = "inspector")]
    inspected_by: Option<String>,
    #[sync(local)]
    notes: String,
    #[sync(json)]
    tags: Vec<String>,
    #[sync(skip)]
    draft: String,
    #[updated_at]
    modified: Option<DateTime<Utc>>,
    #[version]
    version: Option<String>,
}

#[derive(Syncable)]
#[sync(rename_all = "SCREAMING_SNAKE_CASE")]
struct Shouting {
    #[id]
    key: String,
    site_id: String,
    #[sync(rename = "Points")]
    score: u32,
    #[version]
    etag: String,
}

const TABLE: &str = "Inspection";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).expect("a valid date")
}

fn inspection(id: &str, site: &str, score: i64, due: Option<u32>) -> Inspection {
    Inspection {
        id: id.into(),
        site_id: site.into(),
        score,
        due_date: due.map(day),
        inspected_by: None,
        notes: String::new(),
        tags: Vec::new(),
        draft: String::new(),
        modified: None,
        version: None,
    }
}

fn ids(items: &[Inspection]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

#[test]
fn a_typed_filter_is_the_string_filter_on_the_wire_name() {
    let c = Inspection::columns();
    assert_eq!(c.site_id.eq("s1"), Filter::eq("siteId", "s1"));
    assert_eq!(c.score.gt(5), Filter::gt("score", 5i64));
    assert_eq!(
        c.due_date.le(day(9)),
        Filter::le("dueDate", Value::Date(day(9)))
    );
    assert_eq!(c.inspected_by.is_null(), Filter::is_null("inspector"));
    assert_eq!(
        c.inspected_by.contains("ann"),
        Filter::contains("inspector", "ann")
    );
    assert_eq!(
        c.notes.starts_with("gate"),
        Filter::starts_with("notes", "gate")
    );
    // System columns, whether or not a field mirrors them (`modified` is `updatedAt`).
    assert_eq!(c.id.eq("i1"), Filter::eq("id", "i1"));
    assert_eq!(c.version.is_not_null(), !Filter::is_null("version"));
    assert_eq!(c.modified.name(), "updatedAt");
    assert_eq!(c.created_at.name(), "createdAt");
    assert_eq!(c.deleted.eq(false), Filter::eq("deleted", false));
    // Combined with the existing combinators, the same tree as the strings'.
    assert_eq!(
        c.site_id
            .eq("s1")
            .and(c.score.ge(3).or(!c.due_date.is_null())),
        Filter::eq("siteId", "s1").and(Filter::ge("score", 3i64).or(!Filter::is_null("dueDate")))
    );

    let s = Shouting::columns();
    assert_eq!(s.site_id.eq("s1"), Filter::eq("SITE_ID", "s1"));
    assert_eq!(s.score.lt(7), Filter::lt("Points", 7i64));
    // The id and version keep their fixed columns under their fields' names.
    assert_eq!((s.key.name(), s.etag.name()), ("id", "version"));
    // Every handle names a column of the schema.
    let names = [
        s.key.name(),
        s.etag.name(),
        s.updated_at.name(),
        s.created_at.name(),
        s.deleted.name(),
        s.site_id.name(),
        s.score.name(),
    ];
    let schema: Vec<&str> = Shouting::schema()
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names.as_slice(), schema.as_slice());
}

#[test]
fn a_typed_sort_key_is_the_named_one() {
    let c = Inspection::columns();
    assert_eq!(
        Query::new().sort(c.due_date.desc()).sort(c.id.asc()),
        Query::new()
            .order_by("dueDate", Order::Desc)
            .order_by("id", Order::Asc)
    );
}

on_every_store!(
    a_typed_filter_works_in_a_local_query_a_count_and_a_pull,
    a_misspelt_string_column_is_an_error_in_a_query_a_count_and_a_pull,
);

type Ctx<S> = SyncContext<S, MemoryTransport>;

async fn seeded<S: Store>(make: &impl Fn() -> S, server: &MemoryRemote) -> Ctx<S> {
    let ctx = SyncContext::new(make(), server.transport());
    let t = ctx.table::<Inspection>().await.unwrap();
    for i in [
        inspection("a", "s1", 2, Some(3)),
        inspection("b", "s1", 9, None),
        inspection("c", "s2", 7, Some(1)),
        inspection("d", "s1", 5, Some(8)),
    ] {
        t.insert(i).await.unwrap();
    }
    ctx
}

async fn a_typed_filter_works_in_a_local_query_a_count_and_a_pull<S: Store>(make: impl Fn() -> S) {
    let server = MemoryRemote::new();
    let a = seeded(&make, &server).await;
    let t = a.table::<Inspection>().await.unwrap();
    let c = Inspection::columns();

    let s1 = t
        .query(Query::new().filter(c.site_id.eq("s1")).sort(c.score.desc()))
        .await
        .unwrap();
    assert_eq!(ids(&s1), ["b", "d", "a"]);
    let due_soon = c.due_date.lt(day(5)).and(!c.due_date.is_null());
    let soon = t
        .query(Query::new().filter(due_soon).sort(c.due_date.asc()))
        .await
        .unwrap();
    assert_eq!(ids(&soon), ["c", "a"]);
    assert_eq!(t.count(Some(c.due_date.is_null())).await.unwrap(), 1);
    assert_eq!(t.count(Some(c.score.ge(5))).await.unwrap(), 3);

    // A local-only column filters a local query.
    let mut d = t.get("d").await.unwrap().unwrap();
    d.notes = "gate code 1234".into();
    t.update(d).await.unwrap();
    assert_eq!(t.count(Some(c.notes.starts_with("gate"))).await.unwrap(), 1);

    // Another device pulls the typed filter's rows only.
    a.push().await.unwrap();
    let b = SyncContext::new(make(), server.transport());
    let tb = b.table::<Inspection>().await.unwrap();
    let report = tb
        .pull("s1-high", Some(c.site_id.eq("s1").and(c.score.gt(4))))
        .await
        .unwrap();
    assert_eq!(report.received, 2);
    assert_eq!(ids(&tb.all().await.unwrap()), ["b", "d"]);

    // The local-only column is refused in a pull before anything is sent.
    let calls = b.transport().calls();
    let e = tb
        .pull("notes", Some(c.notes.starts_with("gate")))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SyncError::LocalOnlyColumn { table, column } if table == TABLE && column == "notes"),
        "{e:?}"
    );
    assert_eq!(b.transport().calls(), calls);
}

async fn a_misspelt_string_column_is_an_error_in_a_query_a_count_and_a_pull<S: Store>(
    make: impl Fn() -> S,
) {
    let server = MemoryRemote::new();
    let a = seeded(&make, &server).await;
    let t = a.table::<Inspection>().await.unwrap();
    let typo = || Filter::eq("siteID", "s1").and(Filter::eq("sietId", "s1"));
    let expected = "table `Inspection`: no column `sietId`";
    let is_typo = |e: &SyncError| {
        matches!(
            e,
            SyncError::Store(StoreError::UnknownColumn { table, column })
                if table == TABLE && column == "sietId"
        )
    };

    let e = t.query(Query::new().filter(typo())).await.unwrap_err();
    assert!(is_typo(&e), "{e:?}");
    assert_eq!(e.to_string(), expected);
    let e = t.count(Some(typo())).await.unwrap_err();
    assert!(is_typo(&e), "{e:?}");
    let e = t
        .query(Query::new().order_by("sietId", Order::Asc))
        .await
        .unwrap_err();
    assert!(is_typo(&e), "{e:?}");
    // A `skip` field is no column, and a string cannot make it one.
    let e = t.count(Some(Filter::eq("draft", "x"))).await.unwrap_err();
    assert!(
        matches!(&e, SyncError::Store(StoreError::UnknownColumn { column, .. }) if column == "draft"),
        "{e:?}"
    );
    let calls = a.transport().calls();
    let e = t.pull("typo", Some(typo())).await.unwrap_err();
    assert!(is_typo(&e), "{e:?}");
    assert_eq!(
        a.transport().calls(),
        calls,
        "refused before anything was sent"
    );
    assert_eq!(
        a.pending_count().await.unwrap(),
        4,
        "not even the push a pull makes first"
    );

    // Spelt right (in any ASCII case, as the schema matches names), strings still work.
    let n = t
        .count(Some(
            Filter::eq("siteID", "s1").and(Filter::gt("score", 4i64)),
        ))
        .await
        .unwrap();
    assert_eq!(n, 2);
}
