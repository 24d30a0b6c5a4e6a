//! Pull pages: keyset order over rows sharing an `updatedAt`, next links (followed only
//! under our base URL), and the `ge` + `$skip` fallback for servers without keyset.

use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};
use sync_core::store::Watermark;
use sync_core::transport::{PullPage, PullRequest, Transport};

use crate::fake::{Canned, Fake, Seen, row};

const T1: &str = "2026-11-21T12:00:00.001Z";
const T2: &str = "2026-11-21T12:00:00.002Z";
const T3: &str = "2026-11-21T12:00:00.003Z";
const T4: &str = "2026-11-21T12:00:00.004Z";

/// `(updatedAt, id)` pairs.
type Rows = Arc<Mutex<Vec<(String, String)>>>;
/// Which rows a `$filter` keeps.
type Keep = Box<dyn Fn(&(String, String)) -> bool>;

/// a@T1, b..f@T2 (five rows sharing one instant), g@T3.
fn rows() -> Rows {
    let mut v = vec![("a", T1)];
    v.extend(["b", "c", "d", "e", "f"].map(|id| (id, T2)));
    v.push(("g", T3));
    Arc::new(Mutex::new(
        v.into_iter()
            .map(|(id, t)| (t.to_owned(), id.to_owned()))
            .collect(),
    ))
}

/// The quoted text after `prefix` in `s`.
fn literal_after(s: &str, prefix: &str) -> Option<String> {
    let start = s.find(prefix)? + prefix.len();
    let rest = &s[start..];
    Some(rest[..rest.find('\'')?].to_owned())
}

/// A table server: keyset or `ge` filters, `$orderby=updatedAt,id`, `$top`, `$skip`.
/// Without keyset support it answers 400 to any filter with ` or `.
fn table(rows: Rows, keyset: bool) -> impl Fn(&Seen) -> Canned + Send + Sync + 'static {
    move |seen: &Seen| {
        let filter = seen.param("$filter").unwrap_or_default();
        if !keyset && filter.contains(" or ") {
            return Canned::json(400, json!({"error": "unsupported $filter"}));
        }
        assert_eq!(seen.param("$orderby").as_deref(), Some("updatedAt,id"));
        assert_eq!(seen.param("__includeDeleted").as_deref(), Some("true"));
        assert_eq!(seen.header("zumo-api-version"), Some("2.0.0"));
        let mut all = rows.lock().unwrap().clone();
        all.sort();
        let keep: Keep = if let Some(t) = literal_after(&filter, "updatedAt gt datetimeoffset'") {
            let id = literal_after(&filter, "id gt '").unwrap();
            Box::new(move |(u, i)| *u > t || (*u == t && *i > id))
        } else if let Some(t) = literal_after(&filter, "updatedAt ge datetimeoffset'") {
            Box::new(move |(u, _)| *u >= t)
        } else {
            assert!(filter.is_empty(), "unexpected filter {filter}");
            Box::new(|_| true)
        };
        let skip: usize = seen.param("$skip").map_or(0, |s| s.parse().unwrap());
        let top: usize = seen.param("$top").unwrap().parse().unwrap();
        let page: Vec<Json> = all
            .iter()
            .filter(|r| keep(r))
            .skip(skip)
            .take(top)
            .map(|(u, id)| row(id, u, "MQ=="))
            .collect();
        Canned::json(200, Json::Array(page))
    }
}

fn ids(page: &PullPage) -> Vec<String> {
    page.records
        .iter()
        .map(|r| r.id().unwrap().to_owned())
        .collect()
}

/// Pulls until the server has no more, calling `between(n)` after page `n`.
async fn pull_all(
    t: &impl Transport,
    page_size: u32,
    mut between: impl FnMut(usize),
) -> Vec<String> {
    let mut after: Option<Watermark> = None;
    let mut got = Vec::new();
    for n in 0..50 {
        let mut request = PullRequest::new(page_size);
        request.after = after.clone();
        let page = t.pull("Todo", request).await.unwrap();
        // The watermark is the last row's, its updatedAt as the server wrote it.
        if let Some(last) = page.records.last() {
            let mark = page.last.clone().expect("a page with rows has a watermark");
            assert_eq!(Some(mark.id.as_str()), last.id());
            assert_eq!(
                Some(&mark.updated_at.as_str().into()),
                last.get("updatedAt")
            );
            after = Some(mark);
        }
        got.extend(ids(&page));
        if !page.more || page.records.is_empty() {
            return got;
        }
        between(n);
    }
    panic!("paging did not end: {got:?}");
}

#[tokio::test]
async fn keyset_pages_cover_rows_sharing_one_updated_at_exactly_once() {
    let fake = Fake::with(table(rows(), true)).await;
    let got = pull_all(&fake.transport(), 2, |_| {}).await;
    assert_eq!(got, ["a", "b", "c", "d", "e", "f", "g"]);
    let seen = fake.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].param("$filter"), None);
    assert_eq!(seen[0].param("$top").as_deref(), Some("2"));
    assert_eq!(
        seen[2].param("$filter").unwrap(),
        format!(
            "((updatedAt gt datetimeoffset'{T2}') or (updatedAt eq datetimeoffset'{T2}' and id gt 'd'))"
        )
    );
    assert!(seen.iter().all(|s| s.param("$skip").is_none()));
}

