//! The logic of Lucerna's fuzz targets, shared by the cargo-fuzz binaries in
//! `fuzz/fuzz_targets/` and by the ordinary tests that replay the checked-in
//! corpus (`crates/lucerna/tests/fuzz_replay.rs`) and sweep every bit flip
//! and truncation (`crates/lucerna/tests/corruption.rs`), which include this
//! file as a module. It therefore uses nothing but the `lucerna` crate (and
//! its re-exports `lucerna::store`, `lucerna::internals::codec`) and the standard
//! library.
//!
//! Every target takes arbitrary bytes and must return normally: a corrupt
//! input gives an error, never a panic. The only panics here are the
//! targets' own assertions of properties that must hold for every input.
#![forbid(unsafe_code)]

use lucerna::index::check::check_index;
use lucerna::index::Commit;
use lucerna::internals::codec::{
    termdict, ColumnsReader, NormsReader, PostingsReader, StoredReader, TermDict, TermInfo,
};
use lucerna::internals::SearcherInternals;
use lucerna::schema::{NumericKind, Schema};
use lucerna::store::{
    write_file, Directory, EnvelopeHeader, EnvelopeWriter, FileSlice, RamDirectory,
};
use lucerna::{DocAddress, Document, Error, Index, Query, Value, WriterConfig};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};

/// A fuzz target: takes any bytes, returns normally.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the file names in `fuzz/fuzz_targets/` and the
/// directories of `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("index", fuzz_index),
    ("termdict", fuzz_termdict),
    ("postings", fuzz_postings),
    ("stored", fuzz_stored),
    ("columns", fuzz_columns),
    ("livedocs", fuzz_livedocs),
    ("norms", fuzz_norms),
    ("commit", fuzz_commit),
    ("query_parser", fuzz_query_parser),
    ("wal", fuzz_wal),
    ("writer_ops", fuzz_writer_ops),
];

/// Documents of the seed index: the first segment holds
/// `0..SEED_SEGMENT_0`, the second the rest.
pub const SEED_DOCS: u64 = 170;
/// Documents of the seed index's first segment: enough for terms with more
/// than one postings block (128 documents), so skip data and impacts exist.
pub const SEED_SEGMENT_0: u64 = 150;

const TEXTS: &[&str] = &[
    "the quick brown fox jumps over the lazy dog",
    "quick quick fox",
    "lazy dog sleeps",
    "brown bear and brown fox, fox!",
    "a fox in the box",
    "dog days of summer",
    "the end",
    "quick brown dog",
];
const TAGS: &[&str] = &["red", "blue", "red", "green", "blue", "red", "green", "red"];

/// A small index holding every file kind: two segments, a text field with
/// positions (stored; terms with one and with two postings blocks), a
/// keyword field (stored, one document with two values), u64/i64/f64
/// numeric columns (some stored; documents without the f64 value, so a
/// presence bitset), a stored-only field, deleted documents (`.liv` files)
/// and two commits after the index's creation.
#[derive(Debug, Clone)]
pub struct SeedIndex {
    /// Every file of the directory: name, bytes.
    pub files: Vec<(String, Vec<u8>)>,
    /// The files of the newest commit (its manifest included), sorted.
    pub latest: Vec<String>,
}

impl SeedIndex {
    /// A fresh directory holding these files, with `replace` substituted
    /// for the file of that name.
    pub fn directory(&self, replace: Option<(&str, &[u8])>) -> RamDirectory {
        let dir = RamDirectory::new();
        for (name, bytes) in &self.files {
            let bytes = match replace {
                Some((n, b)) if n == name => b,
                _ => bytes.as_slice(),
            };
            write_file(&dir, name, bytes).expect("writing to a RamDirectory");
        }
        dir
    }

    /// The bytes of file `name`.
    pub fn file(&self, name: &str) -> &[u8] {
        &self
            .files
            .iter()
            .find(|(n, _)| n == name)
            .expect("a file of the seed index")
            .1
    }
}

