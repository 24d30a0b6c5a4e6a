//! Conflicts: showing local, remote and base side by side, and resolving them, by
//! argument (`todo resolve ID local`) or by asking at the terminal.

use std::io::{IsTerminal, Write};

use anyhow::{Context, bail};
use tablesync::conflict::{Conflict, ConflictKind, Resolution};

use crate::device::{Device, TodoItem, resolve_prefix, short, short_len};
use crate::output::{cell, count, say};

/// Which side of a conflict to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// This device's version.
    Local,
    /// The server's version.
    Remote,
}

/// The widest a value gets in the side-by-side view.
const CELL: usize = 30;

pub async fn show_all(device: &Device) -> anyhow::Result<()> {
    let conflicts = device.todos.conflicts().await?;
    if conflicts.is_empty() {
        say!("no conflicts");
        return Ok(());
    }
    let width = id_width(&conflicts);
    for (i, c) in conflicts.iter().enumerate() {
        if i > 0 {
            say!("");
        }
        show(c, width);
    }
    say!("");
    say!(
        "{}. Keep one side with: todo resolve ID local|remote",
        count(conflicts.len(), "conflict", "conflicts")
    );
    Ok(())
}

/// `todo resolve [ID] [local|remote]`.
pub async fn resolve(
    device: &Device,
    prefix: Option<&str>,
    side: Option<Side>,
) -> anyhow::Result<()> {
    let conflicts = device.todos.conflicts().await?;
    if let (Some(word @ ("local" | "remote")), None) = (prefix, side)
        && !conflicts.iter().any(|c| c.id.starts_with(word))
    {
        bail!("say which conflict: todo resolve ID {word}");
    }
    let chosen: Vec<Conflict<TodoItem>> = match prefix {
        Some(prefix) => {
            let ids: Vec<String> = conflicts.iter().map(|c| c.id.clone()).collect();
            let id = resolve_prefix(prefix, &ids, "conflict").map_err(|e| {
                // An id that exists but is not in conflict deserves its own message.
                if ids.is_empty() {
                    e.context("there are no conflicts")
                } else {
                    e
                }
            })?;
            conflicts.into_iter().filter(|c| c.id == id).collect()
        }
        None => conflicts,
    };
    match (side, prefix) {
        (Some(side), Some(_)) => {
            let c = &chosen[0];
            apply(device, &c.id, side).await?;
            say!("{}; `todo push` sends it", resolved_message(&c.id, side));
            Ok(())
        }
        (Some(_), None) => bail!("say which conflict: todo resolve ID local|remote"),
        (None, _) if chosen.is_empty() => {
            say!("no conflicts");
            Ok(())
        }
        (None, _) if !std::io::stdin().is_terminal() => bail!(
            "no choice given: pass `local` or `remote`, like `todo resolve {} local` \
             (asking needs a terminal)",
            short(&chosen[0].id, 8)
        ),
        (None, _) => ask(device, chosen).await,
    }
}

/// Asks about each conflict in turn at the terminal.
async fn ask(device: &Device, conflicts: Vec<Conflict<TodoItem>>) -> anyhow::Result<()> {
    let width = id_width(&conflicts);
    let (mut resolved, mut skipped) = (0, 0);
    'conflicts: for c in &conflicts {
        show(c, width);
        loop {
            let Some(answer) = prompt("keep [l]ocal / [r]emote / [s]kip? ").await? else {
                say!("");
                break 'conflicts;
            };
            let side = match answer.trim().to_ascii_lowercase().as_str() {
                "l" | "local" => Side::Local,
                "r" | "remote" => Side::Remote,
                "s" | "skip" | "" => {
                    skipped += 1;
                    break;
                }
                _ => {
                    say!("answer l, r or s");
                    continue;
                }
            };
            apply(device, &c.id, side).await?;
            say!("{}", resolved_message(&c.id, side));
            resolved += 1;
            break;
        }
        say!("");
    }
    let left = conflicts.len() - resolved;
    say!(
        "resolved {resolved}, skipped {skipped}, {} left{}",
        count(left, "conflict", "conflicts"),
        if resolved > 0 {
            "; `todo push` sends the resolutions"
        } else {
            ""
        }
    );
    Ok(())
}