#[tokio::test]
async fn a_next_link_under_the_base_url_is_followed() {
    let fake = Fake::scripted().await;
    let next = format!("{}tables/Todo?page=2&__includeDeleted=true", fake.url);
    fake.push(
        Canned::json(200, json!([row("a", T1, "MQ=="), row("b", T2, "MQ==")]))
            .header("link", &format!("<{next}>; rel=next")),
    );
    // A body link, relative to the request.
    fake.push(Canned::json(
        200,
        json!({"results": [row("c", T2, "MQ==")], "count": 3, "nextLink": "Todo?page=3"}),
    ));
    fake.push(Canned::json(200, json!([row("d", T3, "MQ==")])));
    fake.push(Canned::json(200, json!([])));
    let got = pull_all(&fake.transport(), 2, |_| {}).await;
    assert_eq!(got, ["a", "b", "c", "d"]);
    let seen = fake.seen();
    assert_eq!(
        seen[1].uri.to_string(),
        "/app/tables/Todo?page=2&__includeDeleted=true"
    );
    assert_eq!(seen[2].uri.to_string(), "/app/tables/Todo?page=3");
    // The last page gave no link, and was not full: paging ends there.
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn a_next_link_leaving_the_base_url_is_ignored() {
    let fake = Fake::scripted().await;
    let port = fake.port;
    let bad = [
        // The reference server's: the port and the mount path are lost.
        "http://127.0.0.1/tables/Todo?$skip=2".to_owned(),
        format!("http://localhost:{port}/app/tables/Todo?$skip=2"),
        format!("http://127.0.0.1:{port}/tables/Todo?$skip=2"),
        format!("https://127.0.0.1:{port}/app/tables/Todo?$skip=2"),
    ];
    for link in &bad {
        fake.push(
            Canned::json(200, json!([row("a", T1, "MQ=="), row("b", T2, "MQ==")]))
                .header("link", &format!("<{link}>; rel=next")),
        );
        fake.push(Canned::json(200, json!([])));
    }
    let t = fake.transport();
    for _ in &bad {
        let first = t.pull("Todo", PullRequest::new(2)).await.unwrap();
        assert!(first.more, "a full page may have more");
        let mut request = PullRequest::new(2);
        request.after = first.last;
        let second = t.pull("Todo", request).await.unwrap();
        assert!(!second.more && second.records.is_empty());
    }
    for s in fake.seen().iter().skip(1).step_by(2) {
        assert_eq!(s.path, "/app/tables/Todo");
        let filter = s.param("$filter").unwrap();
        assert!(filter.contains("id gt 'b'"), "paged itself: {filter}");
    }
}

#[tokio::test]
async fn without_keyset_support_skip_pages_cover_every_row_exactly_once() {
    let fake = Fake::with(table(rows(), false)).await;
    let t = fake.transport();
    let got = pull_all(&t, 2, |_| {}).await;
    assert_eq!(got, ["a", "b", "c", "d", "e", "f", "g"]);
    let seen = fake.seen();
    let refused = seen
        .iter()
        .filter(|s| s.param("$filter").is_some_and(|f| f.contains(" or ")))
        .count();
    assert_eq!(refused, 1, "the fallback is remembered for the table");
    assert!(
        seen.iter().any(|s| s.param("$skip").is_some()),
        "ties are skipped by count"
    );
    assert!(seen.len() < 20, "{} requests", seen.len());

    // A page of one cannot overlap: still every row once.
    let fake = Fake::with(table(rows(), false)).await;
    let got = pull_all(&fake.transport(), 1, |_| {}).await;
    assert_eq!(got, ["a", "b", "c", "d", "e", "f", "g"]);
}

#[tokio::test]
async fn without_keyset_support_a_row_moving_on_mid_pull_hides_no_other_row() {
    let rows = rows();
    let fake = Fake::with(table(Arc::clone(&rows), false)).await;
    let t = fake.transport();
    let moving = Arc::clone(&rows);
    let got = pull_all(&t, 2, move |n| {
        if n == 1 {
            // b, already delivered at T2, is updated: it leaves T2's group.
            let mut v = moving.lock().unwrap();
            let b = v.iter_mut().find(|(_, id)| id == "b").unwrap();
            b.0 = T4.to_owned();
        }
    })
    .await;
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, ["a", "b", "c", "d", "e", "f", "g"], "got {got:?}");
    assert_eq!(
        got.last().map(String::as_str),
        Some("b"),
        "b again, at its new time"
    );
}