/// Builds the seed index (deterministic except for segment ids, which the
/// writer draws from a time-seeded generator).
pub fn build_seed_index() -> SeedIndex {
    let mut b = Schema::builder();
    let body = b.add_text("body", true);
    let tag = b.add_keyword("tag", true);
    let id = b.add_numeric("id", NumericKind::U64, true);
    let ts = b.add_numeric("ts", NumericKind::I64, false);
    let score = b.add_numeric("score", NumericKind::F64, true);
    let note = b.add_stored("note");
    let schema = b.build().expect("seed schema");
    let dir = RamDirectory::new();
    let index = Index::create(dir.clone(), schema).expect("create seed index");
    let config = WriterConfig::default().no_merges().indexing_threads(1);
    let w = index.writer(config).expect("seed writer");
    for i in 0..SEED_DOCS {
        let k = i as usize;
        let mut d = Document::new();
        // "event" is in 7 of 8 documents (twice in every fifth): more
        // than 128 documents of the first segment, so two postings blocks.
        let event = match (i % 8, i % 5) {
            (7, _) => "",
            (_, 0) => " event event",
            _ => " event",
        };
        d.add_text(body, format!("{}{event}", TEXTS[k % TEXTS.len()]))
            .add_text(tag, TAGS[k % TAGS.len()])
            .add_u64(id, 100 + i)
            .add_i64(ts, (i as i64 - 3) * 7);
        if i % 4 != 3 {
            d.add_f64(score, (i % 5) as f64 * 0.5 - 1.0);
        }
        if i % 3 == 0 {
            d.add_text(note, format!("note {i}"));
        }
        if i == 4 {
            d.add_text(tag, "extra");
        }
        w.add_document(d).expect("seed document");
        if i + 1 == SEED_SEGMENT_0 {
            w.commit().expect("first seed commit");
        }
    }
    w.delete_term(tag, "green").expect("seed delete");
    w.commit().expect("second seed commit");
    drop(w);
    let mut latest = index
        .latest_commit()
        .expect("seed commit")
        .referenced_files();
    latest.sort();
    let files = dir
        .list()
        .expect("list")
        .into_iter()
        .map(|n| {
            let bytes = dir.open(&n).expect("open").to_vec();
            (n, bytes)
        })
        .collect();
    SeedIndex { files, latest }
}

/// The seed index, built once per process.
pub fn seed_index() -> &'static SeedIndex {
    static SEED: OnceLock<SeedIndex> = OnceLock::new();
    SEED.get_or_init(build_seed_index)
}

/// Opens the index in `dir` and runs a fixed workload: term, phrase,
/// prefix, numeric range (i64 and f64), boolean (must, should, must not),
/// a term disjunction, a parsed query string, match-all sorted by a
/// numeric field, each counted and top-k collected; then every column
/// value of every document, and the stored fields of every hit and of the
/// first and last document of each segment. Returns one line per
/// result, so two runs can be compared exactly (scores included).
pub fn run_workload(dir: RamDirectory) -> lucerna::Result<Vec<String>> {
    let index = Index::open(dir)?;
    let searcher = index.reader()?.searcher();
    let schema = searcher.schema().clone();
    let field = |name: &str| {
        schema
            .field(name)
            .ok_or_else(|| Error::InvalidArgument(format!("no field {name}")))
    };
    let (body, tag, id, ts, score) = (
        field("body")?,
        field("tag")?,
        field("id")?,
        field("ts")?,
        field("score")?,
    );
    let queries = vec![
        Query::term(body, "fox"),
        Query::term(body, "event"),
        Query::phrase(body, ["brown", "fox"]),
        Query::Prefix {
            field: body,
            prefix: "la".into(),
        },
        Query::Range {
            field: ts,
            lower: Bound::Included(Value::I64(-7)),
            upper: Bound::Excluded(Value::I64(21)),
        },
        Query::Range {
            field: score,
            lower: Bound::Excluded(Value::F64(-0.5)),
            upper: Bound::Unbounded,
        },
        Query::Boolean {
            must: vec![Query::term(tag, "red")],
            should: vec![Query::term(body, "dog")],
            must_not: vec![Query::term(body, "lazy")],
            minimum_should_match: 0,
        },
        Query::or([Query::term(body, "quick"), Query::term(body, "dog")]),
        searcher.parse_query("body:brown AND NOT tag:blue")?,
    ];
    let mut out = Vec::new();
    let mut fetch = Vec::new();
    for q in &queries {
        let top = searcher.top_k(q, 5)?;
        fetch.extend(top.hits.iter().map(|h| h.address));
        out.push(format!("{top:?}"));
        out.push(format!("{}", searcher.count(q)?));
    }
    let top = searcher.top_k_by_field(&Query::MatchAll, 5, id, true)?;
    fetch.extend(top.hits.iter().map(|h| h.address));
    out.push(format!("{top:?}"));
    for (s, seg) in searcher.segments().iter().enumerate() {
        let first_last = [0, seg.max_doc().saturating_sub(1)];
        fetch.extend(first_last.map(|doc| DocAddress {
            segment: s as u32,
            doc,
        }));
        for d in 0..seg.max_doc() {
            let a = DocAddress {
                segment: s as u32,
                doc: d,
            };
            out.push(format!(
                "{s}/{d} live={} {:?} {:?} {:?}",
                seg.is_live(d),
                searcher.column_value(a, id),
                searcher.column_value(a, ts),
                searcher.column_value(a, score)
            ));
        }
    }
    // The stored documents of every hit, and the first and last of each
    // segment.
    for a in fetch {
        out.push(format!("{a:?} {:?}", searcher.doc(a)?.values()));
    }
    Ok(out)
}

/// The workload's result on the unmodified seed index.
pub fn baseline() -> &'static [String] {
    static BASE: OnceLock<Vec<String>> = OnceLock::new();
    BASE.get_or_init(|| run_workload(seed_index().directory(None)).expect("seed workload"))
}

