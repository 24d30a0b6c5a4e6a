//! `tablesync-server`: the tablesync server as a program.
//!
//! ```text
//! tablesync-server --database sqlite://app.db --jwt-secret "$SECRET" --per-user
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use sync_server::{Auth, Config, ServeLimits};
use tracing_subscriber::EnvFilter;

/// The tablesync server: the Azure Mobile Apps table protocol over SQLite or PostgreSQL.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "TABLESYNC_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// `sqlite://path`, `sqlite::memory:` or `postgres://user@host:port/db`.
    #[arg(
        long,
        env = "TABLESYNC_DATABASE",
        default_value = "sqlite://tablesync.db"
    )]
    database: String,
    /// Require this key in `X-API-KEY` or `Authorization: Bearer`.
    #[arg(
        long,
        env = "TABLESYNC_API_KEY",
        conflicts_with = "jwt_secret",
        hide_env_values = true
    )]
    api_key: Option<String>,
    /// Require an HS256 JWT signed with this secret (`X-ZUMO-AUTH` or `Authorization: Bearer`).
    #[arg(long, env = "TABLESYNC_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Each row belongs to the token's `sub` (needs --jwt-secret).
    #[arg(long, env = "TABLESYNC_PER_USER", requires = "jwt_secret")]
    per_user: bool,
    /// Largest `$top` accepted.
    #[arg(long, env = "TABLESYNC_MAX_PAGE_SIZE", default_value_t = sync_server::DEFAULT_MAX_PAGE_SIZE)]
    max_page_size: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "TABLESYNC_MAX_BODY", default_value_t = sync_server::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Longest URL (path and query), in bytes.
    #[arg(long, env = "TABLESYNC_MAX_URL", default_value_t = sync_server::DEFAULT_MAX_URL)]
    max_url: usize,
    /// Most terms in a `$filter` (comparisons, functions, constants).
    #[arg(long, env = "TABLESYNC_MAX_FILTER_TERMS", default_value_t = sync_server::query::DEFAULT_MAX_FILTER_TERMS)]
    max_filter_terms: usize,
    /// Deepest nesting of parentheses and `not` in a `$filter`.
    #[arg(long, env = "TABLESYNC_MAX_FILTER_DEPTH", default_value_t = sync_server::query::DEFAULT_MAX_FILTER_DEPTH)]
    max_filter_depth: usize,
    /// A JSON file declaring the tables and their columns' kinds, e.g.
    /// `{"TodoItem": {"text": "text", "complete": "bool"}}`.
    #[arg(long, env = "TABLESYNC_SCHEMA")]
    schema: Option<std::path::PathBuf>,
    /// Whether writes may add tables and columns the schema does not declare (default:
    /// true, except with --per-user).
    #[arg(long, env = "TABLESYNC_DYNAMIC_SCHEMA")]
    dynamic_schema: Option<bool>,
    /// Serve only these tables (comma-separated); by default any valid name.
    #[arg(long, env = "TABLESYNC_TABLES", value_delimiter = ',')]
    tables: Option<Vec<String>>,
    /// Time a client has to send a request head (`10s`, `500ms`, or seconds).
    #[arg(long, env = "TABLESYNC_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    header_timeout: Duration,
    /// Time a keep-alive connection may stay idle between requests.
    #[arg(long, env = "TABLESYNC_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Time to receive a request body and answer it (then 408 or 503).
    #[arg(long, env = "TABLESYNC_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Connections open at once [default: 1024, or the fd limit (ulimit -n) minus 64].
    #[arg(long, env = "TABLESYNC_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Largest request line plus headers, in bytes (more is a 431).
    #[arg(long, env = "TABLESYNC_MAX_HEADER_BYTES", default_value_t = sync_server::DEFAULT_MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// SQLite: reader threads (connections) serving reads beside the writer.
    #[arg(long, env = "TABLESYNC_SQLITE_READERS", default_value_t = sync_server::store::DEFAULT_SQLITE_READERS, value_parser = parse_positive)]
    sqlite_readers: usize,
    /// SQLite: requests that may wait for the readers, and for the writer; more are
    /// refused with 503 and Retry-After.
    #[arg(long, env = "TABLESYNC_SQLITE_QUEUE", default_value_t = sync_server::store::DEFAULT_SQLITE_QUEUE, value_parser = parse_positive)]
    sqlite_queue: usize,
    /// Longest time one statement may run (then 503); on PostgreSQL also the longest
    /// wait for a pooled connection.
    #[arg(long, env = "TABLESYNC_STATEMENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    statement_timeout: Duration,
    /// Most operations in one batch (`POST /tablesync/v1/batch`; more is a 400).
    #[arg(long, env = "TABLESYNC_MAX_BATCH", default_value_t = sync_server::DEFAULT_MAX_BATCH, value_parser = parse_positive)]
    max_batch: usize,
    /// Largest batch body, in bytes (more is a 413).
    #[arg(long, env = "TABLESYNC_MAX_BATCH_BYTES", default_value_t = sync_server::DEFAULT_MAX_BATCH_BYTES, value_parser = parse_positive)]
    max_batch_bytes: usize,
    /// How long a batch operation's idempotency key and answer are kept (`24h`, `90m`,
    /// `3600s`): a batch sent again within it applies nothing twice.
    #[arg(long, env = "TABLESYNC_KEY_WINDOW", default_value = "24h", value_parser = parse_duration)]
    key_window: Duration,
    /// Most rows in one streamed pull answer (`GET /tablesync/v1/stream/{table}`); the
    /// answer then says more follow and the client asks again after its last row.
    #[arg(long, env = "TABLESYNC_MAX_STREAM_ROWS", default_value_t = sync_server::DEFAULT_MAX_STREAM_ROWS as usize, value_parser = parse_positive)]
    max_stream_rows: usize,
    /// Seconds between the change feed's heartbeats (`GET /tablesync/v1/feed`); below
    /// --idle-timeout, which a heartbeat resets.
    #[arg(long, env = "TABLESYNC_FEED_HEARTBEAT_SECS", default_value_t = sync_server::DEFAULT_FEED_HEARTBEAT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    feed_heartbeat_secs: u64,
    /// Most change feeds open at once (each is also a connection of --max-connections);
    /// past it a feed request is a 503 and its client polls.
    #[arg(long, env = "TABLESYNC_MAX_FEED_CONNECTIONS", default_value_t = sync_server::DEFAULT_MAX_FEED_CONNECTIONS, value_parser = parse_positive)]
    max_feed_connections: usize,
    /// Most tables one change feed may ask about.
    #[arg(long, env = "TABLESYNC_MAX_FEED_TABLES", default_value_t = sync_server::DEFAULT_MAX_FEED_TABLES, value_parser = parse_positive)]
    max_feed_tables: usize,
    /// Milliseconds between two pokes of one feed at least: the writes in between
    /// become one poke per table.
    #[arg(long, env = "TABLESYNC_FEED_COALESCE_MS", default_value_t = sync_server::DEFAULT_FEED_COALESCE.as_millis() as u64)]
    feed_coalesce_ms: u64,
}

