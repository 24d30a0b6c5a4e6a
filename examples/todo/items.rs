//! The local commands: add, list, done, edit, delete. They read and write the device's
//! store only; each write queues its change for the next push.

use anyhow::{Context, bail};
use tablesync::chrono::{Days, Local, NaiveDate};

use crate::device::{Device, TodoItem, short, short_len};
use crate::output::{cell, count, say};

/// A date as the user types it: `2026-12-01`, `today` or `tomorrow`.
pub fn parse_date(text: &str) -> anyhow::Result<NaiveDate> {
    let today = Local::now().date_naive();
    match text.trim() {
        "today" => Ok(today),
        "tomorrow" => today
            .checked_add_days(Days::new(1))
            .context("tomorrow is past the last date chrono knows"),
        other => NaiveDate::parse_from_str(other, "%Y-%m-%d").with_context(|| {
            format!("bad date `{other}`: expected YYYY-MM-DD (like 2026-12-01), today or tomorrow")
        }),
    }
}

pub async fn add(device: &Device, text: String, due: Option<String>) -> anyhow::Result<()> {
    if text.trim().is_empty() {
        bail!("a todo needs some text");
    }
    let due_date = match due {
        Some(d) => parse_date(&d)?,
        None => Local::now().date_naive(),
    };
    let item = device
        .todos
        .insert(TodoItem {
            id: String::new(),
            text,
            complete: false,
            due_date,
            version: None,
        })
        .await?;
    // The full id, alone on its line, so that scripts can capture it.
    say!("{}", item.id);
    Ok(())
}

pub async fn list(device: &Device) -> anyhow::Result<()> {
    let mut items = device.todos.all().await?;
    if items.is_empty() {
        say!("No todos. Add one with: todo add \"buy milk\" --due 2026-12-01");
        return Ok(());
    }
    items.sort_by(|a, b| (a.due_date, &a.text, &a.id).cmp(&(b.due_date, &b.text, &b.id)));
    let pending = device.pending_ids().await?;
    let conflicts = device.conflict_ids().await?;
    let ids: Vec<&str> = items.iter().map(|t| t.id.as_str()).collect();
    let width = short_len(&ids);
    say!("  {:<width$}  {:<10}  TEXT", "ID", "DUE");
    for item in &items {
        let mark = if conflicts.contains(&item.id) {
            '!'
        } else if pending.contains(&item.id) {
            '*'
        } else {
            ' '
        };
        let done = if item.complete { "[x]" } else { "[ ]" };
        say!(
            "{mark} {:<width$}  {}  {done} {}",
            short(&item.id, width),
            item.due_date,
            cell(&item.text, 200),
        );
    }
    let done = items.iter().filter(|t| t.complete).count();
    say!("{}, {done} done", count(items.len(), "todo", "todos"));
    let unsent = items
        .iter()
        .filter(|t| pending.contains(&t.id) && !conflicts.contains(&t.id))
        .count();
    let mut legend = Vec::new();
    if unsent > 0 {
        legend.push("* not pushed yet".to_owned());
    }
    if !conflicts.is_empty() {
        legend.push("! in conflict: see `todo conflicts`".to_owned());
    }
    if !legend.is_empty() {
        say!("{}", legend.join("   "));
    }
    Ok(())
}

pub async fn done(device: &Device, prefix: &str) -> anyhow::Result<()> {
    let mut item = device.find(prefix).await?;
    let id = short(&item.id, 8).to_owned();
    if item.complete {
        say!("{id} is already done: {}", cell(&item.text, 60));
        return Ok(());
    }
    item.complete = true;
    let text = cell(&item.text, 60);
    device.todos.update(item).await?;
    say!("done: {id} {text}");
    Ok(())
}

pub struct Edit {
    pub text: Option<String>,
    pub due: Option<String>,
    pub undone: bool,
}

pub async fn edit(device: &Device, prefix: &str, edit: Edit) -> anyhow::Result<()> {
    if edit.text.is_none() && edit.due.is_none() && !edit.undone {
        bail!("nothing to change: pass --text, --due or --undone");
    }
    // Check the input before looking anything up, so a typo costs nothing.
    let due = edit.due.as_deref().map(parse_date).transpose()?;
    if edit.text.as_deref().is_some_and(|t| t.trim().is_empty()) {
        bail!("a todo needs some text");
    }
    let mut item = device.find(prefix).await?;
    let before = item.clone();
    if let Some(text) = edit.text {
        item.text = text;
    }
    if let Some(due) = due {
        item.due_date = due;
    }
    if edit.undone {
        item.complete = false;
    }
    let id = short(&item.id, 8).to_owned();
    if item == before {
        say!("{id} already looks like that: nothing changed");
        return Ok(());
    }
    let shown = format!(
        "{} {} {}",
        if item.complete { "[x]" } else { "[ ]" },
        item.due_date,
        cell(&item.text, 60)
    );
    device.todos.update(item).await?;
    say!("edited {id}: {shown}");
    Ok(())
}

pub async fn delete(device: &Device, prefix: &str) -> anyhow::Result<()> {
    let item = device.find(prefix).await?;
    device.todos.delete(&item.id).await?;
    say!("deleted {} {}", short(&item.id, 8), cell(&item.text, 60));
    Ok(())
}