/// A small reader of fuzz input bytes: missing bytes read as 0.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// Applies a structure-aware mutation to one file of the seed index:
/// input byte 0 picks the file (of the newest commit), byte 1 the
/// operation, bytes 2..6 a position; the rest are the data of the
/// operation. Returns the file's name and its new bytes.
pub fn mutate_seed_file(data: &[u8]) -> (String, Vec<u8>) {
    let seed = seed_index();
    let mut inp = Input(data);
    let name = &seed.latest[inp.u8() as usize % seed.latest.len()];
    let op = inp.u8();
    let pos = inp.u32() as usize;
    let rest = inp.rest();
    let mut bytes = seed.file(name).to_vec();
    let len = bytes.len();
    match op % 5 {
        // Flip one bit.
        0 => bytes[pos % len] ^= 1 << (op >> 5),
        // Overwrite bytes from `pos` (clipped to the file).
        1 => {
            let at = pos % len;
            let n = rest.len().min(len - at);
            bytes[at..at + n].copy_from_slice(&rest[..n]);
        }
        // Truncate.
        2 => bytes.truncate(pos % (len + 1)),
        // Extend.
        3 => bytes.extend_from_slice(rest),
        // Insert bytes at `pos`.
        _ => {
            let at = pos % (len + 1);
            bytes.splice(at..at, rest.iter().copied());
        }
    }
    (name.clone(), bytes)
}

/// Target `index`: opens and searches the seed index with one file mutated
/// ([`mutate_seed_file`]). The workload may fail but must not panic, and
/// `check_index` must report the changed file; when the mutation changed
/// nothing, both must see the unchanged index.
pub fn fuzz_index(data: &[u8]) {
    let seed = seed_index();
    let (name, bytes) = mutate_seed_file(data);
    let dir = seed.directory(Some((&name, &bytes)));
    let result = run_workload(dir.clone());
    let unchanged = bytes == seed.file(&name);
    if unchanged {
        let result = result.expect("the workload on the unchanged index");
        assert_eq!(result, baseline(), "the same index answered differently");
    }
    let dir: Arc<dyn Directory> = Arc::new(dir);
    let report = check_index(&dir, true).expect("check_index reports damage as problems");
    if unchanged {
        assert!(report.healthy(), "a false alarm: {report:?}");
    } else {
        assert!(
            report.problems.iter().any(|p| p.file == name),
            "check_index missed a change of {name}: {report:?}"
        );
    }
}

/// The segment id the decoder targets put in their envelopes.
pub const FUZZ_ID: [u8; 16] = *b"fuzz-segment-id!";

/// Wraps `payload` in a valid envelope of `format` (version 1, id
/// [`FUZZ_ID`], no suffix) and returns the file's bytes.
pub fn envelope(format: &str, id: [u8; 16], payload: &[u8]) -> FileSlice {
    envelope_version(format, 1, id, payload)
}

/// Like [`envelope`], with format version `version`.
pub fn envelope_version(format: &str, version: u32, id: [u8; 16], payload: &[u8]) -> FileSlice {
    let dir = RamDirectory::new();
    let mut w = EnvelopeWriter::create(&dir, "f", &EnvelopeHeader::new(format, version, id, ""))
        .expect("envelope writer");
    w.write_all(payload).expect("envelope payload");
    w.finish().expect("envelope finish");
    dir.open("f").expect("envelope file")
}

fn dir_with(files: &[(&str, FileSlice)]) -> RamDirectory {
    let dir = RamDirectory::new();
    for (name, bytes) in files {
        write_file(&dir, name, bytes).expect("writing to a RamDirectory");
    }
    dir
}

/// Documents a decoder target visits at most (inputs can claim up to
/// u32::MAX; the open checks bound the memory, this bounds the time).
const MAX_VISIT: u32 = 4096;

