//! `todo serve`: the tablesync server in the foreground, for trying the app on one
//! machine (`todo --db a.db ...` and `todo --db b.db ...` as two devices).

use anyhow::Context;

use crate::output::say;

pub async fn serve(listen: &str, database: &str) -> anyhow::Result<()> {
    let config = sync_server::Config::open(database)
        .await
        .with_context(|| format!("cannot open the server database `{database}`"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // The URL ends the first line: `--listen 127.0.0.1:0` picks a free port, and
    // whoever started the server reads the URL from here.
    say!("listening on http://{addr}");
    say!("tablesync server on {database}, no authentication; ctrl-c stops it");
    sync_server::serve_until(listener, sync_server::router(config), stopped())
        .await
        .context("the server failed")?;
    say!("server stopped");
    Ok(())
}

/// Ctrl-c, or SIGTERM from a process manager.
async fn stopped() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
