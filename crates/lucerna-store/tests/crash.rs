//! Crash semantics of `FaultyDirectory`, checked exhaustively over the
//! write → sync → rename → sync-dir sequence the engine uses to publish a
//! file, at every operation index and for several seeds.

use lucerna_store::{
    Directory, EnvelopeHeader, EnvelopeReader, FaultyDirectory, FileWrite, RamDirectory,
};

const CHUNKS: usize = 6;

fn envelope_bytes(tag: u8) -> Vec<u8> {
    let dir = RamDirectory::new();
    let mut w = lucerna_store::EnvelopeWriter::create(
        &dir,
        "x",
        &EnvelopeHeader::new("crash", 1, [tag; 16], ""),
    )
    .unwrap();
    let body: Vec<u8> = (0..5000u32).map(|i| (i * 7 + tag as u32) as u8).collect();
    w.write_all(&body).unwrap();
    w.finish().unwrap();
    dir.open("x").unwrap().to_vec()
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Create(&'static str),
    Write(usize),
    Finish,
    Sync(&'static str),
    Rename(&'static str, &'static str),
    SyncDir,
}

/// Applies ops[..n] and returns nothing; the writer lives between ops.
fn run(dir: &FaultyDirectory<RamDirectory>, ops: &[Op], n: usize, content: &[u8]) {
    let mut writer: Option<Box<dyn FileWrite>> = None;
    let chunk = content.len().div_ceil(CHUNKS);
    for op in &ops[..n] {
        match *op {
            Op::Create(name) => writer = Some(dir.create(name).unwrap()),
            Op::Write(i) => {
                let end = ((i + 1) * chunk).min(content.len());
                writer
                    .as_mut()
                    .unwrap()
                    .write_all(&content[i * chunk..end])
                    .unwrap()
            }
            Op::Finish => {
                writer.take().unwrap().finish().unwrap();
            }
            Op::Sync(name) => dir.sync(&[name]).unwrap(),
            Op::Rename(a, b) => dir.rename(a, b).unwrap(),
            Op::SyncDir => dir.sync_dir().unwrap(),
        }
    }
}

fn publish_ops() -> Vec<Op> {
    let mut ops = vec![Op::Create("f.tmp")];
    ops.extend((0..CHUNKS).map(Op::Write));
    ops.extend([
        Op::Finish,
        Op::Sync("f.tmp"),
        Op::Rename("f.tmp", "f"),
        Op::SyncDir,
    ]);
    ops
}

/// What a file holds after a crash: nothing, the wanted bytes, or bytes the
/// envelope rejects. Anything else is silent corruption.
#[derive(Debug, PartialEq)]
enum Seen {
    Absent,
    Intact(Vec<u8>),
    Detected,
}

fn look(dir: &FaultyDirectory<RamDirectory>, name: &str) -> Seen {
    if !dir.exists(name).unwrap() {
        return Seen::Absent;
    }
    let data = dir.open(name).unwrap();
    match EnvelopeReader::open_checked(name, data.clone()).and_then(|r| r.verify_full()) {
        Ok(()) => Seen::Intact(data.to_vec()),
        Err(e) => {
            assert!(e.is_corrupt(), "{name}: {e}");
            Seen::Detected
        }
    }
}

#[test]
fn new_file_is_absent_detected_or_intact_at_every_crash_point() {
    let content = envelope_bytes(1);
    let ops = publish_ops();
    let mut cases = 0;
    for seed in 0..16u64 {
        for n in 0..=ops.len() {
            let dir = FaultyDirectory::new(RamDirectory::new(), seed);
            run(&dir, &ops, n, &content);
            dir.crash().unwrap();
            let ctx = format!("seed {seed}, crash after {n} ops {:?}", ops.get(n));
            let f = look(&dir, "f");
            if n == ops.len() {
                assert_eq!(f, Seen::Intact(content.clone()), "{ctx}: durable file lost");
            } else {
                assert_eq!(f, Seen::Absent, "{ctx}: name not yet durable");
            }
            match look(&dir, "f.tmp") {
                Seen::Absent | Seen::Detected => {}
                Seen::Intact(b) => assert_eq!(b, content, "{ctx}: silent corruption of f.tmp"),
            }
            cases += 1;
        }
    }
    println!("{cases} crash points checked");
}

#[test]
fn replacing_a_durable_file_keeps_old_or_new_at_every_crash_point() {
    let old = envelope_bytes(2);
    let new = envelope_bytes(3);
    let ops = publish_ops();
    for seed in 0..16u64 {
        for n in 0..=ops.len() {
            let base = RamDirectory::new();
            lucerna_store::write_file(&base, "f", &old).unwrap();
            // Files present when wrapped count as durable.
            let dir = FaultyDirectory::new(base, seed);
            run(&dir, &ops, n, &new);
            dir.crash().unwrap();
            let ctx = format!("seed {seed}, crash after {n} ops");
            match look(&dir, "f") {
                Seen::Intact(b) if n == ops.len() => assert_eq!(b, new, "{ctx}"),
                Seen::Intact(b) => assert_eq!(b, old, "{ctx}: rename not durable yet"),
                other => panic!("{ctx}: expected an intact file, got {other:?}"),
            }
        }
    }
}

#[test]
fn durable_name_with_unsynced_bytes_is_torn_and_detected() {
    // Name made durable first, bytes after: a crash before the file sync
    // leaves a torn (prefix) file, which the envelope must reject.
    let content = envelope_bytes(4);
    let mut ops = vec![Op::Create("g"), Op::SyncDir];
    ops.extend((0..CHUNKS).map(Op::Write));
    ops.extend([Op::Finish, Op::Sync("g")]);
    let mut torn_seen = 0;
    for seed in 0..32u64 {
        for n in 2..=ops.len() {
            let dir = FaultyDirectory::new(RamDirectory::new(), seed);
            run(&dir, &ops, n, &content);
            dir.crash().unwrap();
            let ctx = format!("seed {seed}, crash after {n} ops");
            match look(&dir, "g") {
                Seen::Intact(b) => assert_eq!(b, content, "{ctx}: silent corruption"),
                Seen::Detected => torn_seen += 1,
                Seen::Absent => panic!("{ctx}: durable name vanished"),
            }
            if n == ops.len() {
                assert_eq!(look(&dir, "g"), Seen::Intact(content.clone()), "{ctx}");
            }
        }
    }
    assert!(torn_seen > 0, "the torn-write path was never exercised");
}

#[test]
fn crash_is_reproducible_from_the_seed() {
    let content = envelope_bytes(5);
    let mut ops = vec![Op::Create("g"), Op::SyncDir];
    ops.extend((0..CHUNKS).map(Op::Write));
    let after = |seed| {
        let dir = FaultyDirectory::new(RamDirectory::new(), seed);
        run(&dir, &ops, ops.len(), &content);
        dir.crash().unwrap();
        dir.open("g").unwrap().len()
    };
    for seed in 0..8 {
        assert_eq!(after(seed), after(seed), "seed {seed}");
    }
}

#[test]
fn writers_from_before_a_crash_are_stale() {
    let dir = FaultyDirectory::new(RamDirectory::new(), 9);
    let mut w = dir.create("h").unwrap();
    dir.crash().unwrap();
    assert!(w.write_all(b"late").is_err());
    assert!(w.finish().is_err());
    assert!(!dir.exists("h").unwrap());
}