/// Target `termdict`: the input is the payload of a `termdict` file
/// (wrapped in an envelope of the current version); opens it, iterates
/// every term and looks up every key found plus a few others. When the
/// whole dictionary iterates without an error, every key must look up to
/// the info the iteration gave (a forged file may give wrong answers, but
/// not answers that contradict each other).
pub fn fuzz_termdict(data: &[u8]) {
    let file = envelope_version("termdict", termdict::VERSION, FUZZ_ID, data);
    let dir = dir_with(&[("t.tdi", file)]);
    let Ok(td) = TermDict::open(&dir, "t.tdi", FUZZ_ID) else {
        return;
    };
    let mut terms = Vec::new();
    let mut complete = false;
    if let Ok(iter) = td.prefix(&[]) {
        complete = true;
        for item in iter.take(MAX_VISIT as usize + 1) {
            match item {
                Ok(t) => terms.push(t),
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        complete &= terms.len() <= MAX_VISIT as usize;
    }
    if complete {
        assert_eq!(
            terms.len() as u64,
            td.num_terms(),
            "iteration yields num_terms"
        );
        for (k, info) in &terms {
            assert_eq!(
                td.get(k).ok(),
                Some(Some(*info)),
                "lookup of {k:?} disagrees with iteration"
            );
        }
    }
    let mut keys: Vec<Vec<u8>> = terms.into_iter().map(|(k, _)| k).collect();
    keys.extend([b"\x00fox".to_vec(), Vec::new(), vec![0xff; 3]]);
    for k in &keys {
        let _ = td.get(k);
        if let Ok(iter) = td.prefix(&k[..k.len().min(2)]) {
            for item in iter.take(8) {
                let _ = item;
            }
        }
    }
}

/// Target `postings`: bytes 0..2 max_doc, 2..4 doc_freq, 4..6 doc_off,
/// 6..8 pos_off, 8..10 the length of the `.doc` payload; then the `.doc`
/// payload and the `.pos` payload. Walks every document and its positions,
/// then again with seeks; once for each `.doc` format version read (1:
/// sequential bit layout of full blocks, 2: four-lane SIMD layout, 3:
/// group impacts), each with every `.pos` version read (1: varints, 2:
/// packed per block).
pub fn fuzz_postings(data: &[u8]) {
    use lucerna::internals::codec::postings::{
        DOC_VERSION, DOC_VERSION_MIN, POS_VERSION, POS_VERSION_MIN,
    };
    for version in DOC_VERSION_MIN..=DOC_VERSION {
        for pos_version in POS_VERSION_MIN..=POS_VERSION {
            fuzz_postings_version(data, version, pos_version);
        }
    }
}

fn fuzz_postings_version(data: &[u8], version: u32, pos_version: u32) {
    let mut inp = Input(data);
    let max_doc = inp.u16() as u32;
    let info = TermInfo {
        doc_freq: inp.u16() as u32,
        doc_off: inp.u16() as u64,
        pos_off: inp.u16() as u64,
    };
    let doc_len = inp.u16() as usize;
    let rest = inp.rest();
    let (doc, pos) = rest.split_at(doc_len.min(rest.len()));
    let dir = dir_with(&[
        (
            "p.doc",
            envelope_version("postings-docs", version, FUZZ_ID, doc),
        ),
        (
            "p.pos",
            envelope_version("postings-positions", pos_version, FUZZ_ID, pos),
        ),
    ]);
    let Ok(reader) = PostingsReader::open(&dir, "p", FUZZ_ID, max_doc) else {
        return;
    };
    let mut positions = Vec::new();
    if let Ok(mut p) = reader.postings(&info) {
        let mut last = None;
        for _ in 0..=max_doc.min(MAX_VISIT) {
            let d = p.doc();
            if d == lucerna::internals::codec::postings::TERMINATED {
                break;
            }
            assert!(last < Some(d), "doc ids must increase: {last:?} then {d}");
            last = Some(d);
            let _ = (p.freq(), p.block_last_doc(), p.block_impacts());
            if p.positions(&mut positions).is_err() || p.advance().is_err() {
                break;
            }
        }
    }
    if let Ok(mut p) = reader.postings(&info) {
        let mut target = 0u32;
        for _ in 0..64 {
            let _ = p.shallow_seek(target);
            match p.seek(target) {
                Ok(lucerna::internals::codec::postings::TERMINATED) | Err(_) => break,
                Ok(d) => {
                    assert!(d >= target, "seek({target}) went back to {d}");
                    let _ = p.positions(&mut positions);
                    target = d.saturating_add(3);
                }
            }
        }
    }
    if let Ok(mut p) = reader.postings(&info) {
        let _ = p.for_each_block(|_| {});
    }
}

/// Target `stored`: the input is the payload of a `stored` file; reads
/// every document (sequentially and by id) and decodes each record.
pub fn fuzz_stored(data: &[u8]) {
    let Ok(r) = StoredReader::from_slice("s.sto", envelope("stored", FUZZ_ID, data), &FUZZ_ID)
    else {
        return;
    };
    for rec in r.iter().take(MAX_VISIT as usize) {
        match rec {
            Ok(bytes) => {
                let _ = lucerna::internals::codec::stored::decode_record(&bytes);
            }
            Err(_) => break,
        }
    }
    for d in (0..r.num_docs().min(MAX_VISIT)).rev() {
        let _ = r.get(d);
    }
    let _ = r.get(r.num_docs());
    let _ = r.check();
}

/// Target `columns`: the input is the payload of a `columns` file; reads
/// every value of every column. (A value may lie outside the column's
/// `[min, max]`: the packed bits are not checked against it, see
/// docs/file-format.md.)
pub fn fuzz_columns(data: &[u8]) {
    let Ok(r) = ColumnsReader::from_slice("c.col", envelope("columns", FUZZ_ID, data), &FUZZ_ID)
    else {
        return;
    };
    let n = r.num_docs().min(MAX_VISIT);
    for f in r.fields().collect::<Vec<_>>() {
        let Some(c) = r.column(f) else { continue };
        let mut present = 0;
        for d in 0..n {
            let v = c.get_opt(d);
            present += v.is_some() as u32;
            let _ = (c.get(d), c.has_value(d));
        }
        assert!(present <= c.num_present());
        let mut buf = vec![0u64; n as usize];
        c.get_range(0, &mut buf);
        let _ = c.get_opt(r.num_docs());
    }
}

/// Target `livedocs`: the input is the payload of a `livedocs` file; the
/// expected `max_doc` and deletion generation are taken from the payload
/// (bytes 0..4 and 8..16) so the happy path is reachable.
pub fn fuzz_livedocs(data: &[u8]) {
    let mut inp = Input(data);
    let max_doc = inp.u32();
    let _ = inp.u32();
    let del_gen = inp.u32() as u64 | (inp.u32() as u64) << 32;
    let slice = envelope("livedocs", FUZZ_ID, data);
    let Ok(live) =
        lucerna::internals::codec::LiveDocs::from_slice("l.liv", slice, &FUZZ_ID, del_gen, max_doc)
    else {
        return;
    };
    let n = live.iter_live().take(MAX_VISIT as usize + 1).count();
    assert!(n as u64 <= live.num_live() as u64);
    let _ = (live.is_live(0), live.is_live(max_doc), live.num_deleted());
}

/// Target `norms`: the input is the payload of a `norms` file; reads every
/// norm of every field.
pub fn fuzz_norms(data: &[u8]) {
    let Ok(r) = NormsReader::from_slice("n.nrm", envelope("norms", FUZZ_ID, data), &FUZZ_ID) else {
        return;
    };
    let n = r.max_doc().min(MAX_VISIT);
    for f in r.fields().collect::<Vec<_>>() {
        if let Some(fnorms) = r.field(f) {
            for d in 0..=n {
                let _ = (fnorms.get(d), fnorms.length(d));
            }
        }
        let _ = (r.get(f, n), r.field_slice(f));
    }
    let _ = r.get(u32::MAX, 0);
}

/// Target `commit`: the input is the payload of generation 1's commit
/// manifest; reads it and, when it is valid, opens the index it describes
/// (whose segment files do not exist).
pub fn fuzz_commit(data: &[u8]) {
    let mut id = [0u8; 16];
    id[0] = 1;
    let dir = dir_with(&[("commit-1", envelope("commit", id, data))]);
    if let Ok(c) = Commit::read(&dir, 1) {
        let _ = c.referenced_files();
        let _ = c.num_docs();
        if let Ok(index) = Index::open(dir) {
            let _ = index.reader();
        }
    }
}

/// The seed index's searcher, for the query-parser target.
fn seed_searcher() -> &'static lucerna::Searcher {
    static S: OnceLock<lucerna::Searcher> = OnceLock::new();
    S.get_or_init(|| {
        let index = Index::open(seed_index().directory(None)).expect("seed index");
        index.reader().expect("seed reader").searcher()
    })
}

/// Target `query_parser`: the input (lossy UTF-8) is a query string. Its
/// AST must print back to a string that parses to the same AST; the
/// engine's query builder then compiles it against the seed index and runs
/// it.
pub fn fuzz_query_parser(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(ast) = lucerna::query_parser::parse_query(&text) {
        let printed = ast.to_string();
        let again = lucerna::query_parser::parse_query(&printed);
        assert_eq!(
            again.as_ref(),
            Ok(&ast),
            "{text:?} printed as {printed:?} parses differently"
        );
    }
    let s = seed_searcher();
    if let Ok(q) = s.parse_query(&text) {
        let _ = s.top_k(&q, 3);
        let _ = s.count(&q);
    }
}

/// Largest number of replayed records the `wal` target applies to an index
/// (the read itself covers every record).
const MAX_REPLAY: usize = 256;

/// Target `wal`: the input is the record area of a write-ahead-log file
/// (`wal-…1.log`, a valid header is prepended). Reads it strictly and
/// leniently: lenient reading never fails on a valid header, strict reading
/// returns the same records when it succeeds, records come out in
/// increasing lsn order. Then a writer on an empty index replays the log,
/// commits and searches.
pub fn fuzz_wal(data: &[u8]) {
    use lucerna::index::IndexId;
    use lucerna::internals::wal::{read_logs, record};
    use lucerna::ReplayMode;
    let mut file = record::encode_header(1, IndexId::UNKNOWN, 0).to_vec();
    file.extend_from_slice(data);
    let name = record::file_name(1);
    let dir = RamDirectory::new();
    write_file(&dir, &name, &file).expect("writing to a RamDirectory");
    let (lenient, _) =
        read_logs(&dir, IndexId::UNKNOWN, 0, ReplayMode::Lenient).expect("a lenient read of a log");
    assert!(lenient.windows(2).all(|w| w[0].lsn() <= w[1].lsn()));
    assert!(lenient.iter().all(|r| r.lsn() >= 1));
    if let Ok((strict, _)) = read_logs(&dir, IndexId::UNKNOWN, 0, ReplayMode::Strict) {
        assert_eq!(strict, lenient, "strict and lenient reads differ");
    }
    if lenient.len() > MAX_REPLAY {
        return;
    }
    let index = Index::create(dir.clone(), Schema::logs()).expect("an index in memory");
    let config = WriterConfig::default()
        .no_merges()
        .indexing_threads(1)
        .replay_mode(ReplayMode::Lenient);
    if let Ok(w) = index.writer(config) {
        let _ = w.replay_report();
        if let Ok(s) = w.searcher() {
            let _ = s.count(&Query::MatchAll);
        }
        let _ = w.commit();
    }
}

/// Operations the `writer_ops` target runs at most.
const MAX_OPS: usize = 64;

/// What a key may hold after a run: the version that must be there, and
/// versions that may be (an operation whose call failed is in doubt).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyState {
    sure: Option<u64>,
    maybe: Vec<u64>,
}

