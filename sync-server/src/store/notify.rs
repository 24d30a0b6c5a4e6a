//! The change feed across instances on PostgreSQL: every write's transaction notifies
//! the `tablesync_feed` channel (`pg_notify`, with bound parameters), which PostgreSQL
//! delivers at commit and only then (a rolled-back write or savepoint notifies
//! nobody), to every session listening; each instance listens on one connection of its
//! own and reports what other instances wrote to its feeds
//! ([`Backend::feed_changes`](super::Backend::feed_changes)). Its own writes it skips:
//! the server reported them when they were answered.
//!
//! A channel is per database, not per schema, so two deployments in two schemas of one
//! database hear each other's notifications: the payload names the schema, and a
//! listener takes only its own. The payload is JSON, `{"instance":...,"schema":...,
//! "table":...,"owner":...}`, so that no name or owner can be misread; it is at most
//! a few hundred bytes (an owner of at most 255 characters), far below PostgreSQL's
//! 8000.
//!
//! The backend is ready once its instance listens. A listening connection that fails is opened again (backoff up to 10 s); what was
//! committed in between was not heard, so once listening again it reports that any
//! table may have changed, and every feed pokes all its tables. TCP keepalives notice
//! a connection that died silently within about half a minute.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_query::{Alias, Expr, Func, Query, SelectStatement};
use tokio_postgres::{AsyncMessage, NoTls};

use super::ChangeSink;

/// The channel every write notifies.
pub(super) const CHANNEL: &str = "tablesync_feed";

/// Who notifies: an instance, and the schema its tables are in.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub(super) instance: String,
    pub(super) schema: String,
}

/// A notification's payload.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    instance: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    schema: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    table: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    owner: std::borrow::Cow<'a, str>,
}

/// The statement that notifies a write to `table` by `owner`, in the write's
/// transaction.
pub(super) fn notify(origin: &Origin, table: &str, owner: &str) -> SelectStatement {
    let payload = serde_json::to_string(&Payload {
        instance: origin.instance.as_str().into(),
        schema: origin.schema.as_str().into(),
        table: table.to_ascii_lowercase().into(),
        owner: owner.into(),
    })
    // Strings only: serializing cannot fail.
    .unwrap_or_default();
    Query::select()
        .expr(
            Func::cust(Alias::new("pg_notify"))
                .arg(Expr::val(CHANNEL))
                .arg(Expr::val(payload)),
        )
        .to_owned()
}

/// What a listener of `origin` does with a payload.
#[derive(Debug, PartialEq)]
enum Heard<'a> {
    /// Another instance of this schema wrote.
    Write(Payload<'a>),
    /// This instance (reported already), another schema's, or not ours.
    Skip,
}

fn heard<'a>(origin: &Origin, payload: &'a str) -> Heard<'a> {
    match serde_json::from_str::<Payload<'a>>(payload) {
        Ok(p) if p.schema == origin.schema && p.instance != origin.instance => Heard::Write(p),
        _ => Heard::Skip,
    }
}

/// The sinks fed by an instance's listening connection; the connection's task ends
/// when this is dropped (with the backend).
pub(super) struct Listener {
    sinks: Arc<Mutex<Vec<ChangeSink>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Starts listening, as `origin`, with the backend's connection settings, and
    /// waits up to `wait` until it listens: so that the instance serves no feed before
    /// it can hear the others (after that wait it goes on trying, and reports the gap
    /// once it listens).
    pub(super) async fn start(
        mut config: tokio_postgres::Config,
        origin: Origin,
        wait: Duration,
    ) -> Listener {
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        let sinks: Arc<Mutex<Vec<ChangeSink>>> = Arc::default();
        let (ready, listening) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(config, origin, Arc::clone(&sinks), ready));
        if tokio::time::timeout(wait, listening).await.is_err() {
            tracing::warn!(
                "the change feed's LISTEN connection is not up yet: feeds hear only this \
                 instance's writes until it is"
            );
        }
        Listener { sinks, task }
    }

    pub(super) fn add(&self, sink: ChangeSink) {
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sink);
    }
}

fn report(sinks: &Mutex<Vec<ChangeSink>>, table: Option<&str>, owner: &str) {
    sinks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|sink| sink(table, owner));
}

async fn run(
    config: tokio_postgres::Config,
    origin: Origin,
    sinks: Arc<Mutex<Vec<ChangeSink>>>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut ready = Some(ready);
    loop {
        let listened = session(&config, &origin, &sinks, &mut ready).await;
        match listened {
            Ok(true) => backoff = Duration::from_millis(100),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                error = %e,
                retry_ms = backoff.as_millis() as u64,
                "the change feed's LISTEN connection failed; other instances' writes \
                 reach this instance's feeds again once it is back"
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// One listening connection, until it fails; `Ok(true)` when it got to listen.
async fn session(
    config: &tokio_postgres::Config,
    origin: &Origin,
    sinks: &Mutex<Vec<ChangeSink>>,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<bool, tokio_postgres::Error> {
    let (client, mut conn) = config.connect(NoTls).await?;
    // A constant statement: nothing of it comes from outside.
    let listen = client.batch_execute("LISTEN tablesync_feed");
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            r = &mut listen, if !listening => {
                r?;
                listening = true;
                // Whatever was committed before now was not heard, unless no feed
                // could be open yet (the backend was still waiting for this).
                let awaited = ready.take().is_some_and(|r| r.send(()).is_ok());
                if !awaited {
                    report(sinks, None, "");
                }
            }
            m = std::future::poll_fn(|cx| conn.poll_message(cx)) => match m {
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANNEL => {
                    if let Heard::Write(p) = heard(origin, n.payload()) {
                        report(sinks, Some(&p.table), &p.owner);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(listening),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_hears_the_other_instances_of_its_schema_and_the_statement_binds() {
        let origin = |instance: &str, schema: &str| Origin {
            instance: instance.into(),
            schema: schema.into(),
        };
        let (me, other, elsewhere) = (origin("a", "app"), origin("b", "app"), origin("c", "x"));
        let payload = |o: &Origin, owner: &str| {
            let (_, values) = notify(o, "Todo", owner).build(sea_query::PostgresQueryBuilder);
            match &values.0[1] {
                sea_query::Value::String(Some(s)) => s.to_string(),
                v => panic!("{v:?}"),
            }
        };
        let p = payload(&other, "o|\"x");
        match heard(&me, &p) {
            Heard::Write(w) => assert_eq!((&*w.table, &*w.owner), ("todo", "o|\"x")),
            Heard::Skip => panic!("{p}"),
        }
        assert_eq!(heard(&me, &payload(&me, "")), Heard::Skip, "its own");
        assert_eq!(
            heard(&me, &payload(&elsewhere, "")),
            Heard::Skip,
            "another schema"
        );
        assert_eq!(heard(&me, "hello"), Heard::Skip);
        let (sql, values) = notify(&me, "Todo", "o").build(sea_query::PostgresQueryBuilder);
        assert_eq!(sql, "SELECT pg_notify($1, $2)");
        assert_eq!(values.0.len(), 2, "the channel and the payload are bound");
    }
}
