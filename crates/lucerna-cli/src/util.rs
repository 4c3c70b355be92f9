//! Helpers shared by the commands.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lucerna::internals::SearcherInternals;
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

/// What `lucerna index` found at its index path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexDir {
    /// Nothing, or an empty directory (now created).
    Empty,
    /// A Lucerna index (a `commit-` file): to be replaced in place.
    HoldsIndex,
}

/// Prepares `path` for `lucerna index`: creates it if missing. Changes
/// nothing in a directory that holds an index (it is replaced in place at
/// the new index's commit), and refuses a non-empty directory that does
/// not look like a Lucerna index.
pub fn prepare_index_dir(path: &Path) -> Result<IndexDir, Box<dyn std::error::Error>> {
    if !path.exists() {
        std::fs::create_dir_all(path)?;
        return Ok(IndexDir::Empty);
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(path)? {
        names.push(e?.file_name());
    }
    if names.is_empty() {
        return Ok(IndexDir::Empty);
    }
    if names
        .iter()
        .any(|n| n.to_str().is_some_and(|n| n.starts_with("commit-")))
    {
        return Ok(IndexDir::HoldsIndex);
    }
    Err(format!(
        "{} is not empty and holds no Lucerna index; refusing to replace it",
        path.display()
    )
    .into())
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

/// The schema's `id` field: a `u64` numeric field named `id` (the field
/// `--upsert`, `delete --id` and the duplicate-id count use).
pub fn id_field(schema: &lucerna::schema::Schema) -> Option<lucerna::schema::Field> {
    use lucerna::schema::{FieldType, NumericKind};
    let f = schema.field("id")?;
    match schema.entry(f)?.field_type {
        FieldType::Numeric {
            kind: NumericKind::U64,
            ..
        } => Some(f),
        _ => None,
    }
}

/// How many live documents of `searcher` carry each id of `wanted` in
/// `field` (ids with none are absent). One pass over the field's column.
pub fn count_live_ids(
    searcher: &lucerna::Searcher,
    field: lucerna::schema::Field,
    wanted: &std::collections::HashSet<u64>,
) -> std::collections::HashMap<u64, u64> {
    let mut counts = std::collections::HashMap::new();
    if wanted.is_empty() {
        return counts;
    }
    for seg in searcher.segments() {
        for d in 0..seg.max_doc() {
            if !seg.is_live(d) {
                continue;
            }
            if let Some(v) = seg.column_value(field, d) {
                if wanted.contains(&v) {
                    *counts.entry(v).or_insert(0) += 1;
                }
            }
        }
    }
    counts
}

/// Fails unless `path` is a directory holding an index commit (so that a
/// mistyped path is reported, not created).
pub fn require_index_dir(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let has_commit = std::fs::read_dir(path)
        .map_err(|e| format!("no index at {}: {e}", path.display()))?
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("commit-"))
        });
    if has_commit {
        Ok(())
    } else {
        Err(format!("no index at {} (no commit file)", path.display()).into())
    }
}
