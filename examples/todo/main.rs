//! The tutorial's todo app on the command line: a local SQLite database per device,
//! push and pull against a tablesync server, and conflicts to look at and resolve.
//!
//! ```text
//! cargo run --example todo -- serve &                      # a server on 127.0.0.1:8080
//! cargo run --example todo -- --db a.db add "Buy milk" --due 2026-12-01
//! cargo run --example todo -- --db a.db push
//! cargo run --example todo -- --db b.db pull               # a second device
//! cargo run --example todo -- --db b.db list
//! cargo run --example todo -- --db b.db watch              # a live list
//! ```
//!
//! Ids can be shortened to any unique prefix, like git's hashes.

mod conflicts;
mod device;
mod items;
mod output;
mod serve;
mod sync;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::conflicts::Side;
use crate::device::Device;

/// A todo list that works offline and syncs through a tablesync server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// This device's database file.
    #[arg(long, global = true, env = "TODO_DB", default_value = "todo.db")]
    db: PathBuf,
    /// The tablesync server.
    #[arg(
        long,
        global = true,
        env = "TODO_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Adds a todo and prints its id.
    Add {
        /// What to do.
        text: String,
        /// When it is due: YYYY-MM-DD, today or tomorrow (default: today).
        #[arg(long)]
        due: Option<String>,
    },
    /// Lists the todos: * marks changes not pushed yet, ! marks conflicts.
    List,
    /// Marks a todo done.
    Done {
        /// The todo's id, or the first characters of it.
        id: String,
    },
    /// Changes a todo.
    Edit {
        /// The todo's id, or the first characters of it.
        id: String,
        /// The new text.
        #[arg(long)]
        text: Option<String>,
        /// The new due date: YYYY-MM-DD, today or tomorrow.
        #[arg(long)]
        due: Option<String>,
        /// Marks it not done.
        #[arg(long)]
        undone: bool,
    },
    /// Deletes a todo.
    Delete {
        /// The todo's id, or the first characters of it.
        id: String,
    },
    /// Sends this device's changes to the server.
    Push,
    /// Brings the server's changes to this device (pushing first if needed).
    Pull,
    /// Push, then pull.
    Sync,
    /// A live list: syncs in the background and redraws as changes arrive, with a
    /// status line (pending changes, retries), until ctrl-c.
    Watch {
        /// Seconds between pulls when the server has no change feed.
        #[arg(long, default_value_t = 10)]
        poll_secs: u64,
    },
    /// Shows each conflict: this device's version, the server's, and the last synced.
    Conflicts,
    /// Resolves a conflict; without a choice, asks about each one at the terminal.
    Resolve {
        /// The conflicting todo's id, or the first characters of it (default: all).
        id: Option<String>,
        /// The side to keep.
        #[arg(value_enum)]
        side: Option<Side>,
    },
    /// Runs a tablesync server in the foreground until ctrl-c.
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The server's database: sqlite://FILE, sqlite::memory: or postgres://...
        #[arg(long, default_value = "sqlite://todo-server.db")]
        database: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` puts the whole cause chain on one line.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        db,
        server,
        command,
    } = cli;
    if let Command::Serve { listen, database } = command {
        // A server answers several devices at once: give it every core.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(serve::serve(&listen, &database));
    }
    // One command, one request at a time: a single thread is plenty. SQLite work
    // still goes to the blocking pool (the engine sees to that).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let device = Device::open(&db, &server).await?;
        match command {
            Command::Add { text, due } => items::add(&device, text, due).await,
            Command::List => items::list(&device).await,
            Command::Done { id } => items::done(&device, &id).await,
            Command::Edit {
                id,
                text,
                due,
                undone,
            } => items::edit(&device, &id, items::Edit { text, due, undone }).await,
            Command::Delete { id } => items::delete(&device, &id).await,
            Command::Push => sync::push(&device).await,
            Command::Pull => sync::pull(&device).await,
            Command::Sync => sync::sync(&device).await,
            Command::Watch { poll_secs } => {
                watch::watch(&device, std::time::Duration::from_secs(poll_secs)).await
            }
            Command::Conflicts => conflicts::show_all(&device).await,
            Command::Resolve { id, side } => conflicts::resolve(&device, id.as_deref(), side).await,
            Command::Serve { .. } => unreachable!("handled above"),
        }
    })
}
