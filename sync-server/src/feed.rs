//! `GET /tablesync/v1/feed?tables=A,B`: the change feed (see
//! [`sync_http::wire::feed`] and `EXTENSION.md`), one Server-Sent Events answer per
//! client that pokes it when rows it may not have were committed in a table it asked
//! about.
//!
//! Writes flow into the instance's [`Hub`]: every write the HTTP layer sees committed
//! (single requests and batches, both backends), and on PostgreSQL every write another
//! instance committed, which the backend hears through `LISTEN` (see
//! [`crate::store::Backend::feed_changes`]). The hub numbers them and hands them to
//! every open feed through one bounded `tokio::sync::broadcast` ring, and keeps the
//! last [`RESUME_RING`] of them to answer a `Last-Event-ID`.
//!
//! A feed holds, per table it asked about, one "poke due" flag: any number of writes
//! between two pokes become one poke, so its memory is O(tables), never O(writes).
//! A feed that falls behind the ring (its client reads slowly during a burst) cannot
//! tell which tables changed and marks them all due, which is correct because a poke
//! only makes a client pull incrementally. Pokes of one feed are at least
//! `--feed-coalesce-ms` apart, so a burst of writes is a handful of pokes. Writes by
//! another owner (per-user mode) never reach a feed: it hears about its own rows only.
//!
//! The feed is an ordinary connection for the connection cap and its idle timeout
//! (the heartbeat keeps it from being idle), and `--max-feed-connections` bounds how
//! many of them there are; past it a feed request is a 503 with `Retry-After`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use sync_http::wire::feed::{self as wire, HEARTBEAT, OPENED, poke_event};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Owner, owner, table_name};

/// How many recent changes the hub keeps to resume a feed from its `Last-Event-ID`;
/// also the broadcast ring's length. A feed further behind pokes every table.
pub(crate) const RESUME_RING: usize = 4096;

/// Marks a response that stays open until the client leaves (a feed): at shutdown the
/// server closes its connection instead of waiting for the answer to end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LongLived;

/// One committed write, as the hub numbers it.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    seq: u64,
    /// Lowercased (table names match ignoring case); `None`: any table may have
    /// changed (a gap, such as a lost `LISTEN` connection).
    table: Option<Arc<str>>,
    owner: Arc<str>,
}

/// The instance's writes, for its feeds: see the module doc.
pub(crate) struct Hub {
    /// Names this hub's event ids: an id from another instance or an earlier process
    /// cannot be resumed from, and pokes every table.
    epoch: String,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Change>,
}

struct Ring {
    seq: u64,
    recent: VecDeque<Change>,
}

