//! Logic of the fuzz target `bucket`: everything `lucerna-object` reads
//! back from a bucket (object names from listings, manifests, shipped log
//! batches, lease and snapshot records, segment files checked against a
//! manifest, and a whole bucket of such objects read by the catalog, the
//! garbage collector, a read-only searcher and a takeover that replays the
//! shipped log).
//!
//! Kept apart from `lib.rs`: `lib.rs` is also included by the tests of the
//! `lucerna` crate, which cannot depend on `lucerna-object`. This file is
//! included as a module (`#[path]`) by `fuzz_targets/bucket.rs` and by
//! `crates/lucerna-object/tests/fuzz_corpus_replay.rs`, which replays
//! `fuzz/corpus/bucket/` on the stable toolchain. It uses nothing but the
//! public API of `lucerna` and `lucerna-object`.
//!
//! The property: no input panics, and what decodes is consistent: it
//! encodes back to the bytes read (or to a fixed point), names parse only
//! in the one spelling the writer produces, ids, lengths and lsns are in
//! the ranges the object's header announces, and the readers of a bucket
//! agree with each other (a searcher serves the newest valid commit, a
//! takeover builds on it, the garbage collector deletes nothing while a
//! manifest is unreadable).

#![allow(dead_code)]

use lucerna::index::Commit;
use lucerna::index::IndexId;
use lucerna::schema::{Field, Schema};
use lucerna::store::{Directory, EnvelopeHeader, EnvelopeWriter, FileSlice, RamDirectory};
use lucerna::Document;
use lucerna::Record;
use lucerna_object::cache::{verify, FileLoc};
use lucerna_object::chain::Chain;
use lucerna_object::keys::{
    lease_key, manifest_key, parse_lease_key, parse_manifest_key, parse_segment_key, parse_wal_key,
    segment_key, snapshot_key, wal_key,
};
use lucerna_object::lease::Hold;
use lucerna_object::manifest::{decode_commit, Manifest};
use lucerna_object::{
    gc, shiplog, Bucket, BucketDurability, BucketUrl, BucketWriter, Catalog, GcOptions,
    ObjectDirectory, RetryPolicy,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The index id of the scenario's seed commits.
pub const SEED_INDEX: [u8; 16] = *b"bucket-fuzz-idx!";

/// Modes, chosen by the low bits of the first byte (the high bit asks the
/// harness to fix up checksums, so that the fuzzer reaches the checks
/// behind them).
const MODES: u8 = 6;

/// Target `bucket`. Byte 0: mode (`% 6` of its low 6 bits), bit 6 "take
/// the bucket over too" (mode 5; a takeover costs more than everything
/// else), bit 7 "fix up checksums"; the rest: the mode's input.
///
/// | mode | input |
/// |---|---|
/// | 0 | object names, one per line (lossy UTF-8) |
/// | 1 | a manifest object (fixed up: header fields and a commit payload) |
/// | 2 | a shipped log batch (fixed up: header fields and length-prefixed record bodies) |
/// | 3 | a lease or snapshot record |
/// | 4 | a segment file and the location a manifest records for it |
/// | 5 | a bucket: a sequence of objects, read by every reader |
pub fn fuzz_bucket(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fix = sel & 0x80 != 0;
    match (sel & 0x3f) % MODES {
        0 => names(rest),
        1 => manifest(rest, fix),
        2 => batch(rest, fix),
        3 => hold(rest, fix),
        4 => segment_file(rest),
        _ => scenario(rest, sel & 0x40 != 0),
    }
}

/// A 20-digit zero-padded decimal, as the key parsers want it.
fn is_padded(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Names from a listing: every parser, and each accepts only the spelling
/// its formatter produces (two names never stand for one object).
pub fn check_name(s: &str) {
    if let Some(g) = parse_manifest_key(s) {
        assert_eq!(manifest_key(g), s, "manifest key {s:?} is not canonical");
    }
    if let Some((id, name)) = parse_segment_key(s) {
        assert_eq!(
            segment_key(&id, &name),
            s,
            "segment key {s:?} is not canonical"
        );
        assert!(!name.is_empty() && !name.contains('/'));
    }
    if let Some((e, l)) = parse_wal_key(s) {
        assert_eq!(wal_key(e, l), s, "log key {s:?} is not canonical");
    }
    if let Some((r, g)) = parse_lease_key(s) {
        assert_eq!(lease_key(r, g), s, "lease key {s:?} is not canonical");
    }
    if let Some(k) = snapshot_key(s) {
        assert_eq!(k, format!("snapshots/{s}"));
        assert!(!s.contains('/') && s != "." && s != "..");
    }
    if let Some(u) = BucketUrl::parse(s) {
        let again = BucketUrl::parse(&u.to_string());
        assert_eq!(again.as_ref(), Some(&u), "{s:?} prints as {u}");
        assert!(!u.bucket.is_empty() && !u.prefix.starts_with('/') && !u.prefix.ends_with('/'));
        assert!(u.prefix.split('/').all(|p| p != ".." && p != "."));
    }
    // Every parser agrees on which folder a name is in.
    let folders = [
        parse_manifest_key(s).is_some(),
        parse_segment_key(s).is_some(),
        parse_wal_key(s).is_some(),
        parse_lease_key(s).is_some(),
    ];
    assert!(folders.iter().filter(|x| **x).count() <= 1, "{s:?}");
}

fn names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        check_name(line);
        // The same name with each known folder in front.
        for f in ["manifests/", "segments/", "wal/", "leases/"] {
            check_name(&format!("{f}{line}"));
        }
    }
}