#[tokio::test]
async fn a_refused_filter_that_is_not_the_keyset_is_the_servers_error() {
    let fake = Fake::with(|_| Canned::json(400, json!({"error": "bad $filter at 3"}))).await;
    let mut request = PullRequest::new(2);
    request.after = Some(Watermark {
        updated_at: T1.into(),
        id: "a".into(),
    });
    let e = fake.transport().pull("Todo", request).await.unwrap_err();
    assert_eq!(
        e,
        sync_core::transport::TransportError::Server {
            status: 400,
            message: "bad $filter at 3".into()
        }
    );
}

#[tokio::test]
async fn a_server_ignoring_the_keyset_filter_is_malformed_not_an_endless_pull() {
    let fake =
        Fake::with(|_| Canned::json(200, json!([row("a", T1, "MQ=="), row("b", T2, "MQ==")])))
            .await;
    let mut request = PullRequest::new(2);
    request.after = Some(Watermark {
        updated_at: T2.into(),
        id: "b".into(),
    });
    let e = fake.transport().pull("Todo", request).await.unwrap_err();
    assert!(
        matches!(e, sync_core::transport::TransportError::Malformed { .. }),
        "{e:?}"
    );
}

/// `n` rows `r00000`, `r00001`, … each at an instant of its own.
fn many(n: usize) -> Rows {
    Arc::new(Mutex::new(
        (0..n)
            .map(|i| {
                let t = format!(
                    "2026-11-21T12:{:02}:{:02}.{:03}Z",
                    i / 60_000,
                    i / 1000 % 60,
                    i % 1000
                );
                (t, format!("r{i:05}"))
            })
            .collect(),
    ))
}

/// A keyset table server that answers a `$top` above `max` with 400 and the
/// message `refusal($top)`.
fn capped(
    rows: Rows,
    max: usize,
    refusal: impl Fn(usize) -> String + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Canned + Send + Sync + 'static {
    let serve = table(rows, true);
    move |seen: &Seen| {
        let top: usize = seen.param("$top").unwrap().parse().unwrap();
        if top > max {
            return Canned::json(400, json!({"error": refusal(top)}));
        }
        serve(seen)
    }
}

fn tops(fake: &Fake) -> Vec<String> {
    fake.seen()
        .iter()
        .map(|s| s.param("$top").unwrap())
        .collect()
}

#[tokio::test]
async fn a_page_size_above_our_servers_limit_is_asked_again_with_the_limit_it_names() {
    // The tablesync server's own refusal (sync-server's query parser).
    let fake = Fake::with(capped(rows(), 3, |top| {
        format!("$top: {top} is above the maximum page size 3")
    }))
    .await;
    let t = fake.transport();
    let got = pull_all(&t, 5, |_| {}).await;
    assert_eq!(got, ["a", "b", "c", "d", "e", "f", "g"]);
    // Refused once; the limit is kept for every later page.
    assert_eq!(tops(&fake), ["5", "3", "3", "3"]);
    assert_eq!(t.max_page_size(), 3);
}

#[tokio::test]
async fn a_page_size_above_a_limit_the_server_does_not_name_falls_back_to_1000_then_50() {
    // A refusal naming `$top` but no number.
    let refusal = |_| "Invalid $top: above the maximum page size".to_owned();
    // By default no page asks for more than Microsoft's server gives.
    let fake = Fake::with(capped(many(1200), 1000, refusal)).await;
    let got = pull_all(&fake.transport(), 1500, |_| {}).await;
    assert_eq!(got.len(), 1200);
    assert_eq!(tops(&fake), ["1000", "1000"]);

    // A transport allowed larger pages learns the server's limit from its refusal.
    let fake = Fake::with(capped(many(1200), 1000, refusal)).await;
    let t = fake.builder().max_page_size(5000).build().unwrap();
    let got = pull_all(&t, 1500, |_| {}).await;
    assert_eq!(got.len(), 1200);
    assert_eq!(got.first().map(String::as_str), Some("r00000"));
    assert_eq!(got.last().map(String::as_str), Some("r01199"));
    assert_eq!(tops(&fake), ["1500", "1000", "1000"]);
    assert_eq!(t.max_page_size(), 1000);

    let fake = Fake::with(capped(many(120), 60, refusal)).await;
    let t = fake.builder().max_page_size(5000).build().unwrap();
    let got = pull_all(&t, 1500, |_| {}).await;
    assert_eq!(got.len(), 120);
    assert_eq!(tops(&fake), ["1500", "1000", "50", "50", "50"]);
    assert_eq!(t.max_page_size(), 50);
}

#[tokio::test]
async fn a_400_about_something_else_is_not_asked_again() {
    let fake = Fake::with(|_: &Seen| Canned::json(400, json!({"error": "bad $filter at 3"}))).await;
    let e = fake
        .transport()
        .pull("Todo", PullRequest::new(500))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn the_configured_page_cap_bounds_every_page() {
    let fake = Fake::with(table(rows(), true)).await;
    let t = fake.builder().max_page_size(2).build().unwrap();
    let got = pull_all(&t, 5, |_| {}).await;
    assert_eq!(got, ["a", "b", "c", "d", "e", "f", "g"]);
    assert!(tops(&fake).iter().all(|t| t == "2"), "{:?}", tops(&fake));
}
