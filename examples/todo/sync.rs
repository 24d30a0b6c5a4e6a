//! push, pull and sync: the only commands that talk to the server. A pull shows its
//! progress from the engine's `SyncEvent::PullProgress` events: a live counter on a
//! terminal, plain lines when the output goes to a file or a pipe.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tablesync::engine::{PushReport, PushStatus, SyncEvent};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::device::Device;
use crate::output::{cell, count, say};

/// The query id of the app's one pull: everything in the table.
pub const ALL: &str = "all";

pub async fn push(device: &Device) -> anyhow::Result<()> {
    let report = device.ctx.push().await.map_err(|e| device.explain(e))?;
    describe_push(device, &report).await
}

pub async fn pull(device: &Device) -> anyhow::Result<()> {
    let mut events = device.ctx.subscribe();
    let mut progress = Progress::new();
    let pull = device.todos.pull(ALL, None);
    tokio::pin!(pull);
    let result = loop {
        tokio::select! {
            result = &mut pull => break result,
            event = events.recv() => match event {
                Ok(event) => progress.see(&event),
                // Missed events only mean a coarser counter.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => {}
            },
        }
    };
    loop {
        match events.try_recv() {
            Ok(event) => progress.see(&event),
            Err(TryRecvError::Lagged(_)) => continue,
            Err(_) => break,
        }
    }
    progress.finish();
    let report = result.map_err(|e| device.explain(e))?;
    // A pull first pushes the table's pending changes; its conflicts are in the count.
    let conflicts = report.conflicts;
    if let Some(push) = &report.push {
        if push.pushed > 0 {
            say!("pushed {} first", count(push.pushed, "change", "changes"));
        }
        say_rejections(push);
    }
    if report.received == 0 {
        say!("up to date");
    } else {
        say!("pulled {}", count(report.received, "row", "rows"));
    }
    if conflicts > 0 {
        say!(
            "{}: see `todo conflicts`",
            count(conflicts, "conflict", "conflicts")
        );
    }
    Ok(())
}

pub async fn sync(device: &Device) -> anyhow::Result<()> {
    push(device).await?;
    pull(device).await
}

/// Says what a push did; an unreachable server is an error (exit code 1) so that a
/// script notices, but nothing is lost: the engine keeps every change queued.
async fn describe_push(device: &Device, report: &PushReport) -> anyhow::Result<()> {
    let left = device.ctx.pending_count().await?;
    match &report.status {
        PushStatus::NetworkError(message) => bail!(
            "{}; {} still queued: push again when it is up",
            device.unreachable(message),
            count(left, "change", "changes")
        ),
        PushStatus::AuthError(message) => bail!(
            "{}; {} still queued",
            device.refused(message),
            count(left, "change", "changes")
        ),
        PushStatus::Aborted => say!(
            "push stopped early; {} still queued",
            count(left, "change", "changes")
        ),
        PushStatus::Complete => {}
        // A status a later version adds: say it as it is.
        other => say!("push ended: {other:?}"),
    }
    if report.total == 0 && report.held == 0 {
        say!("nothing to push");
        return Ok(());
    }
    if report.total > 0 && report.pushed == report.total {
        say!("pushed {}", count(report.pushed, "change", "changes"));
    } else if report.total > 0 {
        say!(
            "pushed {} of {}",
            report.pushed,
            count(report.total, "change", "changes")
        );
    }
    if report.conflicts > 0 {
        say!(
            "{}: see `todo conflicts`",
            count(report.conflicts, "conflict", "conflicts")
        );
    }
    if report.held > 0 {
        say!(
            "{} held back until resolved: see `todo conflicts`",
            count(report.held, "change", "changes")
        );
    }
    say_rejections(report);
    Ok(())
}

fn say_rejections(report: &PushReport) {
    for failure in &report.failed {
        say!(
            "rejected by the server: {} ({}); it stays queued",
            crate::device::short(&failure.id, 8),
            cell(&failure.error.message, 120)
        );
    }
}

/// Rows received so far, shown as they come.
enum Progress {
    /// A spinner and a counter on the terminal, turned into a bar with a total and a
    /// rate once the server says how many rows are coming (a tablesync server does).
    Bar { bar: ProgressBar, sized: bool },
    /// Plain lines, each printed when the next page arrives: the last one would only
    /// repeat the summary, and a pull of one page prints nothing but the summary.
    Lines { held: Option<(usize, Option<u64>)> },
}

impl Progress {
    fn new() -> Progress {
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            let style = ProgressStyle::with_template("{spinner} pulling: {pos} rows {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            // Keeps the spinner turning while a slow page is on its way.
            bar.enable_steady_tick(Duration::from_millis(120));
            Progress::Bar { bar, sized: false }
        } else {
            Progress::Lines { held: None }
        }
    }

    fn see(&mut self, event: &SyncEvent) {
        let SyncEvent::PullProgress {
            received, total, ..
        } = event
        else {
            return;
        };
        match self {
            Progress::Bar { bar, sized } => {
                if let (Some(total), false) = (total, *sized) {
                    *sized = true;
                    bar.set_length(*total);
                    let style = ProgressStyle::with_template(
                        "pulling [{bar:30}] {pos}/{len} rows, {per_sec}, {eta} left",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_position(*received as u64);
            }
            Progress::Lines { held } => {
                if let Some((previous, total)) = held.replace((*received, *total)) {
                    match total {
                        Some(total) => say!("pulled {previous} of {total} rows…"),
                        None => say!("pulled {previous} rows…"),
                    }
                }
            }
        }
    }

    fn finish(self) {
        if let Progress::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}