/// Wraps `payload` in a valid envelope (`format`, `version`, `id`).
pub fn envelope(format: &str, version: u32, id: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let dir = RamDirectory::new();
    let mut w = EnvelopeWriter::create(&dir, "f", &EnvelopeHeader::new(format, version, id, ""))
        .expect("envelope writer");
    w.write_all(payload).expect("envelope payload");
    w.finish().expect("envelope finish");
    dir.open("f").expect("envelope file").to_vec()
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or_default()))
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or_default()))
}

/// A manifest object from header fields (generation, writer epoch, log
/// epoch: u64 each; index id: 16 bytes) and a commit payload, wrapped in
/// a valid commit envelope and a valid manifest frame.
pub fn forge_manifest(data: &[u8]) -> Vec<u8> {
    let mut head = [0u8; 40];
    let n = data.len().min(40);
    head[..n].copy_from_slice(&data[..n]);
    let g = u64_at(&head, 0);
    let mut env_id = [0u8; 16];
    env_id[..8].copy_from_slice(&g.to_le_bytes());
    let commit = envelope("commit", 3, env_id, &data[n..]);
    let mut out = Vec::new();
    out.extend_from_slice(b"LOMF");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&(commit.len() as u32).to_le_bytes());
    out.extend_from_slice(&commit);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes `bytes` as the manifest of `generation` and checks what a
/// successful decode promises. Returns it.
pub fn check_manifest(generation: u64, bytes: &[u8]) -> Option<Manifest> {
    let key = manifest_key(generation);
    let m = match Manifest::decode(&key, generation, bytes) {
        Ok(m) => m,
        Err(e) => {
            assert!(e.to_string().contains(&key), "{e} does not name {key}");
            return None;
        }
    };
    // Exactly the bytes read: every byte of the object is accounted for.
    assert_eq!(m.encode(), bytes, "manifest does not encode back");
    assert_eq!(m.generation, generation);
    assert_eq!(m.commit.generation, generation);
    assert_eq!(m.index_id().0, bytes[32..48], "index id");
    assert_eq!(
        (m.epoch, m.log_epoch),
        (u64_at(bytes, 16), u64_at(bytes, 24))
    );
    assert_eq!(
        decode_commit(generation, &m.commit_bytes).ok().as_ref(),
        Some(&m.commit)
    );
    // Bound to its key: the same bytes are no other generation's.
    assert!(Manifest::decode(&key, generation.wrapping_add(1), bytes).is_err());
    // Rebuilt from the decoded commit, it decodes to the same commit.
    if let Ok(again) = Manifest::new(&m.commit, m.epoch, m.log_epoch) {
        let back = Manifest::decode(&key, generation, &again.encode()).expect("a rebuilt manifest");
        assert_eq!(back.commit, m.commit);
    }
    // A chain of it alone: it counts, and is the newest.
    let chain = Chain::new(
        BTreeMap::from([(generation, Arc::new(m.clone()))]),
        Vec::new(),
    );
    assert_eq!(chain.valid(), [generation]);
    assert_eq!(chain.max_epoch(), m.epoch);
    Some(m)
}

