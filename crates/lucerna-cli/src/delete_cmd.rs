//! `lucerna delete`: deletes documents by their numeric `id` (every live
//! document with that id, duplicates included) through the write-ahead
//! log, then commits.

use crate::reliability::{
    print_skipped, replay_json, replay_line, replication_lines, ReliabilityArgs,
};
use crate::util::{count_live_ids, id_field, require_index_dir};
use lucerna::store::FsDirectory;
use lucerna::{Durability, Index, WriterConfig};
use serde_json::json;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Options of `lucerna delete`.
pub struct DeleteArgs<'a> {
    pub index: &'a Path,
    pub ids: &'a [u64],
    pub ids_file: Option<&'a Path>,
    pub durability: Durability,
    pub json: bool,
    pub reliability: &'a ReliabilityArgs,
}

/// Ids read from a file, and its rejected lines (1-based number, reason).
pub type IdsFile = (Vec<u64>, Vec<(u64, String)>);

/// Reads an ids file: one unsigned integer per line; blank lines and lines
/// starting with `#` are skipped. Returns the ids and the rejected lines
/// (1-based number, reason).
pub fn read_ids(path: &Path) -> Result<IdsFile, Box<dyn std::error::Error>> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut reader = BufReader::new(file);
    let (mut ids, mut bad) = (Vec::new(), Vec::new());
    let mut buf = Vec::new();
    let mut lineno = 0u64;
    loop {
        buf.clear();
        if reader
            .by_ref()
            .take(4096)
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("reading {}: {e}", path.display()))?
            == 0
        {
            break;
        }
        lineno += 1;
        if buf.last() != Some(&b'\n') && buf.len() == 4096 {
            // An absurdly long line: skip the rest of it.
            let mut rest = Vec::new();
            reader.read_until(b'\n', &mut rest)?;
            bad.push((lineno, "not an id (line too long)".to_string()));
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(e) => {
                bad.push((
                    lineno,
                    format!("not valid UTF-8 (byte {} of the line)", e.valid_up_to() + 1),
                ));
                continue;
            }
        };
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match text.parse::<u64>() {
            Ok(id) => ids.push(id),
            Err(_) => bad.push((lineno, format!("`{text}` is not an unsigned integer id"))),
        }
    }
    Ok((ids, bad))
}

/// Deletes the ids and commits. `Ok(true)` when every line of the ids file
/// was an id, `Ok(false)` when some were rejected (the rest were deleted).
pub fn run_delete(a: &DeleteArgs<'_>) -> Result<bool, Box<dyn std::error::Error>> {
    require_index_dir(a.index)?;
    let (mut ids, bad) = match a.ids_file {
        Some(p) => read_ids(p)?,
        None => (Vec::new(), Vec::new()),
    };
    ids.extend_from_slice(a.ids);
    if ids.is_empty() && bad.is_empty() {
        return Err("nothing to delete: give --id N (repeatable) or --ids-file FILE".into());
    }
    let index = Index::open(FsDirectory::open(a.index)?)?;
    let field = id_field(index.schema()).ok_or("the index's schema has no u64 field named `id`")?;
    let writer = index.writer(
        a.reliability.apply(
            WriterConfig::default()
                .durability(a.durability)
                .indexing_threads(1),
        )?,
    )?;
    let replay = writer.replay_report();
    print_skipped(&replay);
    let wanted: HashSet<u64> = ids.iter().copied().collect();
    let found = count_live_ids(&writer.searcher()?, field, &wanted);
    for &id in &wanted {
        writer.delete_by_id(field, id)?;
    }
    let generation = writer.commit()?;
    writer.close()?;
    let deleted: u64 = found.values().sum();
    let mut missing: Vec<u64> = wanted
        .iter()
        .copied()
        .filter(|id| !found.contains_key(id))
        .collect();
    missing.sort_unstable();
    for (line, e) in &bad {
        eprintln!("line {line}: rejected: {e}");
    }
    if a.json {
        outln!(
            "{}",
            json!({
                "ids": wanted.len(), "deleted": deleted, "ids_found": found.len(),
                "ids_not_found": missing.len(), "not_found": missing.iter().take(20).collect::<Vec<_>>(),
                "rejected": bad.len(),
                "rejections": bad.iter().take(5).map(|(l, e)| json!({"line": l, "error": e})).collect::<Vec<_>>(),
                "generation": generation, "replay": replay_json(&replay),
                "replicas": replication_lines(&writer),
            })
        );
    } else {
        outln!(
            "deleted {deleted} documents for {} ids ({} ids not found), commit generation {generation}",
            wanted.len(),
            missing.len()
        );
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(20).map(u64::to_string).collect();
            let more = if missing.len() > 20 { " …" } else { "" };
            outln!("  not found: {}{more}", shown.join(", "));
        }
        if !bad.is_empty() {
            outln!("rejected {} lines of the ids file:", bad.len());
            for (line, e) in bad.iter().take(5) {
                outln!("  line {line}: {e}");
            }
        }
        outln!("{}", replay_line(&replay));
        for l in replication_lines(&writer) {
            outln!("{l}");
        }
    }
    Ok(bad.is_empty())
}
