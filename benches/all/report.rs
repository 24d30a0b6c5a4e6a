//! The tables the benchmarks print: one row per figure, its ceiling beside it, the
//! ratio of the two, the target and whether it was met. Lines that are not figures
//! (a skipped case, a failed correctness check) are notes under the table.

pub struct Report {
    title: String,
    rows: Vec<Row>,
    notes: Vec<String>,
}

pub struct Row {
    bench: String,
    case: String,
    ours: String,
    ceiling: String,
    ratio: String,
    target: String,
    verdict: &'static str,
}

/// Figures as people read them: `12,345`.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 { format!("-{out}") } else { out }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    }
}

impl Row {
    /// A rate next to its ceiling's rate (higher is better); `target` is the least
    /// acceptable ratio.
    pub fn rate(
        bench: &str,
        case: &str,
        ours: f64,
        ceiling: f64,
        unit: &str,
        target: Option<f64>,
    ) -> Row {
        let ratio = ours / ceiling;
        Row {
            bench: bench.into(),
            case: case.into(),
            ours: format!("{} {unit}", thousands(ours)),
            ceiling: format!("{} {unit}", thousands(ceiling)),
            ratio: format!("{:.0}%", ratio * 100.0),
            target: target.map_or(String::new(), |t| format!(">= {:.0}%", t * 100.0)),
            verdict: verdict(target.map(|t| ratio >= t)),
        }
    }

    /// How much faster one setting is than another, for tablesync and for the
    /// ceiling; `target` applies to tablesync's speedup.
    pub fn speedup(bench: &str, case: &str, ours: f64, ceiling: f64, target: f64) -> Row {
        Row {
            bench: bench.into(),
            case: case.into(),
            ours: format!("{ours:.2}x"),
            ceiling: format!("{ceiling:.2}x"),
            ratio: format!("{:.0}%", ours / ceiling * 100.0),
            target: format!(">= {target:.1}x"),
            verdict: verdict(Some(ours >= target)),
        }
    }

    /// A rate against a fixed floor (a published figure to beat), not a ceiling.
    pub fn at_least(bench: &str, case: &str, ours: f64, unit: &str, floor: f64) -> Row {
        Row {
            bench: bench.into(),
            case: case.into(),
            ours: format!("{} {unit}", thousands(ours)),
            ceiling: "-".into(),
            ratio: String::new(),
            target: format!(">= {}", thousands(floor)),
            verdict: verdict(Some(ours >= floor)),
        }
    }

    /// Peak resident memory next to the bare client's; `limit` is the most allowed.
    pub fn memory(bench: &str, case: &str, ours_kib: u64, bare_kib: u64, limit_mib: f64) -> Row {
        let mib = |k: u64| k as f64 / 1024.0;
        Row {
            bench: bench.into(),
            case: case.into(),
            ours: format!("{:.1} MiB", mib(ours_kib)),
            ceiling: format!("{:.1} MiB", mib(bare_kib)),
            ratio: format!("{:.2}x", ours_kib as f64 / bare_kib.max(1) as f64),
            target: format!("< {limit_mib:.0} MiB"),
            verdict: verdict(Some(mib(ours_kib) < limit_mib)),
        }
    }

    /// A figure with a ceiling of another kind, or none: free text in each column.
    pub fn text(bench: &str, case: &str, ours: String, ceiling: String, ratio: String) -> Row {
        Row {
            bench: bench.into(),
            case: case.into(),
            ours,
            ceiling,
            ratio,
            target: String::new(),
            verdict: "",
        }
    }

    /// A pass/fail check (no ceiling).
    pub fn check(bench: &str, case: &str, ours: String, passed: bool) -> Row {
        Row {
            bench: bench.into(),
            case: case.into(),
            ours,
            ceiling: String::new(),
            ratio: String::new(),
            target: "exact".into(),
            verdict: if passed { "ok" } else { "FAILED" },
        }
    }
}

impl Report {
    pub fn new(title: &str) -> Report {
        Report {
            title: title.into(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn extend(&mut self, other: Report) {
        self.rows.extend(other.rows);
        self.notes.extend(other.notes);
    }

    pub fn print(&self) {
        let header = [
            "benchmark",
            "case",
            "tablesync",
            "ceiling",
            "ratio",
            "target",
            "",
        ];
        let cells: Vec<[&str; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.bench.as_str(),
                    r.case.as_str(),
                    r.ours.as_str(),
                    r.ceiling.as_str(),
                    r.ratio.as_str(),
                    r.target.as_str(),
                    r.verdict,
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: &[&str; 7]| {
            let mut out = String::new();
            for (i, (c, w)) in row.iter().zip(width).enumerate() {
                // Names left, figures right.
                let cell = if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                };
                out.push_str(&cell);
                out.push_str("  ");
            }
            out.trim_end().to_owned()
        };
        println!();
        println!("== {} ==", self.title);
        println!("{}", line(&header));
        let rule: usize = width.iter().sum::<usize>() + 2 * (width.len() - 1);
        println!("{}", "-".repeat(rule));
        for row in &cells {
            println!("{}", line(row));
        }
        for note in &self.notes {
            println!("  {note}");
        }
    }
}