/// One line from the terminal, or `None` at end of input.
async fn prompt(question: &str) -> anyhow::Result<Option<String>> {
    let question = question.to_owned();
    // Reading stdin blocks: keep it off the runtime like the store's work.
    tokio::task::spawn_blocking(move || {
        print!("{question}");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        let n = std::io::stdin().read_line(&mut answer)?;
        Ok::<_, std::io::Error>((n > 0).then_some(answer))
    })
    .await?
    .context("reading the answer")
}

async fn apply(device: &Device, id: &str, side: Side) -> anyhow::Result<()> {
    let resolution = match side {
        Side::Local => Resolution::KeepLocal,
        Side::Remote => Resolution::KeepRemote,
    };
    device.todos.resolve(id, resolution).await?;
    Ok(())
}

fn resolved_message(id: &str, side: Side) -> String {
    match side {
        Side::Local => format!("kept this device's version of {}", short(id, 8)),
        Side::Remote => format!("took the server's version of {}", short(id, 8)),
    }
}

fn id_width(conflicts: &[Conflict<TodoItem>]) -> usize {
    let ids: Vec<&str> = conflicts.iter().map(|c| c.id.as_str()).collect();
    short_len(&ids)
}

/// A row of the side-by-side view: its label, the field as `differing_fields` names
/// it, and how to show an item's value.
type Row = (&'static str, &'static str, fn(&TodoItem) -> String);

/// One conflict, the three versions side by side; a `*` marks the fields where local
/// and remote differ.
fn show(c: &Conflict<TodoItem>, id_width: usize) {
    let how = match c.kind {
        ConflictKind::Push => "the server had changed it when this device pushed",
        ConflictKind::Pull => "a pull brought a server change on top of an unpushed one",
    };
    say!("conflict on {}: {how}", short(&c.id, id_width));
    let sides = [
        ("local (this device)", &c.local, "(deleted here)"),
        ("remote (server)", &c.remote, "(deleted on the server)"),
        ("base (last synced)", &c.base, "(never synced)"),
    ];
    let rows: [Row; 3] = [
        ("text", "text", |t| cell(&t.text, CELL)),
        ("done", "complete", |t| {
            if t.complete { "yes" } else { "no" }.to_owned()
        }),
        ("due", "due_date", |t| t.due_date.to_string()),
    ];
    let differing = c.differing_fields();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(row, (_, _, value))| {
            sides
                .iter()
                .map(|(_, item, missing)| match item {
                    Some(t) => value(t),
                    // A deleted side has no fields: say so once, in the first row.
                    None if row == 0 => (*missing).to_owned(),
                    None => String::new(),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..sides.len())
        .map(|s| {
            cells
                .iter()
                .map(|r| r[s].chars().count())
                .chain([sides[s].0.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    say!(
        "          {:<w0$}   {:<w1$}   {}",
        sides[0].0,
        sides[1].0,
        sides[2].0,
        w0 = widths[0],
        w1 = widths[1]
    );
    for ((label, field, _), values) in rows.iter().zip(&cells) {
        let mark = if differing.contains(field) { '*' } else { ' ' };
        say!(
            "  {label:<4} {mark}  {:<w0$}   {:<w1$}   {}",
            values[0],
            values[1],
            values[2],
            w0 = widths[0],
            w1 = widths[1]
        );
    }
    let names: Vec<&str> = rows
        .iter()
        .filter(|(_, field, _)| differing.contains(field))
        .map(|(label, _, _)| *label)
        .collect();
    if c.involves_delete() {
        say!("  one side deleted it");
    } else if !names.is_empty() {
        say!("  differs: {}", names.join(", "));
    }
}
