//! The conflict demo: tablesync's tutorial, played end to end in one process.
//!
//! A tablesync server starts on an ephemeral loopback port over an embedded SQLite
//! database; two devices (a phone and a laptop, each with its own SQLite store) sync
//! through it over HTTP. The phone adds items and pushes; the laptop changes an item
//! behind the phone's back; the phone, offline, edits the same item and pushes. The push
//! reports the conflict, shown side by side, and it is resolved each of the three ways
//! (keep local, keep remote, a merged value) before both devices end converged.
//!
//! Run with `cargo run --example conflict_demo` (set `RUST_LOG=info` for the logs).

use std::path::PathBuf;

use sync_http::HttpTransport;
use tablesync::chrono::NaiveDate;
use tablesync::conflict::Conflict;
use tablesync::engine::{SyncContext, SyncTable};
use tablesync::store::Query;
use tablesync::{SqliteStore, Syncable};

#[derive(Syncable, Debug, Clone, PartialEq)]
#[table("TodoWithDate")]
struct TodoItem {
    id: String,
    text: String,
    complete: bool,
    due_date: NaiveDate,
    #[version]
    version: Option<String>,
}

type Device = SyncContext<SqliteStore, HttpTransport>;
type Todos = SyncTable<TodoItem, SqliteStore, HttpTransport>;
type Error = Box<dyn std::error::Error>;

fn date(y: i32, m: u32, d: u32) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("bad date {y}-{m}-{d}").into())
}

fn describe(t: &TodoItem) -> String {
    format!(
        "[{}] {:<26} due {}",
        if t.complete { "x" } else { " " },
        format!("{:?}", t.text),
        t.due_date
    )
}

/// The conflict side by side: each field, local against remote, marked where they differ.
fn show_conflict(c: &Conflict<TodoItem>) {
    let differing = c.differing_fields();
    println!(
        "    {:<10} {:<24} {:<24} base",
        "field", "local (phone)", "remote (server)"
    );
    let side = |t: &Option<TodoItem>, f: &str| match t {
        None => "(deleted)".to_string(),
        Some(t) => match f {
            "text" => format!("{:?}", t.text),
            "complete" => t.complete.to_string(),
            _ => t.due_date.to_string(),
        },
    };
    for field in ["text", "complete", "due_date"] {
        let mark = if differing.contains(&field) {
            "  <- differs"
        } else {
            ""
        };
        println!(
            "    {:<10} {:<24} {:<24} {}{mark}",
            field,
            side(&c.local, field),
            side(&c.remote, field),
            side(&c.base, field)
        );
    }
}

async fn list(label: &str, todos: &Todos) -> Result<Vec<TodoItem>, Error> {
    let items = todos
        .query(Query::new().sort(TodoItem::columns().due_date.asc()))
        .await?;
    println!("  {label}:");
    for t in &items {
        println!("    {}", describe(t));
    }
    Ok(items)
}

/// The laptop changes `complete`; the phone, offline, changes `text`; the phone pushes.
async fn make_conflict(
    round: usize,
    phone: &Device,
    phone_todos: &Todos,
    laptop: &Device,
    laptop_todos: &Todos,
    id: &str,
    new_text: &str,
) -> Result<Conflict<TodoItem>, Error> {
    laptop_todos.pull("all", None).await?;
    let mut on_laptop = laptop_todos
        .get(id)
        .await?
        .ok_or("the laptop lost the item")?;
    on_laptop.complete = !on_laptop.complete;
    laptop_todos.update(on_laptop.clone()).await?;
    laptop.push().await?;
    println!(
        "  laptop: marks {:?} {} and syncs",
        on_laptop.text,
        if on_laptop.complete {
            "done"
        } else {
            "not done"
        }
    );

    let mut on_phone = phone_todos
        .get(id)
        .await?
        .ok_or("the phone lost the item")?;
    println!(
        "  phone (offline, still sees the old copy): renames {:?} to {new_text:?}",
        on_phone.text
    );
    on_phone.text = new_text.into();
    phone_todos.update(on_phone).await?;

    let report = phone.push().await?;
    println!(
        "  phone: push -> {:?}, {} pushed, {} conflict(s)",
        report.status, report.pushed, report.conflicts
    );
    let mut conflicts = phone_todos.conflicts().await?;
    if conflicts.len() != 1 {
        return Err(format!(
            "round {round}: expected one conflict, found {}",
            conflicts.len()
        )
        .into());
    }
    let c = conflicts.remove(0);
    show_conflict(&c);
    Ok(c)
}

