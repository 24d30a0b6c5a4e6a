//! `todo watch`: a live list. A background syncer pushes this device's changes and
//! pulls everyone else's by itself; the list is drawn again after every change that
//! reaches the local database, with a status line under it ("2 changes waiting,
//! retrying in 8 s"). On a terminal the screen is redrawn in place; into a pipe or a
//! file each drawing is appended, separated by a blank line.

use std::io::IsTerminal;
use std::time::Duration;

use tablesync::engine::{Activity, SyncStatus, SyncerOptions};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::device::Device;
use crate::items;
use crate::output::{count, say};
use crate::sync::ALL;

pub async fn watch(device: &Device, poll: Duration) -> anyhow::Result<()> {
    device.todos.register_pull(ALL, None).await?;
    let mut changes = device.ctx.changes();
    let syncer = device.ctx.spawn_syncer(SyncerOptions {
        poll_interval: poll,
        ..SyncerOptions::default()
    });
    let mut status = syncer.status();
    let terminal = std::io::stdout().is_terminal();
    let mut last_line = String::new();
    draw(device, terminal, &status.borrow().clone()).await?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            change = changes.recv() => {
                if let Err(RecvError::Closed) = change {
                    break;
                }
                // A burst of commits is one drawing.
                while changes.try_recv().is_ok() {}
                let now = status.borrow().clone();
                draw(device, terminal, &now).await?;
                last_line = status_line(&now, terminal);
            }
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = status.borrow().clone();
                let line = status_line(&now, terminal);
                // The status alone changed: only its line is news.
                if line != last_line {
                    if terminal {
                        draw(device, terminal, &now).await?;
                    } else {
                        say!("{line}");
                    }
                    last_line = line;
                }
            }
        }
    }
    syncer.stop().await;
    Ok(())
}

async fn draw(device: &Device, terminal: bool, status: &SyncStatus) -> anyhow::Result<()> {
    if terminal {
        // Clear the screen and go home, then draw.
        print!("\x1b[2J\x1b[H");
    } else {
        say!("");
    }
    items::list(device).await?;
    say!("{}", status_line(status, terminal));
    Ok(())
}

/// "synced", "2 changes waiting, retrying in 8 s", "offline". What it is doing this
/// instant (uploading, downloading) only on a terminal: in a log it is noise.
fn status_line(s: &SyncStatus, activity: bool) -> String {
    let mut parts = Vec::new();
    match s.activity {
        Activity::Uploading if activity => parts.push("uploading".to_owned()),
        Activity::Downloading if activity => parts.push("downloading".to_owned()),
        _ => {}
    }
    if s.pending > 0 {
        parts.push(format!("{} waiting", count(s.pending, "change", "changes")));
    }
    if s.conflicts > 0 {
        parts.push(count(s.conflicts, "conflict", "conflicts"));
    }
    if s.auth_paused {
        parts.push("paused: the server refused our credentials".to_owned());
    } else if let Some(at) = s.next_retry {
        let secs = at.saturating_duration_since(Instant::now()).as_secs();
        parts.push(format!("retrying in {secs} s"));
    }
    if s.online == Some(false) {
        parts.push("offline".to_owned());
    }
    if parts.is_empty() {
        parts.push(
            match (s.last_success, s.feed_connected) {
                (Some(_), true) => "synced (live)",
                (Some(_), false) => "synced",
                (None, _) => "connecting",
            }
            .to_owned(),
        );
    }
    format!("-- {}", parts.join(", "))
}