fn manifest(data: &[u8], fix: bool) {
    let bytes = if fix {
        forge_manifest(data)
    } else {
        data.to_vec()
    };
    // The generation the key names: the one the object claims (else the
    // decoder stops at the first check).
    let g = u64_at(&bytes, 8);
    check_manifest(g, &bytes);
}

/// A log batch from header fields (index id: 16 bytes; epoch, first lsn,
/// last lsn: u64 each; record count: u32) and record bodies, each preceded
/// by a u16 length, framed with valid CRCs.
pub fn forge_batch(data: &[u8]) -> Vec<u8> {
    let mut head = [0u8; 44];
    let n = data.len().min(44);
    head[..n].copy_from_slice(&data[..n]);
    let mut out = Vec::new();
    out.extend_from_slice(b"LSHP");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&head);
    let mut rest = &data[n..];
    while rest.len() >= 2 {
        let len = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let body = &rest[2..2 + len];
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        out.extend_from_slice(body);
        rest = &rest[2 + len..];
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The framed encoding of `records`.
fn encode_records(records: &[Record]) -> Vec<u8> {
    let mut v = Vec::new();
    for r in records {
        r.encode_into(&mut v);
    }
    v
}

/// Decodes `bytes` as the shipped batch `key` and checks what a successful
/// decode promises. Returns it.
pub fn check_batch(key: &str, bytes: &[u8]) -> Option<shiplog::Batch> {
    let b = match shiplog::decode(key, bytes) {
        Ok(b) => b,
        Err(e) => {
            assert!(e.to_string().contains(key), "{e} does not name {key}");
            return None;
        }
    };
    assert_eq!(b.index_id.0, bytes[8..24]);
    assert_eq!(
        (b.epoch, b.first_lsn, b.last_lsn),
        (u64_at(bytes, 24), u64_at(bytes, 32), u64_at(bytes, 40))
    );
    assert_eq!(b.records.len(), u32_at(bytes, 48) as usize, "record count");
    for r in &b.records {
        assert!(r.lsn() >= 1, "lsn 0");
        assert!(
            r.lsn() >= b.first_lsn && r.last_lsn() <= b.last_lsn,
            "{r:?} outside the batch"
        );
        assert!(r.lsn() <= r.last_lsn());
    }
    // The record area is exactly the records' framing (nothing skipped,
    // nothing left over) up to the encoding of each record.
    let area = &bytes[52..bytes.len() - 4];
    let framed = encode_records(&b.records);
    assert!(framed.len() <= area.len(), "records longer than their area");
    // Encoding what was decoded reaches a fixed point that decodes to the
    // same records.
    let again = shiplog::encode(b.index_id, b.epoch, &b.records);
    let back = shiplog::decode(key, &again).expect("a re-encoded batch");
    assert_eq!(encode_records(&back.records), framed);
    assert_eq!(
        shiplog::encode(back.index_id, back.epoch, &back.records),
        again
    );
    if !b.records.is_empty() {
        let lo = b.records.iter().map(Record::lsn).min();
        let hi = b.records.iter().map(Record::last_lsn).max();
        assert_eq!((Some(back.first_lsn), Some(back.last_lsn)), (lo, hi));
        assert!(back.first_lsn >= b.first_lsn && back.last_lsn <= b.last_lsn);
    }
    Some(b)
}

fn batch(data: &[u8], fix: bool) {
    let bytes = if fix {
        forge_batch(data)
    } else {
        data.to_vec()
    };
    let key = wal_key(u64_at(&bytes, 24), u64_at(&bytes, 32));
    check_batch(&key, &bytes);
}

fn hold(data: &[u8], fix: bool) {
    let mut bytes = data.to_vec();
    if fix && bytes.len() >= 4 {
        let end = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(&crc.to_le_bytes());
    }
    let key = "leases/0000000000000001-00000000000000000001";
    match Hold::decode(key, &bytes) {
        Ok(h) => {
            assert_eq!(h.encode(), bytes, "hold record does not encode back");
            assert_eq!(
                (h.generation, h.expires as u64),
                (u64_at(&bytes, 8), u64_at(&bytes, 16))
            );
        }
        Err(e) => assert!(e.to_string().contains(key), "{e}"),
    }
}

/// Mode 4: bytes 0..16 the segment id a manifest records, 16..20 its CRC,
/// 20..22 a length delta; the rest the file (a segment file envelope).
fn segment_file(data: &[u8]) {
    if data.len() < 22 {
        return;
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&data[..16]);
    let crc = u32_at(data, 16);
    let delta = i16::from_le_bytes([data[20], data[21]]) as i64;
    let file = &data[22..];
    let name = "seg_1.tdi";
    let key = segment_key(&id, name);
    let len = (file.len() as i64).saturating_add(delta).max(0) as u64;
    let loc = FileLoc { id, len, crc };
    let slice = FileSlice::from_vec(file.to_vec());
    match verify(&key, name, &slice, &loc) {
        Ok(()) => {
            // Served only when it is exactly what the manifest records.
            assert_eq!(file.len() as u64, loc.len);
            assert!(file.len() >= 4);
            assert_eq!(u32_at(file, file.len() - 4), crc, "footer CRC");
        }
        Err(e) => assert!(e.to_string().contains(&key), "{e}"),
    }
    // And the same with the location the file itself announces.
    if file.len() >= 4 {
        let own = FileLoc {
            id,
            len: file.len() as u64,
            crc: u32_at(file, file.len() - 4),
        };
        let _ = verify(&key, name, &slice, &own);
    }
}

/// A commit of the seed index (no segments) at `generation`.
pub fn seed_commit(generation: u64, wal_position: u64) -> Commit {
    Commit {
        generation,
        index_id: IndexId(SEED_INDEX),
        schema: Schema::logs(),
        segments: Vec::new(),
        next_segment: 0,
        wal_position,
        user_data: Vec::new(),
    }
}

/// A document of the logs schema.
fn doc(id: u64, text: &str) -> Document {
    let mut d = Document::new();
    d.add_u64(Field(0), id).add_text(Field(2), text);
    d
}

/// A small valid record list starting at `lsn`, shaped by `shape`.
pub fn seed_records(lsn: u64, shape: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut l = lsn.max(1);
    for (i, s) in shape.iter().take(8).enumerate() {
        let id = (*s as u64) % 16;
        let r = match s % 3 {
            0 => Record::Add {
                lsn: l,
                doc: doc(
                    id,
                    if i % 2 == 0 {
                        "disk full"
                    } else {
                        "failed password"
                    },
                ),
            },
            1 => {
                let mut key = vec![0xFF, 0];
                key.extend_from_slice(&id.to_be_bytes());
                Record::Delete { lsn: l, key }
            }
            _ => {
                let mut key = vec![0xFF, 0];
                key.extend_from_slice(&id.to_be_bytes());
                Record::Update {
                    lsn: l,
                    key,
                    doc: doc(id, "disk replaced"),
                }
            }
        };
        l = r.last_lsn().saturating_add(1);
        out.push(r);
    }
    out
}

/// Most objects a scenario puts in its bucket.
const MAX_OBJECTS: usize = 12;

static RUN: AtomicU64 = AtomicU64::new(0);

/// A scratch directory for a takeover's local index and cache (on a
/// memory file system when there is one), removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let n = RUN.fetch_add(1, Ordering::Relaxed);
        let p = base.join(format!("lucerna-bucket-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch directory");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Mode 5: a bucket. The input is a sequence of objects, each
/// `kind: u8 | a: u8 | b: u8 | len: u8 | len bytes`:
///
/// * kind % 8 = 0: manifest `a % 8 + 1` holding the bytes (`b` odd: the
///   bytes are header fields and a commit payload, see [`forge_manifest`];
///   the generation is forced to the key's);
/// * 1: a valid manifest of generation `a % 8 + 1` of the seed index,
///   writer epoch `b % 4 + 1`, log epoch `b / 4 % 4 + 1`, log position
///   the first body byte (a body byte 0xFF makes the index id another);
/// * 2: shipped batch `wal/<a % 4 + 1>-<b + 1>` holding the bytes;
/// * 3: a valid batch of epoch `a % 4 + 1` from lsn `b + 1`, records
///   shaped by the bytes;
/// * 4: lease `b % 4` on generation `a % 8 + 1` holding the bytes;
/// * 5: a valid snapshot record of generation `a % 8 + 1`;
/// * 6: segment object `segments/<16 × a>/seg_<b>.tdi` holding the bytes;
/// * 7: an object named by the bytes (lossy UTF-8), empty.
///
/// Then: the catalog's chain, a dry-run garbage collection, a read-only
/// searcher and (when `take_over`) a takeover, which replays the shipped
/// log, each checked against the chain.
pub fn scenario(data: &[u8], take_over: bool) {
    // One in-memory store and runtime per process (a runtime per run
    // would cost more than the run); each run gets a prefix of its own,
    // emptied afterwards.
    static STORE: std::sync::OnceLock<Option<Bucket>> = std::sync::OnceLock::new();
    let Some(base) = STORE.get_or_init(|| Bucket::in_memory().ok()) else {
        return;
    };
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let bucket = base.child(&format!("run-{run}")).with_retry(RetryPolicy {
        attempts: 1,
        base_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        op_timeout: Duration::from_secs(30),
    });
    fill_bucket(&bucket, data);
    check_bucket(&bucket, take_over);
    if let Ok(all) = bucket.list("") {
        for l in all {
            let _ = bucket.delete(&l.key);
        }
    }
}

/// Puts the objects `data` describes (see [`scenario`]) in `bucket`.
fn fill_bucket(bucket: &Bucket, data: &[u8]) {
    let mut rest = data;
    let mut objects = 0;
    while rest.len() >= 4 && objects < MAX_OBJECTS {
        let (kind, a, b, len) = (rest[0], rest[1], rest[2], rest[3] as usize);
        let len = len.min(rest.len() - 4);
        let body = &rest[4..4 + len];
        rest = &rest[4 + len..];
        objects += 1;
        let g = (a % 8) as u64 + 1;
        let (key, bytes) = match kind % 8 {
            0 if b & 1 == 1 => {
                // Header fields and a commit payload, framed validly, for
                // generation `g` whatever the header says.
                let mut f = body.to_vec();
                f.resize(f.len().max(8), 0);
                f[..8].copy_from_slice(&g.to_le_bytes());
                (manifest_key(g), forge_manifest(&f))
            }
            0 => (manifest_key(g), body.to_vec()),
            1 => {
                let pos = body.first().copied().unwrap_or(0) as u64;
                let mut c = seed_commit(g, pos);
                if body.contains(&0xFF) {
                    c.index_id = IndexId(*b"another-index-id");
                }
                let epoch = (b % 4) as u64 + 1;
                let log_epoch = (b / 4 % 4) as u64 + 1;
                match Manifest::new(&c, epoch, log_epoch) {
                    Ok(m) => (manifest_key(g), m.encode()),
                    Err(_) => continue,
                }
            }
            2 => (wal_key((a % 4) as u64 + 1, b as u64 + 1), body.to_vec()),
            3 => {
                let recs = seed_records(b as u64 + 1, body);
                if recs.is_empty() {
                    continue;
                }
                let e = (a % 4) as u64 + 1;
                (
                    wal_key(e, recs[0].lsn()),
                    shiplog::encode(IndexId(SEED_INDEX), e, &recs),
                )
            }
            4 => (lease_key((b % 4) as u64, g), body.to_vec()),
            5 => (
                format!("snapshots/s{b}"),
                Hold {
                    generation: g,
                    expires: i64::MAX,
                }
                .encode(),
            ),
            6 => (
                segment_key(&[a; 16], &format!("seg_{b}.tdi")),
                body.to_vec(),
            ),
            _ => (String::from_utf8_lossy(body).into_owned(), Vec::new()),
        };
        // A name object_store refuses, or one already there: skipped.
        let _ = bucket.put_create(&key, &bytes);
    }
}

/// Reads `bucket` with every reader and checks that they agree.
pub fn check_bucket(bucket: &Bucket, take_over: bool) {
    let Ok(listed) = bucket.list("") else {
        return;
    };
    for l in &listed {
        check_name(&l.key);
    }
    let chain = match Catalog::new(bucket.clone()).chain() {
        Ok(c) => c,
        Err(_) => return,
    };
    // The chain: valid generations ascend, exist, and their epochs never
    // go down; every manifest is readable or reported unreadable, once.
    let valid = chain.valid().to_vec();
    assert!(valid.windows(2).all(|w| w[0] < w[1]));
    let mut floor = 0;
    for g in &valid {
        let m = &chain.manifests[g];
        assert!(m.epoch >= floor, "an epoch goes down in the chain");
        floor = m.epoch;
        assert_eq!(m.generation, *g);
    }
    assert_eq!(chain.newest().map(|m| m.generation), valid.last().copied());
    for (g, _) in &chain.unreadable {
        assert!(!chain.manifests.contains_key(g));
    }
    let manifest_keys = listed
        .iter()
        .filter(|l| parse_manifest_key(&l.key).is_some())
        .count();
    assert_eq!(
        chain.manifests.len() + chain.unreadable.len(),
        manifest_keys,
        "a listed manifest is neither read nor reported"
    );

    // Garbage collection (a dry run): retains only what exists, and
    // deletes nothing but expired leases when a manifest is unreadable.
    if let Ok(r) = gc(
        bucket,
        &GcOptions {
            dry_run: true,
            ..GcOptions::default()
        },
    ) {
        for g in &r.retained {
            assert!(chain.manifests.contains_key(g), "retains a missing {g}");
            assert!(
                !r.manifests.contains(&manifest_key(*g)),
                "deletes retained {g}"
            );
        }
        if let Some(n) = chain.newest_generation() {
            if chain.unreadable.is_empty() {
                assert!(r.retained.contains(&n), "the newest commit is not retained");
            }
        }
        if !chain.unreadable.is_empty() {
            assert!(r.skipped.is_some());
            assert!(r.manifests.is_empty() && r.segments.is_empty() && r.orphans.is_empty());
            assert!(r.logs.is_empty());
        }
    }

    let scratch = Scratch::new();
    // A read-only searcher serves the newest valid commit, or fails.
    if let Ok(dir) = ObjectDirectory::read_only(bucket.clone(), &scratch.0.join("ro")) {
        if let Ok(index) = lucerna::Index::open(dir) {
            if let Ok(reader) = index.reader() {
                let s = reader.searcher();
                assert_eq!(
                    Some(s.generation()),
                    chain.newest_generation(),
                    "a searcher serves another commit than the newest valid one ({valid:?})"
                );
                let _ = s.num_docs();
            }
        }
    }

    // A takeover builds on the newest valid commit, fences one generation
    // up and replays the shipped records the commit lacks.
    if !take_over {
        return;
    }
    let shipped: usize = listed
        .iter()
        .filter(|l| parse_wal_key(&l.key).is_some())
        .filter_map(|l| bucket.get(&l.key).ok())
        .filter_map(|b| shiplog::decode("w", &b).ok())
        .map(|b| b.records.len())
        .sum();
    let taken = BucketWriter::take_over(
        bucket.clone(),
        &scratch.0.join("local"),
        &scratch.0.join("cache"),
        lucerna::WriterConfig::default()
            .no_merges()
            .indexing_threads(1),
        BucketDurability::Bucket,
    );
    if let Ok((w, report)) = taken {
        let newest = chain
            .newest()
            .expect("a takeover of a bucket without a commit");
        assert_eq!(report.base_generation, newest.generation);
        assert_eq!(report.fence_generation, newest.generation + 1);
        assert!(report.generation >= report.fence_generation);
        assert_eq!(report.epoch, chain.max_epoch() + 1);
        assert!(
            report.replayed as usize <= shipped,
            "replayed more than was shipped"
        );
        let _ = w.writer().searcher().map(|s| s.num_docs());
        drop(w);
        // The bucket now holds the takeover's commits, and they count.
        if let Ok(after) = Catalog::new(bucket.clone()).chain() {
            assert_eq!(after.newest_generation(), Some(report.generation));
        }
    }
}

/// Seed inputs of the target: real objects the crate writes, each behind
/// the mode byte that reads it. `(file name, bytes)`.
pub fn seed_corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut with = |name: &str, mode: u8, bytes: Vec<u8>| {
        let mut v = vec![mode];
        v.extend_from_slice(&bytes);
        out.push((format!("seed-{name}"), v));
    };
    let names = [
        manifest_key(3),
        manifest_key(u64::MAX),
        segment_key(&SEED_INDEX, "seg_1.tdi"),
        wal_key(2, 17),
        lease_key(0xfeed, 4),
        "snapshots/nightly-1".to_string(),
        "s3://logs/idx/a".to_string(),
        "manifests/7".to_string(),
    ];
    with("names", 0, names.join("\n").into_bytes());
    let mut c = seed_commit(3, 4);
    c.user_data.push(("k".into(), "v".into()));
    let m = Manifest::new(&c, 2, 1).expect("seed manifest");
    with("manifest", 1, m.encode());
    let recs = seed_records(5, &[0, 1, 2, 3]);
    let b = shiplog::encode(IndexId(SEED_INDEX), 1, &recs);
    with("batch", 2, b.clone());
    // The fixed-up forms: header fields then the payload.
    let mut fm = Vec::new();
    fm.extend_from_slice(&3u64.to_le_bytes());
    fm.extend_from_slice(&2u64.to_le_bytes());
    fm.extend_from_slice(&1u64.to_le_bytes());
    fm.extend_from_slice(&SEED_INDEX);
    let commit = &m.commit_bytes;
    // The commit file's payload: after its envelope header, before its footer.
    if let Ok(env) = lucerna::store::EnvelopeReader::open_checked(
        "commit-3",
        FileSlice::from_vec(commit.clone()),
    ) {
        fm.extend_from_slice(&env.payload());
    }
    with("manifest-fixup", 0x80 | 1, fm.clone());
    let mut fb = b[8..52].to_vec();
    for r in &recs {
        let mut framed = Vec::new();
        r.encode_into(&mut framed);
        let body = &framed[8..];
        fb.extend_from_slice(&(body.len() as u16).to_le_bytes());
        fb.extend_from_slice(body);
    }
    with("batch-fixup", 0x80 | 2, fb);
    with(
        "lease",
        3,
        Hold {
            generation: 4,
            expires: 1_900_000_000,
        }
        .encode(),
    );
    // A segment file: an envelope, with the location it records.
    let file = envelope("termdict", 2, SEED_INDEX, b"not a real dictionary");
    let mut sf = SEED_INDEX.to_vec();
    sf.extend_from_slice(&u32_at(&file, file.len() - 4).to_le_bytes());
    sf.extend_from_slice(&0i16.to_le_bytes());
    sf.extend_from_slice(&file);
    with("segment-file", 4, sf);
    // Buckets: a writer's history (two manifests, epochs 1 and 2, a
    // shipped batch of each epoch, a lease, a snapshot, an orphan).
    let mut bucket = Vec::new();
    let mut obj = |kind: u8, a: u8, b: u8, body: &[u8]| {
        bucket.extend_from_slice(&[kind, a, b, body.len() as u8]);
        bucket.extend_from_slice(body);
    };
    obj(1, 0, 0, &[0]); // generation 1, epoch 1, log epoch 1, position 0
    obj(3, 0, 0, &[0, 1, 2]); // epoch 1 from lsn 1
    obj(1, 1, 5, &[3]); // generation 2, epoch 2, log epoch 2, position 3
    obj(3, 1, 3, &[0, 0, 2]); // epoch 2 from lsn 4
    obj(5, 1, 1, &[]);
    obj(
        4,
        1,
        0,
        &Hold {
            generation: 2,
            expires: i64::MAX,
        }
        .encode(),
    );
    obj(6, 7, 1, b"orphan");
    // A forged manifest: generation 3 by writer epoch 3, log epoch 2.
    let mut forged = vec![0u8; 8];
    forged.extend_from_slice(&3u64.to_le_bytes());
    forged.extend_from_slice(&2u64.to_le_bytes());
    forged.extend_from_slice(&SEED_INDEX);
    forged.extend_from_slice(&fm[40..]);
    if forged.len() < 256 {
        obj(0, 2, 1, &forged);
    }
    with("bucket-history", 5, bucket.clone());
    with("bucket-history-takeover", 0x40 | 5, bucket.clone());
    // The same with a damaged manifest on top.
    let mut damaged = bucket;
    damaged.extend_from_slice(&[0, 2, 0, 4, b'L', b'O', b'M', b'F']);
    with("bucket-damaged-manifest", 0x40 | 5, damaged);
    out
}
