//! What a run is told by its environment and its command line.

use std::path::PathBuf;
use std::time::Duration;

pub struct Settings {
    scale: f64,
    pub load_duration: Duration,
    pub server_dir: PathBuf,
    pub postgres: Option<String>,
    pub azure_dir: PathBuf,
    only: Vec<String>,
}

impl Settings {
    pub fn from_env() -> Settings {
        let scale = std::env::var("TABLESYNC_BENCH_SCALE")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(1.0);
        let load_secs = std::env::var("TABLESYNC_BENCH_LOAD_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(20.0);
        let shm = PathBuf::from("/dev/shm");
        let server_dir = std::env::var_os("TABLESYNC_BENCH_SERVER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                if shm.is_dir() {
                    shm
                } else {
                    std::env::temp_dir()
                }
            });
        let azure_dir = std::env::var_os("TABLESYNC_BENCH_AZURE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-azure")
            });
        // Cargo passes `--bench`; any other word selects benchmarks.
        let only = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        Settings {
            scale,
            load_duration: Duration::from_secs_f64(load_secs),
            server_dir,
            postgres: std::env::var("TABLESYNC_TEST_POSTGRES")
                .ok()
                .filter(|s| !s.is_empty()),
            azure_dir,
            only,
        }
    }

    /// `base` items, scaled (at least 10).
    pub fn n(&self, base: usize) -> usize {
        ((base as f64 * self.scale).round() as usize).max(10)
    }

    pub fn selected(&self, bench: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| bench.contains(w.as_str()))
    }

    /// A temp dir for the in-process servers' database files.
    pub fn server_tempdir(&self) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("tablesync-bench-server")
            .tempdir_in(&self.server_dir)
            .expect("a temp dir for the server's database")
    }

    pub fn describe(&self) -> String {
        format!(
            "tablesync benchmarks: scale {} (TABLESYNC_BENCH_SCALE), load {:.0} s per case, \
             server databases in {}, {} cores, load average {}",
            self.scale,
            self.load_duration.as_secs_f64(),
            self.server_dir.display(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_average()
        )
    }
}

/// `/proc/loadavg`'s first three figures, or "unknown".
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