/// The acknowledged state of a writer workload, per key (the `writer_ops`
/// target and `tests/durability.rs`).
#[derive(Debug, Clone, Default)]
pub struct OpsModel {
    keys: std::collections::BTreeMap<u64, KeyState>,
}

impl OpsModel {
    /// `key` now holds `version` (`None`: deleted); when the call failed
    /// (`!acked`) the old and the new state are both possible.
    pub fn set(&mut self, key: u64, version: Option<u64>, acked: bool) {
        let e = self.keys.entry(key).or_default();
        if acked {
            *e = KeyState {
                sure: version,
                maybe: Vec::new(),
            };
        } else {
            if let Some(v) = e.sure.take() {
                e.maybe.push(v);
            }
            e.maybe.extend(version);
        }
    }

    /// Everything in `self` or in `other` becomes possible, nothing sure
    /// unless both agree (a rollback or a commit whose call failed).
    pub fn doubt(&mut self, other: &OpsModel) {
        let keys: Vec<u64> = self.keys.keys().chain(other.keys.keys()).copied().collect();
        for k in keys {
            let a = self.keys.get(&k).cloned().unwrap_or_default();
            let b = other.keys.get(&k).cloned().unwrap_or_default();
            if a == b {
                continue;
            }
            let mut maybe: Vec<u64> = a.maybe.iter().chain(&b.maybe).copied().collect();
            maybe.extend(a.sure);
            maybe.extend(b.sure);
            self.keys.insert(k, KeyState { sure: None, maybe });
        }
    }
}

