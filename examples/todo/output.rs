//! How the app talks to people: lines on stdout, and text made safe and short enough
//! for a table cell.

use std::io::Write;

/// Prints one line on stdout, like `println!`, except that a closed pipe
/// (`todo list | head -1`) ends the program quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(::std::format_args!($($arg)*))
    };
}
pub(crate) use say;

pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Nothing sensible is left to say on a stdout that fails otherwise.
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Text for one table cell: control characters (a pasted newline or an escape
/// sequence) become spaces, and anything longer than `max` characters is cut with `…`.
pub fn cell(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `n` with its noun, singular or plural.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
