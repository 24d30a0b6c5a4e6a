//! `tablesync-server`: the tablesync server as a program.
//!
//! ```text
//! tablesync-server --database sqlite://app.db --jwt-secret "$SECRET" --per-user
//! ```

use std::net::SocketAddr;

use clap::Parser;
use sync_server::{Auth, Config};
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
    let mut config = match Config::open(&args.database).await {
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
        .max_filter_terms(args.max_filter_terms)
        .max_filter_depth(args.max_filter_depth);
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
    tracing::info!(listen = %args.listen, "tablesync server listening");
    match sync_server::serve_until(listener, sync_server::router(config), shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            std::process::ExitCode::FAILURE
        }
    }
}