/// The schema of the writer workloads: a stored `id` (the version), a
/// keyword `key` and a stored `body`.
pub fn ops_schema() -> Schema {
    let mut b = Schema::builder();
    b.add_numeric("id", NumericKind::U64, true);
    b.add_keyword("key", true);
    b.add_text("body", true);
    b.build().expect("a valid schema")
}

/// Version `version` of key `key`: its body names both, so a partial
/// document shows.
pub fn ops_doc(schema: &Schema, key: u64, version: u64) -> Document {
    let mut d = Document::new();
    d.add_u64(schema.field("id").expect("id"), version)
        .add_text(schema.field("key").expect("key"), format!("k{key}"))
        .add_text(
            schema.field("body").expect("body"),
            format!("version v{version} of key {key}"),
        );
    d
}

fn ops_config() -> WriterConfig {
    WriterConfig::default()
        .no_merges()
        .indexing_threads(1)
        .max_buffered_docs(4)
        .durability(lucerna::Durability::Sync)
}

/// Target `writer_ops`: the input is a sequence of writer operations (one
/// or two bytes each: add, update, delete, flush, commit, forced merge,
/// rollback, near-real-time searcher, a sticky EIO or ENOSPC armed on the
/// next operation of a kind, faults cleared, power loss and restart) run
/// on a `FaultyDirectory` in `Sync` durability, against a model of what
/// was acknowledged. At the end the faults clear, a reopened writer
/// replays the log and commits, the index passes a full check, and every
/// key holds exactly what the model allows: each acknowledged version
/// exactly once, nothing that was never written, every document whole.
pub fn fuzz_writer_ops(data: &[u8]) {
    use lucerna::store::{Fault, FaultyDirectory, OpKind};
    let seed = data.iter().fold(0u64, |h, &b| h.rotate_left(5) ^ b as u64);
    let fd = FaultyDirectory::new(RamDirectory::new(), seed);
    let schema = ops_schema();
    let index = Index::create(fd.clone(), schema.clone()).expect("an index in memory");
    let key_f = schema.field("key").expect("key");
    let mut model = OpsModel::default();
    let mut committed = OpsModel::default();
    let mut next = 0u64;
    let mut key_of: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut w = index.writer(ops_config()).ok();
    let mut bytes = data.iter().copied();
    let mut ops = 0;
    while let Some(op) = bytes.next() {
        ops += 1;
        if ops > MAX_OPS {
            break;
        }
        let arg = bytes.clone().next().unwrap_or(0);
        let Some(writer) = w.as_ref() else {
            break;
        };
        match op % 16 {
            0..=4 => {
                next += 1;
                let ok = writer.add_document(ops_doc(&schema, next, next)).is_ok();
                key_of.insert(next, next);
                model.set(next, Some(next), ok);
            }
            5 if next > 0 => {
                let old = 1 + arg as u64 % next;
                let key = key_of.get(&old).copied().unwrap_or(old);
                next += 1;
                key_of.insert(next, key);
                let ok = writer
                    .update_document(key_f, &format!("k{key}"), ops_doc(&schema, key, next))
                    .is_ok();
                model.set(key, Some(next), ok);
                bytes.next();
            }
            6 if next > 0 => {
                let v = 1 + arg as u64 % next;
                let key = key_of.get(&v).copied().unwrap_or(v);
                let ok = writer.delete_term(key_f, &format!("k{key}")).is_ok();
                model.set(key, None, ok);
                bytes.next();
            }
            7 => {
                let _ = writer.flush();
            }
            8 => match writer.commit() {
                Ok(_) => committed = model.clone(),
                // It may or may not have become durable.
                Err(_) => committed.doubt(&model),
            },
            9 => {
                let _ = writer.force_merge(1);
            }
            10 => match writer.rollback() {
                Ok(()) => model = committed.clone(),
                Err(_) => model.doubt(&committed),
            },
            11 => {
                let kind = OpKind::ALL[arg as usize % OpKind::ALL.len()];
                let fault = if arg & 0x80 == 0 {
                    Fault::Eio
                } else {
                    Fault::Enospc
                };
                fd.fail_from(kind, fd.op_count(kind), fault);
                bytes.next();
            }
            12 => fd.clear_faults(),
            13 => {
                // Power loss and restart: what was acknowledged is durable.
                fd.crash().expect("a crash of a RAM directory");
                // The old writer goes first (it holds the lock).
                drop(w.take());
                fd.clear_faults();
                let reopened = Index::open(fd.clone())
                    .and_then(|i| i.writer(ops_config()))
                    .expect("a writer reopens after a crash once faults clear");
                // Replayed operations are in its buffers; committed stays
                // what it was (a rollback now undoes the replayed ones).
                w = Some(reopened);
            }
            _ => {
                if let Ok(s) = writer.searcher() {
                    let _ = s.count(&Query::MatchAll);
                }
            }
        }
    }
    // The fault clears; a reopened writer replays the log and commits.
    drop(w);
    fd.clear_faults();
    let reopened = Index::open(fd.clone()).expect("the index opens once faults clear");
    let writer = reopened
        .writer(ops_config())
        .expect("a writer opens once faults clear");
    writer
        .commit()
        .expect("a commit succeeds once faults clear");
    drop(writer);
    let dir: Arc<dyn lucerna::store::Directory> = Arc::new(fd.clone());
    verify_acknowledged(&dir, &model, "writer_ops");
}

