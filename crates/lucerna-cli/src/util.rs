//! Helpers shared by the commands.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::Path;

/// A byte-progress bar on stderr (hidden when `quiet` or not a terminal).
pub fn progress_bar(total: u64, quiet: bool, msg: &'static str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(msg);
    bar
}

/// Makes `path` an empty directory ready for a new index. Refuses to clear
/// a non-empty directory that does not look like a Lucerna index.
pub fn prepare_index_dir(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if path.exists() {
        let mut entries = std::fs::read_dir(path)?.peekable();
        if entries.peek().is_none() {
            return Ok(());
        }
        let is_index = std::fs::read_dir(path)?.any(|e| {
            e.ok()
                .and_then(|e| e.file_name().to_str().map(|n| n.starts_with("commit-")))
                .unwrap_or(false)
        });
        if !is_index {
            return Err(format!(
                "{} is not empty and holds no Lucerna index; refusing to replace it",
                path.display()
            )
            .into());
        }
        std::fs::remove_dir_all(path)?;
    }
    std::fs::create_dir_all(path)?;
    Ok(())
}

/// Total bytes of the regular files in `path`.
pub fn dir_bytes(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(path)? {
        let e = e?;
        if e.file_type()?.is_file() {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Called when writing to stdout fails: a closed pipe (`lucerna … | head`)
/// ends the process quietly with success, as other Unix tools do; any other
/// error is reported and ends it with failure. Never a panic.
pub fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(1);
}

/// `println!` that handles a closed or failing stdout without panicking
/// (see [`stdout_failed`]).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::util::stdout_failed(e);
        }
    }};
}

/// `print!` that handles a closed or failing stdout without panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::util::stdout_failed(e);
        }
    }};
}
