//! Exhaustive corruption sweep: for a small index holding every file kind
//! (`fuzz/src/lib.rs`, [`fuzz_logic::build_seed_index`]), every single-bit
//! flip of every file of the newest commit (every bit of files up to
//! 64 KiB; 20,000 seeded positions of larger ones) and every truncation
//! length must be
//!
//! * detected by `check_index(dir, deep = true)`, as a problem naming the
//!   file;
//! * harmless to a reader that opens the index without verifying: the fixed
//!   workload of [`fuzz_logic::run_workload`] (term, phrase, prefix, range,
//!   boolean queries, every stored document and column value) either fails
//!   with an error or returns exactly the unmodified index's results, and
//!   never panics.
//!
//! The test prints the number of cases per file kind.

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_logic;

use lucerna::index::check::check_index;
use lucerna::index::FileKind;
use lucerna::store::rng::SplitMix64;
use lucerna::store::Directory;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Files up to this size get every bit flipped; larger ones get
/// [`SAMPLED_POSITIONS`] seeded byte positions (every bit of each).
const EXHAUSTIVE_LIMIT: usize = 64 << 10;
const SAMPLED_POSITIONS: usize = 20_000;
const SEED: u64 = 0x1BAD_F11E;

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Flip { pos: usize, bit: u8 },
    Truncate(usize),
}

impl Mutation {
    fn apply(self, bytes: &[u8]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        match self {
            Mutation::Flip { pos, bit } => b[pos] ^= 1 << bit,
            Mutation::Truncate(len) => b.truncate(len),
        }
        b
    }
}

/// Byte positions to flip in a file of `len` bytes.
fn flip_positions(name: &str, len: usize) -> Vec<usize> {
    if len <= EXHAUSTIVE_LIMIT {
        return (0..len).collect();
    }
    let mut rng = SplitMix64::new(SEED ^ name.len() as u64 ^ (len as u64) << 20);
    let mut v: Vec<usize> = (0..SAMPLED_POSITIONS)
        .map(|_| rng.below(len as u64) as usize)
        .collect();
    // Always the envelope's header and footer.
    v.extend(0..64);
    v.extend(len - 20..len);
    v.sort_unstable();
    v.dedup();
    v
}

#[derive(Debug, Default, Clone)]
struct Tally {
    flips: u64,
    truncations: u64,
    detected: u64,
    read_errors: u64,
    read_identical: u64,
    read_different: u64,
    panics: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.flips += o.flips;
        self.truncations += o.truncations;
        self.detected += o.detected;
        self.read_errors += o.read_errors;
        self.read_identical += o.read_identical;
        self.read_different += o.read_different;
        self.panics += o.panics;
    }
    fn cases(&self) -> u64 {
        self.flips + self.truncations
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// What one case found: its tally, the broken rules (detection, panics,
/// `check_index` errors), and a description of the first result that
/// differed on the unverified read path, if any.
struct CaseResult {
    tally: Tally,
    broken: Vec<String>,
    read_diff: Option<String>,
}

/// Runs one case.
fn run_case(name: &str, m: Mutation) -> CaseResult {
    let seed = fuzz_logic::seed_index();
    let bytes = m.apply(seed.file(name));
    let dir = seed.directory(Some((name, &bytes)));
    let mut t = Tally::default();
    match m {
        Mutation::Flip { .. } => t.flips = 1,
        Mutation::Truncate(_) => t.truncations = 1,
    }
    let mut broken = Vec::new();
    let mut read_diff = None;
    let check_dir: Arc<dyn Directory> = Arc::new(dir.clone());
    match catch_unwind(AssertUnwindSafe(|| check_index(&check_dir, true))) {
        Ok(Ok(report)) if report.problems.iter().any(|p| p.file == name) => t.detected = 1,
        Ok(Ok(report)) => broken.push(format!("not detected: {:?}", report.problems)),
        Ok(Err(e)) => broken.push(format!("check_index failed: {e}")),
        Err(p) => {
            t.panics += 1;
            broken.push(format!("check_index panicked: {}", panic_message(&*p)));
        }
    }
    match catch_unwind(AssertUnwindSafe(|| fuzz_logic::run_workload(dir))) {
        Ok(Err(_)) => t.read_errors = 1,
        Ok(Ok(r)) if r == fuzz_logic::baseline() => t.read_identical = 1,
        Ok(Ok(r)) => {
            t.read_different = 1;
            let base = fuzz_logic::baseline();
            let first = r.iter().zip(base).find(|(a, b)| a != b);
            read_diff = Some(format!("got {:?}", first));
        }
        Err(p) => {
            t.panics += 1;
            broken.push(format!("reader panicked: {}", panic_message(&*p)));
        }
    }
    CaseResult {
        tally: t,
        broken,
        read_diff,
    }
}

/// The result of the whole sweep.
struct Sweep {
    cases: usize,
    by_kind: BTreeMap<&'static str, Tally>,
    /// Broken rules: "file mutation: why".
    broken: Vec<String>,
    /// Cases whose unverified read returned different results.
    read_diffs: Vec<String>,
}

/// Runs every case (once per process) and prints the table.
fn sweep() -> &'static Sweep {
    static SWEEP: OnceLock<Sweep> = OnceLock::new();
    SWEEP.get_or_init(run_sweep)
}