fn temp_dir() -> Result<PathBuf, Error> {
    let dir = std::env::temp_dir().join(format!("tablesync-demo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn run(dir: &std::path::Path) -> Result<(), Error> {
    // The server: an embedded SQLite database, an ephemeral loopback port.
    let db = dir.join("server.db");
    let config = sync_server::Config::open(&format!("sqlite://{}", db.display())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = sync_server::serve(listener, config).await?;
    println!(
        "tablesync server listening on {} (SQLite: {})\n",
        server.url(),
        db.display()
    );

    let device = |name: &str| -> Result<Device, Error> {
        Ok(SyncContext::new(
            SqliteStore::open(dir.join(format!("{name}.db")))?,
            HttpTransport::new(server.url())?,
        ))
    };
    let (phone, laptop) = (device("phone")?, device("laptop")?);
    let phone_todos = phone.table::<TodoItem>().await?;
    let laptop_todos = laptop.table::<TodoItem>().await?;

    println!("1. The phone adds three items offline, then pushes.");
    let mut ids = Vec::new();
    for (text, due) in [
        ("Buy milk", date(2026, 12, 1)?),
        ("Call the plumber", date(2026, 12, 3)?),
        ("Book flights", date(2027, 1, 10)?),
    ] {
        let item = phone_todos
            .insert(TodoItem {
                id: String::new(),
                text: text.into(),
                complete: false,
                due_date: due,
                version: None,
            })
            .await?;
        ids.push(item.id);
    }
    println!("  phone: {} change(s) queued", phone.pending_count().await?);
    let report = phone.push().await?;
    println!(
        "  phone: push -> {:?}, {} pushed",
        report.status, report.pushed
    );
    let pulled = laptop_todos.pull("all", None).await?;
    println!("  laptop: pull -> {} item(s)", pulled.received);
    list("laptop sees", &laptop_todos).await?;

    println!("\n2. Conflict, resolved by keeping the phone's version (keep local).");
    make_conflict(
        2,
        &phone,
        &phone_todos,
        &laptop,
        &laptop_todos,
        &ids[0],
        "Buy oat milk",
    )
    .await?;
    phone_todos.keep_local(&ids[0]).await?;
    let r = phone.push().await?;
    println!(
        "  phone: keep_local, push -> {} pushed: the phone's whole version wins",
        r.pushed
    );

    println!("\n3. Conflict, resolved by taking the server's version (keep remote).");
    make_conflict(
        3,
        &phone,
        &phone_todos,
        &laptop,
        &laptop_todos,
        &ids[1],
        "Call Mario the plumber",
    )
    .await?;
    phone_todos.keep_remote(&ids[1]).await?;
    println!(
        "  phone: keep_remote -> the local edit is dropped, {} change(s) queued",
        phone.pending_count().await?
    );

    println!("\n4. Conflict, resolved with a merged value (3-way field merge).");
    let c = make_conflict(
        4,
        &phone,
        &phone_todos,
        &laptop,
        &laptop_todos,
        &ids[2],
        "Book flights to Lisbon",
    )
    .await?;
    let merged = c.merge().ok_or("a merge needs local, remote and base")?;
    println!(
        "  3-way merge against the base: the phone changed `text`, the laptop `complete`; clashes: {:?}",
        merged.clashes
    );
    phone_todos.use_value(merged.value).await?;
    let r = phone.push().await?;
    println!(
        "  phone: use_value, push -> {} pushed: both changes kept",
        r.pushed
    );

    println!("\n5. Both devices sync and converge.");
    phone_todos.pull("all", None).await?;
    laptop_todos.pull("all", None).await?;
    let on_phone = list("phone", &phone_todos).await?;
    let on_laptop = list("laptop", &laptop_todos).await?;
    let pending = phone.pending_count().await? + laptop.pending_count().await?;
    let conflicts = phone_todos.conflicts().await?.len() + laptop_todos.conflicts().await?.len();
    if on_phone != on_laptop || pending != 0 || conflicts != 0 {
        return Err(format!(
            "not converged: {pending} pending, {conflicts} conflicts, lists equal: {}",
            on_phone == on_laptop
        )
        .into());
    }
    println!(
        "  converged: same items and versions on both devices, nothing pending, no conflicts."
    );
    server.shutdown().await?;
    Ok(())
}

fn main() -> Result<(), Error> {
    // Quiet unless asked: the story is the output.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let dir = temp_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(&dir));
    // Leave nothing behind, whatever happened.
    let _ = std::fs::remove_dir_all(&dir);
    result
}