impl Hub {
    pub(crate) fn new() -> Hub {
        Hub {
            epoch: uuid::Uuid::new_v4().simple().to_string(),
            ring: Mutex::new(Ring {
                seq: 0,
                recent: VecDeque::with_capacity(RESUME_RING),
            }),
            tx: broadcast::channel(RESUME_RING).0,
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A poisoned lock only means a panic elsewhere; the ring is still consistent
        // (each change is pushed whole).
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A write to `table` by `owner` was committed; `None`: any table may have changed.
    pub(crate) fn publish(&self, table: Option<&str>, owner: &str) {
        let mut ring = self.ring();
        ring.seq += 1;
        let change = Change {
            seq: ring.seq,
            table: table.map(|t| Arc::from(t.to_ascii_lowercase())),
            owner: Arc::from(owner),
        };
        if ring.recent.len() == RESUME_RING {
            ring.recent.pop_front();
        }
        ring.recent.push_back(change.clone());
        // Under the lock, so that the ring and the broadcast have one order. No
        // receiver is no error: nobody listens.
        let _ = self.tx.send(change);
    }

    /// A receiver of the changes after now, the sequence number of now, and the
    /// changes after `last_event_id` (`None`: it cannot be told, poke everything).
    fn subscribe(
        &self,
        last_event_id: Option<&str>,
    ) -> (broadcast::Receiver<Change>, u64, Option<Vec<Change>>) {
        let ring = self.ring();
        let rx = self.tx.subscribe();
        let replay = match last_event_id {
            None => Some(Vec::new()),
            Some(id) => {
                let oldest = ring.recent.front().map_or(ring.seq + 1, |c| c.seq);
                id.split_once('.')
                    .filter(|(epoch, _)| *epoch == self.epoch)
                    .and_then(|(_, seq)| seq.parse::<u64>().ok())
                    .filter(|seq| *seq <= ring.seq && seq.saturating_add(1) >= oldest)
                    .map(|seq| {
                        ring.recent
                            .iter()
                            .filter(|c| c.seq > seq)
                            .cloned()
                            .collect()
                    })
            }
        };
        (rx, ring.seq, replay)
    }

    fn event_id(&self, seq: u64) -> String {
        format!("{}.{seq}", self.epoch)
    }
}

/// A table a feed asked about.
struct Asked {
    /// As the client named it: pokes name it so.
    name: String,
    key: String,
}

/// `GET /tablesync/v1/feed`: checks the tables and the cap, then answers the feed.
pub(crate) async fn open(
    State(config): State<Arc<Config>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    o: Option<axum::Extension<Owner>>,
) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    let lists: Vec<String> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k == wire::TABLES_PARAM)
        .map(|(_, v)| v.into_owned())
        .collect();
    let [list] = lists.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "a feed names its tables once: `?{}=A,B` (given {} times)",
            wire::TABLES_PARAM,
            lists.len()
        )));
    };
    let mut asked: Vec<Asked> = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(ApiError::bad_request(format!(
                "tables `{list}`: an empty table name"
            )));
        }
        let key = name.to_ascii_lowercase();
        if asked.iter().any(|a| a.key == key) {
            continue;
        }
        if asked.len() == config.max_feed_tables {
            return Err(ApiError::bad_request(format!(
                "tables `{list}`: a feed asks about at most {} tables (max-feed-tables)",
                config.max_feed_tables
            )));
        }
        if let Err(e) = table_name(&config, name).await {
            if e.status != StatusCode::NOT_FOUND {
                return Err(e);
            }
            return Err(ApiError::bad_request(format!(
                "tables `{list}`: `{name}` is not a table this server serves ({})",
                e.message
            )));
        }
        asked.push(Asked {
            name: name.to_owned(),
            key,
        });
    }
    let permit = Arc::clone(&config.feed_slots)
        .try_acquire_owned()
        .map_err(|_| {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server has {} feeds open, its limit (max-feed-connections): \
                     try again later, and poll meanwhile",
                    config.max_feed_connections
                ),
            );
            e.retry_after = Some(5);
            e
        })?;
    let last_event_id = headers
        .get(wire::LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let (rx, seq, replay) = config.hub.subscribe(last_event_id);
    let mut feed = Feed {
        config: Arc::clone(&config),
        rx,
        due: vec![false; asked.len()],
        asked,
        owner: owner(o),
        seq,
        opened: false,
        next_poke: Instant::now(),
        last_write: Instant::now(),
        _permit: permit,
    };
    match replay {
        Some(changes) => changes.iter().for_each(|c| feed.take(c)),
        None => feed.due.fill(true),
    }
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next().await?;
        Some((Ok::<_, Infallible>(chunk), feed))
    });
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(wire::CONTENT_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(LongLived);
    Ok(response)
}

/// One open feed.
struct Feed {
    config: Arc<Config>,
    rx: broadcast::Receiver<Change>,
    asked: Vec<Asked>,
    /// Per asked table: a poke is due.
    due: Vec<bool>,
    owner: String,
    /// Every change up to this one has been taken into `due`.
    seq: u64,
    opened: bool,
    /// The next poke is not written before this.
    next_poke: Instant,
    last_write: Instant,
    /// One of `--max-feed-connections`, given back when the client leaves.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Feed {
    /// Marks the tables a change concerns as due.
    fn take(&mut self, c: &Change) {
        self.seq = self.seq.max(c.seq);
        if *c.owner != *self.owner && c.table.is_some() {
            return;
        }
        for (asked, due) in self.asked.iter().zip(self.due.iter_mut()) {
            if c.table.as_deref().is_none_or(|t| t == asked.key) {
                *due = true;
            }
        }
    }

    /// A receiver that fell behind lost changes it cannot name: every table is due.
    fn lagged(&mut self) {
        self.due.fill(true);
    }