/// A whole number of at least 1.
fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

/// `10s`, `500ms`, `1.5s`, `90m`, `24h` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = num.trim().parse().map_err(|_| {
        format!("`{s}` is not a duration: write e.g. `10s`, `500ms`, `24h` or `10`")
    })?;
    Duration::try_from_secs_f64(value * scale)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{s}` is not a positive duration"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colour codes only for a person at a terminal, not in a log file or journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    let auth = match (args.api_key, args.jwt_secret) {
        (Some(key), _) => Auth::ApiKey(key),
        (None, Some(secret)) => Auth::Jwt {
            secret: secret.into_bytes(),
            per_user: args.per_user,
        },
        (None, None) => Auth::None,
    };
    if let Err(e) = auth.check() {
        tracing::error!("refusing to start: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let mut options = sync_server::store::StoreOptions::default();
    options.sqlite_readers = args.sqlite_readers;
    options.sqlite_queue = args.sqlite_queue;
    options.statement_timeout = args.statement_timeout;
    options.key_window = args.key_window;
    let mut config = match Config::open_with(&args.database, &options).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the database");
            return std::process::ExitCode::FAILURE;
        }
    };
    config = config
        .auth(auth)
        .max_page_size(args.max_page_size)
        .max_body(args.max_body)
        .max_url(args.max_url)
        .max_batch(args.max_batch, args.max_batch_bytes)
        .max_stream_rows(args.max_stream_rows as u64)
        .max_filter_terms(args.max_filter_terms)
        .max_filter_depth(args.max_filter_depth)
        .feed(
            Duration::from_secs(args.feed_heartbeat_secs),
            args.max_feed_tables,
            args.max_feed_connections,
            Duration::from_millis(args.feed_coalesce_ms),
        );
    if Duration::from_secs(args.feed_heartbeat_secs) >= args.idle_timeout {
        tracing::error!(
            "refusing to start: --feed-heartbeat-secs ({}) must be below --idle-timeout \
             ({} s), or every change feed is closed as idle",
            args.feed_heartbeat_secs,
            args.idle_timeout.as_secs_f64()
        );
        return std::process::ExitCode::FAILURE;
    }
    if let Some(tables) = args.tables {
        config = config.tables(tables);
    }
    if let Some(path) = &args.schema {
        let schema = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| sync_server::schema::Schema::from_json(&text));
        match schema {
            Ok(s) => config = config.schema(s),
            Err(e) => {
                tracing::error!("refusing to start: --schema {}: {e}", path.display());
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    if let Some(dynamic) = args.dynamic_schema {
        config = config.dynamic_schema(dynamic);
    }
    if let Err(e) = config.apply_schema().await {
        tracing::error!("refusing to start: the declared schema: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, listen = %args.listen, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut limits = ServeLimits::default()
        .header_timeout(args.header_timeout)
        .idle_timeout(args.idle_timeout)
        .request_timeout(args.request_timeout)
        .max_header_bytes(args.max_header_bytes);
    if let Some(n) = args.max_connections {
        limits = limits.max_connections(n);
    }
    if let Err(e) = limits.validate() {
        tracing::error!(error = %e, "invalid connection limits");
        return std::process::ExitCode::FAILURE;
    }
    tracing::info!(listen = %args.listen, "tablesync server listening");
    let app = sync_server::router(config);
    match sync_server::serve_until_with(listener, app, limits, shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_or_without_a_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        for bad in ["", "abc", "10d", "0", "-1s", "inf", "h"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn limit_flags_reach_the_limits() {
        let args = Args::parse_from([
            "tablesync-server",
            "--header-timeout",
            "2s",
            "--max-connections",
            "50",
        ]);
        assert_eq!(args.header_timeout, Duration::from_secs(2));
        assert_eq!(args.idle_timeout, sync_server::DEFAULT_IDLE_TIMEOUT);
        assert_eq!(args.max_connections, Some(50));
        assert_eq!(args.feed_heartbeat_secs, 15);
        let args = Args::parse_from([
            "tablesync-server",
            "--feed-heartbeat-secs",
            "5",
            "--max-feed-connections",
            "10",
        ]);
        assert_eq!(
            (args.feed_heartbeat_secs, args.max_feed_connections),
            (5, 10)
        );
        assert!(Args::try_parse_from(["tablesync-server", "--feed-heartbeat-secs", "0"]).is_err());
    }
}