/// Checks the newest commit of `dir` against `model`: it passes a full
/// check, every document is whole (its body names its key and version),
/// every key holds only versions the model allows, none twice, and every
/// surely acknowledged version is there. `what` prefixes every failure.
pub fn verify_acknowledged(dir: &Arc<dyn lucerna::store::Directory>, model: &OpsModel, what: &str) {
    let report = check_index(dir, true).expect("check_index never fails");
    assert!(report.healthy(), "{what}: unhealthy: {:?}", report.problems);
    let index = Index::open(dir.clone()).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    let schema = index.schema().clone();
    let (id_f, key_f, body_f) = (
        schema.field("id").expect("id"),
        schema.field("key").expect("key"),
        schema.field("body").expect("body"),
    );
    let searcher = index.reader().expect("a reader").searcher();
    let all = searcher
        .top_k(&Query::MatchAll, searcher.num_docs() as usize + 1)
        .expect("match-all");
    let mut found: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for hit in &all.hits {
        let d = searcher.doc(hit.address).expect("a stored document");
        let v = d.get_first(id_f).and_then(|v| v.as_u64()).expect("an id");
        let key: u64 = d
            .get_first(key_f)
            .and_then(|v| v.as_str())
            .and_then(|k| k.strip_prefix('k'))
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("{what}: version {v} has no key"));
        let text = d.get_first(body_f).and_then(|v| v.as_str()).unwrap_or("");
        assert_eq!(
            text,
            format!("version v{v} of key {key}"),
            "{what}: partial document {v}"
        );
        found.entry(key).or_default().push(v);
    }
    for (key, versions) in &found {
        let e = model.keys.get(key).cloned().unwrap_or_default();
        for v in versions {
            assert!(
                e.sure == Some(*v) || e.maybe.contains(v),
                "{what}: key {key} holds version {v}, allowed {e:?}"
            );
        }
        let mut unique = versions.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            versions.len(),
            "{what}: key {key} duplicated: {versions:?}"
        );
    }
    for (key, e) in &model.keys {
        if let Some(v) = e.sure {
            let got = found.get(key).cloned().unwrap_or_default();
            assert!(
                got.contains(&v),
                "{what}: acknowledged version {v} of key {key} lost: {got:?}"
            );
        }
    }
}

/// The write-ahead-log seed: every record kind, as a writer logs them.
fn wal_seed() -> Vec<u8> {
    use lucerna::Record;
    let schema = Schema::logs();
    let (id, body) = (
        schema.field("id").expect("id"),
        schema.field("body").expect("body"),
    );
    let doc = |i: u64, text: &str| {
        let mut d = Document::new();
        d.add_u64(id, i).add_text(body, text);
        d
    };
    let key = |t: &str| lucerna::internals::search::weight::term_key(body, t);
    let mut out = Vec::new();
    for r in [
        Record::Add {
            lsn: 1,
            doc: doc(1, "disk full on node seven"),
        },
        Record::Add {
            lsn: 2,
            doc: doc(2, "connection refused"),
        },
        Record::Delete {
            lsn: 3,
            key: key("refused"),
        },
        Record::Update {
            lsn: 4,
            key: key("disk"),
            doc: doc(3, "disk replaced"),
        },
        Record::Add {
            lsn: 6,
            doc: doc(4, "rolled back"),
        },
        Record::Rollback {
            lsn: 7,
            from_lsn: 6,
        },
    ] {
        r.encode_into(&mut out);
    }
    out
}