fn run_sweep() -> Sweep {
    let start = Instant::now();
    let seed = fuzz_logic::seed_index();
    assert!(!fuzz_logic::baseline().is_empty());
    let kinds: Vec<FileKind> = seed.latest.iter().map(|n| FileKind::of(n)).collect();
    for k in FileKind::COMMIT {
        assert!(kinds.contains(&k), "the seed index lacks a {k} file");
    }

    let mut cases: Vec<(&str, Mutation)> = Vec::new();
    for name in &seed.latest {
        let len = seed.file(name).len();
        for pos in flip_positions(name, len) {
            for bit in 0..8 {
                cases.push((name, Mutation::Flip { pos, bit }));
            }
        }
        for l in 0..len {
            cases.push((name, Mutation::Truncate(l)));
        }
    }

    // The cases are independent: spread them over the cores. Panics are
    // caught and counted; keep their messages out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    type Part = (BTreeMap<&'static str, Tally>, Vec<String>, Vec<String>);
    let parts: Vec<Part> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let cases = &cases;
                s.spawn(move || {
                    let mut part: Part = Default::default();
                    for (name, m) in cases.iter().skip(t).step_by(threads) {
                        let r = run_case(name, *m);
                        part.0
                            .entry(FileKind::of(name).as_str())
                            .or_default()
                            .add(&r.tally);
                        if !r.broken.is_empty() {
                            part.1
                                .push(format!("{name} {m:?}: {}", r.broken.join("; ")));
                        }
                        if let Some(d) = r.read_diff {
                            part.2.push(format!("{name} {m:?}: {d}"));
                        }
                    }
                    part
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    std::panic::set_hook(hook);

    let mut sweep = Sweep {
        cases: cases.len(),
        by_kind: BTreeMap::new(),
        broken: Vec::new(),
        read_diffs: Vec::new(),
    };
    for (t, b, d) in parts {
        for (k, v) in t {
            sweep.by_kind.entry(k).or_default().add(&v);
        }
        sweep.broken.extend(b);
        sweep.read_diffs.extend(d);
    }
    let mut total = Tally::default();
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>9} {:>6} | {:>8} {:>9} {:>9}",
        "file kind",
        "cases",
        "flips",
        "truncs",
        "detected",
        "panics",
        "read err",
        "read same",
        "read diff"
    );
    for (k, t) in &sweep.by_kind {
        println!(
            "{:<18} {:>8} {:>8} {:>8} {:>9} {:>6} | {:>8} {:>9} {:>9}",
            k,
            t.cases(),
            t.flips,
            t.truncations,
            t.detected,
            t.panics,
            t.read_errors,
            t.read_identical,
            t.read_different
        );
        total.add(t);
    }
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>9} {:>6} | {:>8} {:>9} {:>9}",
        "total",
        total.cases(),
        total.flips,
        total.truncations,
        total.detected,
        total.panics,
        total.read_errors,
        total.read_identical,
        total.read_different
    );
    println!(
        "{} cases over {} files ({} bytes) in {:.1?}; detected = named by \
         check_index(deep); read = Index::open (segments verified whole, the default) + workload",
        sweep.cases,
        seed.latest.len(),
        seed.latest
            .iter()
            .map(|n| seed.file(n).len())
            .sum::<usize>(),
        start.elapsed()
    );
    assert_eq!(total.cases(), sweep.cases as u64);
    sweep
}

/// Detection by verification, and no panics anywhere: the CI test.
#[test]
fn every_bit_flip_and_truncation_is_detected() {
    let sweep = sweep();
    for f in sweep.broken.iter().take(20) {
        println!("FAIL {f}");
    }
    assert!(
        sweep.broken.is_empty(),
        "{} of {} cases broke a rule (first 20 printed above)",
        sweep.broken.len(),
        sweep.cases
    );
    // Reading: opening the index (segments verified whole, the default)
    // and searching gives an error or exactly the undamaged index's answers.
    for f in sweep.read_diffs.iter().take(20) {
        println!("DIFF {f}");
    }
    assert!(
        sweep.read_diffs.is_empty(),
        "{} of {} cases returned different results without an error",
        sweep.read_diffs.len(),
        sweep.cases
    );
}