    /// The next chunk of the answer; `None` ends it.
    async fn next(&mut self) -> Option<Bytes> {
        if !self.opened {
            self.opened = true;
            self.last_write = Instant::now();
            return Some(Bytes::from_static(OPENED));
        }
        let heartbeat = self.config.feed_heartbeat;
        loop {
            let due = self.due.iter().any(|d| *d);
            tokio::select! {
                r = self.rx.recv() => match r {
                    Ok(c) => self.take(&c),
                    Err(RecvError::Lagged(_)) => self.lagged(),
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(self.next_poke), if due => {
                    return Some(self.pokes());
                }
                () = tokio::time::sleep_until(self.last_write + heartbeat) => {
                    self.last_write = Instant::now();
                    return Some(Bytes::from_static(HEARTBEAT));
                }
            }
        }
    }

    /// Every due poke, the last with the event id to resume from.
    fn pokes(&mut self) -> Bytes {
        // What is already waiting joins this poke.
        loop {
            match self.rx.try_recv() {
                Ok(c) => self.take(&c),
                Err(TryRecvError::Lagged(_)) => self.lagged(),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let id = self.config.hub.event_id(self.seq);
        let last = self.due.iter().rposition(|d| *d);
        let mut out = Vec::new();
        for (n, (asked, due)) in self.asked.iter().zip(self.due.iter_mut()).enumerate() {
            if std::mem::take(due) {
                // Only the last event carries the id: a client cut off after an
                // earlier one resumes from before them all.
                let id = (Some(n) == last).then_some(id.as_str());
                out.extend(poke_event(&asked.name, id));
            }
        }
        let now = Instant::now();
        self.next_poke = now + self.config.feed_coalesce;
        self.last_write = now;
        Bytes::from(out)
    }
}

/// A [`crate::store::ChangeSink`] feeding this hub, holding it weakly: a backend's
/// listener outliving the server's configuration feeds nothing.
pub(crate) fn sink(hub: &Arc<Hub>) -> crate::store::ChangeSink {
    let hub = Arc::downgrade(hub);
    Arc::new(
        move |table: Option<&str>, owner: &str| match hub.upgrade() {
            Some(hub) => {
                hub.publish(table, owner);
                true
            }
            None => false,
        },
    )
}

/// Default `--feed-heartbeat-secs`.
pub const DEFAULT_FEED_HEARTBEAT: Duration = Duration::from_secs(15);
/// Default `--max-feed-connections`.
pub const DEFAULT_MAX_FEED_CONNECTIONS: usize = 1000;
/// Default `--max-feed-tables`.
pub const DEFAULT_MAX_FEED_TABLES: usize = 100;
/// Default `--feed-coalesce-ms`: pokes of one feed are at least this far apart. Short:
/// a write after a quiet moment is poked at once, and within a burst each device pulls
/// at most a hundred times a second (a pull of nothing new is one cheap request).
pub const DEFAULT_FEED_COALESCE: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_replays_what_the_ring_holds_and_nothing_it_cannot_tell() {
        let hub = Hub::new();
        hub.publish(Some("A"), "");
        let (_, seq, replay) = hub.subscribe(None);
        assert_eq!((seq, replay.unwrap().len()), (1, 0));
        hub.publish(Some("B"), "u");
        let (_, _, replay) = hub.subscribe(Some(&hub.event_id(1)));
        let tables: Vec<_> = replay.unwrap().iter().map(|c| c.table.clone()).collect();
        assert_eq!(tables, [Some(Arc::from("b"))]);
        for unknown in ["other.1", "nonsense", &hub.event_id(99)] {
            assert!(hub.subscribe(Some(unknown)).2.is_none(), "{unknown}");
        }
        for _ in 0..RESUME_RING {
            hub.publish(Some("C"), "");
        }
        assert!(
            hub.subscribe(Some(&hub.event_id(1))).2.is_none(),
            "fell out"
        );
        let recent = hub.event_id(RESUME_RING as u64);
        assert!(hub.subscribe(Some(&recent)).2.is_some());
    }

    /// However many writes pass a feed that is not read, it holds one flag per table;
    /// past the ring it cannot tell which tables changed and pokes them all.
    #[tokio::test]
    async fn a_feed_that_falls_behind_the_ring_pokes_every_table() {
        let db = crate::store::SqliteBackend::open_in_memory().unwrap();
        let config = Arc::new(Config::new(Arc::new(db)).feed(
            Duration::from_secs(15),
            10,
            10,
            Duration::ZERO,
        ));
        let (rx, seq, _) = config.hub.subscribe(None);
        let asked = |name: &str| Asked {
            name: name.into(),
            key: name.to_ascii_lowercase(),
        };
        let mut feed = Feed {
            config: Arc::clone(&config),
            rx,
            asked: vec![asked("A"), asked("B")],
            due: vec![false; 2],
            owner: String::new(),
            seq,
            opened: true,
            next_poke: Instant::now(),
            last_write: Instant::now(),
            _permit: Arc::clone(&config.feed_slots).try_acquire_owned().unwrap(),
        };
        for _ in 0..RESUME_RING * 3 {
            config.hub.publish(Some("unasked"), "");
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .expect("pokes at once")
            .unwrap();
        let text = String::from_utf8_lossy(&chunk);
        assert!(
            text.contains(r#"{"table":"A"}"#) && text.contains(r#"{"table":"B"}"#),
            "{text}"
        );
        assert!(text.ends_with(&format!("id: {}\n\n", config.hub.event_id(feed.seq))));
        assert_eq!(feed.due, [false, false]);
    }
}