/// Small valid seed inputs per target, for `fuzz/corpus/<target>/`: the
/// real payloads of the seed index's files (for the decoder targets), a few
/// mutations (for `index`) and a few query strings.
pub fn seed_corpus() -> Vec<(&'static str, String, Vec<u8>)> {
    let seed = seed_index();
    let mut out = Vec::new();
    let payload = |name: &str| -> Vec<u8> {
        let bytes = seed.file(name);
        // Header: magic 4, name length 1, name, version 4, id 16, suffix
        // length 1, suffix; footer: 20 bytes.
        let n = bytes[4] as usize;
        let s = bytes[25 + n] as usize;
        bytes[26 + n + s..bytes.len() - 20].to_vec()
    };
    // A file of the newest commit by extension (or name prefix).
    let find = |ext: &str| {
        seed.latest
            .iter()
            .find(|n| n.ends_with(ext) || n.starts_with(ext))
            .expect("a file of each kind")
            .clone()
    };
    out.push(("termdict", "seed-tdi".into(), payload(&find(".tdi"))));
    out.push(("stored", "seed-sto".into(), payload(&find(".sto"))));
    out.push(("columns", "seed-col".into(), payload(&find(".col"))));
    out.push(("livedocs", "seed-liv".into(), payload(&find(".liv"))));
    out.push(("norms", "seed-nrm".into(), payload(&find(".nrm"))));
    let commit = find("commit-");
    let mut c = payload(&commit);
    // The target reads generation 1: the payload starts with the
    // generation as a one-byte vint.
    c[0] = 1;
    out.push(("commit", "seed-commit".into(), c));
    // Postings: the term "event" of the first segment (two blocks, skip
    // data and impacts).
    let dir = seed.directory(None);
    let tdi = find(".tdi");
    let seg = tdi.trim_end_matches(".tdi");
    let header = seed.file(&tdi);
    let n = header[4] as usize;
    let id: [u8; 16] = header[9 + n..25 + n].try_into().expect("segment id");
    let td = TermDict::open(&dir, &tdi, id).expect("seed term dictionary");
    let (_, info) = td
        .prefix(&[])
        .expect("terms")
        .map(|t| t.expect("term"))
        .find(|(k, _)| k.ends_with(b"event"))
        .expect("the term event");
    let doc = payload(&format!("{seg}.doc"));
    let pos = payload(&format!("{seg}.pos"));
    let mut p = Vec::new();
    p.extend((SEED_SEGMENT_0 as u16).to_le_bytes());
    p.extend((info.doc_freq as u16).to_le_bytes());
    p.extend((info.doc_off as u16).to_le_bytes());
    p.extend((info.pos_off as u16).to_le_bytes());
    p.extend((doc.len() as u16).to_le_bytes());
    p.extend(&doc);
    p.extend(&pos);
    out.push(("postings", "seed-event".into(), p));
    let mut one_block = vec![0u8; 10];
    one_block[0] = 4; // max_doc 4
    one_block[2] = 2; // doc_freq 2
    one_block[4] = 1; // doc_off 1
    one_block[8] = 5; // .doc payload: 5 bytes
                      // flags 1; doc 1 freq 1 ((1 << 1) | 1); doc 3 (delta 2) freq 2; positions 0; 1, 4.
    one_block.extend([1, 3, 4, 2, 0, 0, 1, 3]);
    out.push(("postings", "seed-handmade".into(), one_block));
    for (i, (file, op)) in [(0u8, 0u8), (1, 2), (3, 1), (5, 3), (7, 0x20)]
        .iter()
        .enumerate()
    {
        let mut m = vec![*file, *op];
        m.extend((40u32 + i as u32 * 13).to_le_bytes());
        m.extend(b"\xff\x00");
        out.push(("index", format!("seed-{i}"), m));
    }
    for (i, q) in [
        "body:\"quick brown\"~1 AND -tag:blue",
        "(fox dog lazy)~2 ts:[-7 TO 21} score:>=0.5",
        "la* OR id:[100 TO *] NOT \"a\\\"b\"^2",
    ]
    .iter()
    .enumerate()
    {
        out.push(("query_parser", format!("seed-{i}"), q.as_bytes().to_vec()));
    }
    out.push(("wal", "seed-records".into(), wal_seed()));
    // Adds, an update, a delete, a flush, a commit, an armed EIO on the next
    // sync, more adds, a crash and restart, a rollback, a merge.
    out.push((
        "writer_ops",
        "seed-ops".into(),
        vec![
            0, 1, 2, 5, 1, 6, 2, 7, 8, 3, 11, 3, 0, 1, 13, 2, 10, 4, 9, 14,
        ],
    ));
    out
}
