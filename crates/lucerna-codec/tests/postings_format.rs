//! Postings and term dictionary: roundtrips against an in-memory model
//! (iteration, seeks, positions, block-max bounds) and corruption handling.

mod harness;
use harness::*;
use lucerna_codec::postings::{
    doc_file, keeps_impacts, pos_file, PostingsReader, PostingsWriter, TermInfo, DOC_VERSION,
    DOC_VERSION_MIN, POS_VERSION, POS_VERSION_MIN, TERMINATED,
};
use lucerna_codec::termdict::{TermDict, TermDictWriter};
use lucerna_store::{write_file, Directory, FileSlice, RamDirectory};
use proptest::prelude::*;

const SEG: [u8; 16] = [5; 16];

/// One document of a term: id, positions (freq = len), norm.
#[derive(Debug, Clone)]
struct Post {
    doc: u32,
    positions: Vec<u32>,
    norm: u8,
}

fn write_terms(
    dir: &dyn Directory,
    terms: &[(Vec<u8>, Vec<Post>)],
    with_pos: bool,
) -> Vec<TermInfo> {
    write_terms_version(dir, terms, with_pos, DOC_VERSION)
}

/// As `write_terms`, in doc/freq format `version`.
fn write_terms_version(
    dir: &dyn Directory,
    terms: &[(Vec<u8>, Vec<Post>)],
    with_pos: bool,
    version: u32,
) -> Vec<TermInfo> {
    write_terms_versions(dir, terms, with_pos, (version, POS_VERSION))
}

/// As `write_terms`, in doc/freq and positions formats `versions`.
fn write_terms_versions(
    dir: &dyn Directory,
    terms: &[(Vec<u8>, Vec<Post>)],
    with_pos: bool,
    (version, pos_version): (u32, u32),
) -> Vec<TermInfo> {
    let mut pw =
        PostingsWriter::with_versions(dir, SEG, "s", with_pos, version, pos_version).unwrap();
    let mut td = TermDictWriter::new(dir, SEG, "s.tdi").unwrap();
    let mut infos = Vec::new();
    for (key, posts) in terms {
        pw.start_term();
        for p in posts {
            pw.add_doc(p.doc, p.positions.len() as u32, &p.positions, p.norm)
                .unwrap();
        }
        let info = pw.finish_term().unwrap();
        td.insert(key, &info).unwrap();
        infos.push(info);
    }
    pw.finish().unwrap();
    td.finish().unwrap();
    infos
}

/// A term key and its postings.
type Term = (Vec<u8>, Vec<Post>);

/// Random postings: `n` docs out of `max_doc`, 1–4 positions each, mostly
/// small, some of any width up to 32 bits.
fn posts_strategy(max_doc: u32) -> impl Strategy<Value = Vec<Post>> {
    proptest::collection::btree_set(0..max_doc, 1..(max_doc as usize).min(700))
        .prop_flat_map(|docs| {
            let n = docs.len();
            let position = prop_oneof![40 => 0u32..60, 1 => any::<u32>()];
            (
                Just(docs),
                proptest::collection::vec(proptest::collection::btree_set(position, 1..5), n),
                proptest::collection::vec(any::<u8>(), n),
            )
        })
        .prop_map(|(docs, pos, norms)| {
            docs.into_iter()
                .zip(pos)
                .zip(norms)
                .map(|((doc, ps), norm)| Post {
                    doc,
                    positions: ps.into_iter().collect(),
                    norm,
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_iteration_positions_and_seeks(
        terms in proptest::collection::vec(posts_strategy(2000), 1..5),
        seeks in proptest::collection::vec(0u32..2100, 1..40),
        steps in proptest::collection::vec(1u32..24, 1..16),
        version in DOC_VERSION_MIN..=DOC_VERSION,
        pos_version in POS_VERSION_MIN..=POS_VERSION,
    ) {
        let dir = RamDirectory::new();
        let keyed: Vec<Term> = terms
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("\0t{i:03}").into_bytes(), p))
            .collect();
        write_terms_versions(&dir, &keyed, true, (version, pos_version));
        let td = TermDict::open(&dir, "s.tdi", SEG).unwrap();
        let pr = PostingsReader::open(&dir, "s", SEG, 2000).unwrap();
        prop_assert_eq!(td.num_terms(), keyed.len() as u64);
        for (key, posts) in &keyed {
            let info = td.get(key).unwrap().unwrap();
            prop_assert_eq!(info.doc_freq as usize, posts.len());
            // Full iteration with positions.
            let mut p = pr.postings(&info).unwrap();
            let mut pos = Vec::new();
            for want in posts {
                prop_assert_eq!(p.doc(), want.doc);
                prop_assert_eq!(p.freq() as usize, want.positions.len());
                pos.clear();
                p.positions(&mut pos).unwrap();
                prop_assert_eq!(&pos, &want.positions);
                p.advance().unwrap();
            }
            prop_assert_eq!(p.doc(), TERMINATED);
            // Seeks in increasing order, reading positions of some docs only.
            let mut sorted = seeks.clone();
            sorted.sort_unstable();
            let mut p = pr.postings(&info).unwrap();
            for (j, &t) in sorted.iter().enumerate() {
                // Targets increase, so the first doc ≥ t is always right.
                let got = p.seek(t).unwrap();
                let expect = posts.iter().map(|x| x.doc).find(|&d| d >= t).unwrap_or(TERMINATED);
                prop_assert_eq!(got, expect);
                if got != TERMINATED && j % 2 == 0 {
                    let x = posts.iter().find(|x| x.doc == got).unwrap();
                    pos.clear();
                    p.positions(&mut pos).unwrap();
                    prop_assert_eq!(&pos, &x.positions);
                }
            }
            // Seeks a few documents on at a time, within the loaded
            // block and across its end, to the end of the term.
            let mut p = pr.postings(&info).unwrap();
            let mut t = 0u32;
            for &step in steps.iter().cycle() {
                t += step;
                let got = p.seek(t).unwrap();
                let want = posts.iter().find(|x| x.doc >= t);
                prop_assert_eq!(got, want.map_or(TERMINATED, |x| x.doc));
                match want {
                    Some(x) => prop_assert_eq!(p.freq() as usize, x.positions.len()),
                    None => break,
                }
            }
            // Block-max bounds hold for every doc up to the block's last doc.
            let mut p = pr.postings(&info).unwrap();
            let mut target = 0u32;
            loop {
                let last = p.shallow_seek(target).unwrap();
                if last == TERMINATED {
                    prop_assert!(posts.iter().all(|x| x.doc < target));
                    break;
                }
                prop_assert!(posts.iter().any(|x| x.doc == last));
                for x in posts.iter().filter(|x| x.doc >= target && x.doc <= last) {
                    prop_assert!(x.positions.len() as u32 <= p.block_max_freq());
                    prop_assert!(x.norm >= p.block_min_norm());
                    let imps = p.block_impacts();
                    prop_assert!(imps.len() <= lucerna_codec::postings::MAX_IMPACTS);
                    if posts.len() > 128 {
                        prop_assert!(!imps.is_empty());
                        prop_assert!(
                            imps.iter().any(|&(f, n)| f >= x.positions.len() as u32 && n <= x.norm),
                            "doc {} (freq {}, norm {}) above every impact {:?}",
                            x.doc, x.positions.len(), x.norm, imps
                        );
                    }
                }
                target = last + 1;
            }
        }
        // Prefix listing is exactly the keys, in order.
        let listed: Vec<Vec<u8>> = td.prefix(b"\0t").unwrap().map(|r| r.unwrap().0).collect();
        let keys: Vec<Vec<u8>> = keyed.iter().map(|k| k.0.clone()).collect();
        prop_assert_eq!(listed, keys);
    }
}

#[test]
fn without_positions_has_no_pos_file() {
    let dir = RamDirectory::new();
    let posts: Vec<Post> = (0..300)
        .map(|d| Post {
            doc: d * 2,
            positions: vec![0],
            norm: 1,
        })
        .collect();
    let infos = write_terms(&dir, &[(b"\0k".to_vec(), posts)], false);
    assert!(!dir.exists("s.pos").unwrap());
    let pr = PostingsReader::open(&dir, "s", SEG, 600).unwrap();
    assert!(!pr.has_positions());
    let mut p = pr.postings(&infos[0]).unwrap();
    assert_eq!(p.seek(401).unwrap(), 402);
    assert!(p.positions(&mut Vec::new()).is_err());
}

#[test]
fn writer_rejects_bad_input() {
    let dir = RamDirectory::new();
    let mut w = PostingsWriter::new(&dir, SEG, "s", true).unwrap();
    assert!(w.add_doc(1, 1, &[0], 0).is_err(), "outside a term");
    w.start_term();
    w.add_doc(5, 1, &[0], 0).unwrap();
    assert!(w.add_doc(5, 1, &[0], 0).is_err(), "repeated doc");
    assert!(w.add_doc(3, 1, &[0], 0).is_err(), "decreasing doc");
    assert!(w.add_doc(6, 0, &[], 0).is_err(), "freq 0");
    assert!(w.add_doc(6, 2, &[1], 0).is_err(), "positions count");
    assert!(w.add_doc(6, 2, &[4, 1], 0).is_err(), "decreasing positions");
    w.finish_term().unwrap();
    w.start_term();
    assert!(w.finish_term().is_err(), "empty term");

    let mut td = TermDictWriter::new(&dir, SEG, "d").unwrap();
    let info = TermInfo {
        doc_freq: 1,
        doc_off: 1,
        pos_off: 0,
    };
    td.insert(b"b", &info).unwrap();
    assert!(td.insert(b"a", &info).is_err(), "keys out of order");
    assert!(td.insert(b"b", &info).is_err(), "repeated key");
    assert!(
        td.insert(
            b"c",
            &TermInfo {
                doc_freq: 0,
                ..info
            }
        )
        .is_err(),
        "doc_freq 0"
    );
}

#[test]
fn out_of_range_term_info_is_an_error() {
    let dir = RamDirectory::new();
    let posts: Vec<Post> = (0..10)
        .map(|d| Post {
            doc: d,
            positions: vec![d],
            norm: 1,
        })
        .collect();
    let infos = write_terms(&dir, &[(b"\0k".to_vec(), posts)], true);
    let pr = PostingsReader::open(&dir, "s", SEG, 10).unwrap();
    for bad in [
        TermInfo {
            doc_freq: 11,
            ..infos[0]
        },
        TermInfo {
            doc_freq: 0,
            ..infos[0]
        },
        TermInfo {
            doc_off: 0,
            ..infos[0]
        },
        TermInfo {
            doc_off: 1 << 40,
            ..infos[0]
        },
        TermInfo {
            pos_off: 1 << 40,
            ..infos[0]
        },
    ] {
        assert!(pr.postings(&bad).unwrap_err().is_corrupt(), "{bad:?}");
    }
    // A max_doc smaller than the ids in the file is detected.
    let dir = RamDirectory::new();
    let posts: Vec<Post> = (0..10)
        .map(|d| Post {
            doc: d * 2,
            positions: vec![0],
            norm: 1,
        })
        .collect();
    let infos = write_terms(&dir, &[(b"\0k".to_vec(), posts)], true);
    let small = PostingsReader::open(&dir, "s", SEG, 12).unwrap();
    assert!(small.postings(&infos[0]).unwrap_err().is_corrupt());
}

/// Documents of the sample segment.
const SAMPLE_MAX_DOC: u32 = 5000;

/// Writes a small segment with terms of one doc, a short block, exactly one
/// full block, several blocks, and more than one group of blocks; returns
/// the directory.
fn sample_dir() -> (RamDirectory, Vec<Term>) {
    sample_dir_version(DOC_VERSION)
}

/// As `sample_dir`, in doc/freq format `version`.
fn sample_dir_version(version: u32) -> (RamDirectory, Vec<Term>) {
    sample_dir_versions((version, POS_VERSION))
}

/// As `sample_dir`, in doc/freq and positions formats `versions`.
fn sample_dir_versions(versions: (u32, u32)) -> (RamDirectory, Vec<Term>) {
    let dir = RamDirectory::new();
    let mk = |n: u32, step: u32| -> Vec<Post> {
        (0..n)
            .map(|i| Post {
                doc: i * step,
                positions: (0..(i % 3 + 1)).map(|k| k * 2 + i % 5).collect(),
                norm: (i % 200) as u8,
            })
            .collect()
    };
    let terms = vec![
        (b"\0a".to_vec(), mk(1, 1)),
        (b"\0bb".to_vec(), mk(40, 7)),
        (b"\0c".to_vec(), mk(128, 2)),
        (b"\x01d".to_vec(), mk(300, 1)),
        // More than 32 blocks: group impacts from version 3 on.
        (b"\x01e".to_vec(), mk(33 * 128 + 7, 1)),
    ];
    write_terms_versions(&dir, &terms, true, versions);
    (dir, terms)
}

/// Opens the segment in `dir` and reads every term fully.
fn read_all(dir: &dyn Directory) -> lucerna_store::Result<()> {
    let td = TermDict::open(dir, "s.tdi", SEG)?;
    let pr = PostingsReader::open(dir, "s", SEG, SAMPLE_MAX_DOC)?;
    let mut pos = Vec::new();
    for item in td.prefix(b"")? {
        let (_, info) = item?;
        let mut p = pr.postings(&info)?;
        let mut n = 0u32;
        while p.doc() != TERMINATED {
            pos.clear();
            p.positions(&mut pos)?;
            p.shallow_seek(p.doc())?;
            p.shallow_seek_group(p.doc())?;
            p.advance()?;
            n += 1;
            if n > info.doc_freq {
                panic!("cursor yielded more docs than doc_freq");
            }
        }
    }
    Ok(())
}

fn sweep_file(name: &'static str) {
    sweep_file_versions(name, (DOC_VERSION, POS_VERSION));
}

fn sweep_file_versions(name: &'static str, versions: (u32, u32)) {
    let (dir, _) = sample_dir_versions(versions);
    let file = dir.open(name).unwrap().to_vec();
    let others: Vec<(String, Vec<u8>)> = ["s.tdi", "s.doc", "s.pos"]
        .iter()
        .filter(|n| **n != name)
        .map(|n| (n.to_string(), dir.open(n).unwrap().to_vec()))
        .collect();
    let decode = |data: FileSlice| -> lucerna_store::Result<()> {
        let d = RamDirectory::new();
        for (n, b) in &others {
            write_file(&d, n, b)?;
        }
        write_file(&d, name, &data)?;
        read_all(&d)
    };
    let s = corruption_sweep(&file, 1 << 16, &decode);
    eprintln!("{name} corruption sweep: {s:?}");
    assert!(s.flips > 0 && s.truncations > 0);
}

#[test]
fn corruption_of_doc_file() {
    sweep_file("s.doc");
}

#[test]
fn corruption_of_version_1_doc_file() {
    sweep_file_versions("s.doc", (1, POS_VERSION));
}

#[test]
fn corruption_of_pos_file() {
    sweep_file("s.pos");
}

#[test]
fn corruption_of_version_1_pos_file() {
    sweep_file_versions("s.pos", (DOC_VERSION, 1));
}

/// Both positions versions hold the same positions; version 2 (packed)
/// is the smaller for these small ones.
#[test]
fn every_pos_version_reads_back_the_same_positions() {
    let (v1, terms) = sample_dir_versions((DOC_VERSION, 1));
    let (v2, _) = sample_dir_versions((DOC_VERSION, 2));
    let header = |d: &RamDirectory| {
        lucerna_store::EnvelopeReader::open(d, "s.pos")
            .unwrap()
            .header()
            .version
    };
    assert_eq!((header(&v1), header(&v2), POS_VERSION), (1, 2, 2));
    assert!(v2.open("s.pos").unwrap().len() < v1.open("s.pos").unwrap().len());
    for dir in [&v1, &v2] {
        // Every third document only: the others' positions are passed.
        assert_reads_terms(dir, &terms, 3);
    }
}

/// Reads every term of `terms` back from the sample segment in `dir`:
/// documents and frequencies, and the positions of every `every`-th
/// document.
fn assert_reads_terms(dir: &RamDirectory, terms: &[Term], every: usize) {
    let td = TermDict::open(dir, "s.tdi", SEG).unwrap();
    let pr = PostingsReader::open(dir, "s", SEG, SAMPLE_MAX_DOC).unwrap();
    let mut pos = Vec::new();
    for (key, posts) in terms {
        let info = td.get(key).unwrap().unwrap();
        let mut p = pr.postings(&info).unwrap();
        for (i, want) in posts.iter().enumerate() {
            assert_eq!(p.doc(), want.doc);
            assert_eq!(p.freq() as usize, want.positions.len());
            if i % every == 0 {
                pos.clear();
                p.positions(&mut pos).unwrap();
                assert_eq!(pos, want.positions);
            }
            p.advance().unwrap();
        }
        assert_eq!(p.doc(), TERMINATED);
    }
}

#[test]
fn corruption_of_term_dictionary() {
    sweep_file("s.tdi");
}

/// Every doc/freq version holds the same postings. Versions 1 and 2
/// differ only in the layout of full blocks, so their files have the same
/// length and differ inside the packed bytes alone; version 3 adds group
/// impacts.
#[test]
fn every_doc_version_reads_back_the_same_postings() {
    let (v1, terms) = sample_dir_version(1);
    let (v2, _) = sample_dir_version(2);
    let (v3, _) = sample_dir_version(3);
    let header = |d: &RamDirectory| {
        lucerna_store::EnvelopeReader::open(d, "s.doc")
            .unwrap()
            .header()
            .version
    };
    assert_eq!((header(&v1), header(&v2)), (1, 2));
    assert_eq!((header(&v3), DOC_VERSION), (3, 3));
    let (b1, b2) = (v1.open("s.doc").unwrap(), v2.open("s.doc").unwrap());
    assert_eq!(b1.len(), b2.len());
    assert_ne!(b1.to_vec(), b2.to_vec());
    assert_eq!(
        v1.open("s.pos").unwrap().to_vec(),
        v2.open("s.pos").unwrap().to_vec()
    );
    assert!(v3.open("s.doc").unwrap().len() > b2.len());
    for dir in [&v1, &v2, &v3] {
        assert_reads_terms(dir, &terms, 1);
    }
}

#[test]
fn sample_reads_back() {
    let (dir, terms) = sample_dir();
    read_all(&dir).unwrap();
    let td = TermDict::open(&dir, "s.tdi", SEG).unwrap();
    let fields: Vec<Vec<u8>> = td.prefix(b"\0").unwrap().map(|r| r.unwrap().0).collect();
    assert_eq!(fields.len(), 3, "prefix stops at the field boundary");
    assert_eq!(td.num_terms(), terms.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (dir, _) = sample_dir();
        for name in ["s.tdi", "s.doc", "s.pos"] {
            let header = lucerna_store::EnvelopeReader::open(&dir, name).unwrap().header().clone();
            decode_random_payload(&header, &payload, 1 << 16, &|data: FileSlice| {
                let d = RamDirectory::new();
                for n in ["s.tdi", "s.doc", "s.pos"] {
                    if n == name {
                        write_file(&d, n, &data)?;
                    } else {
                        write_file(&d, n, &dir.open(n)?)?;
                    }
                }
                read_all(&d)
            });
        }
    }
}

/// Terms `t000`, `t001`, … holding `terms`, written in positions version
/// `pos_version` and opened again: what the copying tests copy from.
fn copy_source(
    terms: Vec<Vec<Post>>,
    pos_version: u32,
) -> (Vec<Term>, Vec<TermInfo>, PostingsReader) {
    let src = RamDirectory::new();
    let keyed: Vec<Term> = terms
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("\0t{i:03}").into_bytes(), p))
        .collect();
    let infos = write_terms_versions(&src, &keyed, true, (DOC_VERSION, pos_version));
    let pr = PostingsReader::open(&src, "s", SEG, 2000).unwrap();
    (keyed, infos, pr)
}

/// Two writers of postings `m`: the first gets the documents added again,
/// the second a copy of them.
fn copy_targets() -> [(RamDirectory, PostingsWriter); 2] {
    [(); 2].map(|()| {
        let dir = RamDirectory::new();
        let w = PostingsWriter::new(&dir, SEG, "m", true).unwrap();
        (dir, w)
    })
}

/// `cursor` on term `info` of `source`, reset from term to term as a
/// merge's cursor is.
fn cursor_on<'c>(
    cursor: &'c mut Option<lucerna_codec::SegmentPostings>,
    source: &PostingsReader,
    info: &TermInfo,
) -> &'c mut lucerna_codec::SegmentPostings {
    match cursor {
        Some(c) => {
            c.reset(source, info).unwrap();
            c
        }
        slot => slot.insert(source.postings(info).unwrap()),
    }
}

/// Finishes both writers of [`copy_targets`]: their files must be the
/// same bytes.
fn assert_same_files(targets: [(RamDirectory, PostingsWriter); 2]) -> Result<(), TestCaseError> {
    let [(decoded, dw), (copied, cw)] = targets;
    dw.finish().unwrap();
    cw.finish().unwrap();
    for name in [doc_file("m"), pos_file("m")] {
        let a = decoded.open(&name).unwrap();
        let b = copied.open(&name).unwrap();
        prop_assert_eq!(&a[..], &b[..], "{}", name);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// What a merge does: one cursor per input moved from term to term
    /// with `reset`, positions copied as stored (`position_values` into
    /// `add_doc_values`), from either positions version, some documents
    /// dropped, norms given only to terms that keep impacts. The files are
    /// byte for byte those written by adding every position again.
    #[test]
    fn copying_stored_positions_with_a_reset_cursor_writes_the_same_files(
        terms in proptest::collection::vec(posts_strategy(2000), 1..6),
        drop_every in 2u32..7,
        pos_version in POS_VERSION_MIN..=POS_VERSION,
    ) {
        let (keyed, infos, pr) = copy_source(terms, pos_version);
        let mut targets = copy_targets();
        let [(_, dw), (_, cw)] = &mut targets;
        let mut cursor = None;
        let (mut pos, mut values) = (Vec::new(), Vec::new());
        for (info, (_, posts)) in infos.iter().zip(&keyed) {
            let kept: Vec<&Post> = posts.iter().filter(|p| p.doc % drop_every != 0).collect();
            if kept.is_empty() {
                continue;
            }
            let with_norms = keeps_impacts(u64::from(info.doc_freq));
            dw.start_term();
            for p in &kept {
                dw.add_doc(p.doc, p.positions.len() as u32, &p.positions, p.norm).unwrap();
            }
            dw.finish_term().unwrap();
            let c = cursor_on(&mut cursor, &pr, info);
            cw.start_term();
            for p in posts {
                prop_assert_eq!(c.doc(), p.doc);
                if p.doc % drop_every != 0 {
                    // Read twice: the second read gives the same values.
                    pos.clear();
                    c.positions(&mut pos).unwrap();
                    prop_assert_eq!(&pos, &p.positions);
                    values.clear();
                    c.position_values(&mut values).unwrap();
                    let norm = if with_norms { p.norm } else { 0 };
                    cw.add_doc_values(p.doc, c.freq(), &values, norm).unwrap();
                }
                c.advance().unwrap();
            }
            cw.finish_term().unwrap();
        }
        assert_same_files(targets)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// What a merge does with an input without deletes: the rest of each
    /// block (`block_rest`, `block_position_values`) shifted by the
    /// input's first new doc id and copied as one run
    /// (`add_docs_values`), from either positions version, starting part
    /// way into a term. The files are byte for byte those written by
    /// adding every document again; reading a block's values leaves the
    /// cursor on its document.
    #[test]
    fn copying_blocks_of_stored_positions_writes_the_same_files(
        terms in proptest::collection::vec(posts_strategy(2000), 1..6),
        base in 0u32..5000,
        skip in 0usize..140,
        pos_version in POS_VERSION_MIN..=POS_VERSION,
    ) {
        let (keyed, infos, pr) = copy_source(terms, pos_version);
        let mut targets = copy_targets();
        let [(_, dw), (_, cw)] = &mut targets;
        let mut cursor = None;
        let (mut values, mut again, mut docs) = (Vec::new(), Vec::new(), Vec::new());
        for (info, (_, posts)) in infos.iter().zip(&keyed) {
            let kept = posts.get(skip..).unwrap_or_default();
            if kept.is_empty() {
                continue;
            }
            let with_norms = keeps_impacts(kept.len() as u64);
            let norm_of = |new: u32| {
                let old = new - base;
                let p = posts.iter().find(|p| p.doc == old).expect("a document of the term");
                if with_norms { p.norm } else { 0 }
            };
            dw.start_term();
            for p in kept {
                dw.add_doc(p.doc + base, p.positions.len() as u32, &p.positions, norm_of(p.doc + base))
                    .unwrap();
            }
            dw.finish_term().unwrap();
            let c = cursor_on(&mut cursor, &pr, info);
            for _ in 0..skip {
                c.advance().unwrap();
            }
            cw.start_term();
            loop {
                values.clear();
                c.block_position_values(&mut values).unwrap();
                again.clear();
                c.position_values(&mut again).unwrap();
                prop_assert_eq!(&again[..], &values[..c.freq() as usize]);
                let (rest, freqs) = c.block_rest();
                docs.clear();
                docs.extend(rest.iter().map(|&d| d + base));
                cw.add_docs_values(&docs, freqs, &values, norm_of).unwrap();
                if c.next_block().unwrap() == TERMINATED {
                    break;
                }
            }
            cw.finish_term().unwrap();
        }
        assert_same_files(targets)?;
    }
}

#[test]
fn stored_position_values_must_be_freq_and_fit_32_bits() {
    for pos_version in POS_VERSION_MIN..=POS_VERSION {
        let dir = RamDirectory::new();
        let mut w =
            PostingsWriter::with_versions(&dir, SEG, "s", true, DOC_VERSION, pos_version).unwrap();
        w.start_term();
        assert!(
            w.add_doc_values(1, 2, &[3], 0).is_err(),
            "one value for two"
        );
        assert!(w.add_doc_values(1, 1, &[3, 4], 0).is_err(), "two for one");
        assert!(
            w.add_doc_values(1, 2, &[u32::MAX, 1], 0).is_err(),
            "a sum past 32 bits"
        );
        assert!(w.add_doc_values(1, 0, &[], 0).is_err(), "freq 0");
        w.add_doc_values(1, 2, &[u32::MAX - 1, 1], 0).unwrap();
        assert!(w.add_doc_values(1, 1, &[0], 0).is_err(), "repeated doc");
        w.finish_term().unwrap();
    }
}

/// Whether `impacts` bound a document of frequency `f` and norm `n`: some
/// pair has a frequency at least `f` and a norm at most `n`.
fn bounds(impacts: &[(u32, u8)], f: u32, n: u8) -> bool {
    impacts.iter().any(|&(fi, ni)| fi >= f && ni <= n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Group impacts (version 3) bound every document of their 32 blocks,
    /// the group's last document is its last block's, and asking for
    /// targets in any order (forward, backward, past the end) agrees with
    /// the blocks. Terms of 32 blocks or fewer, and older versions, keep
    /// none.
    #[test]
    fn group_impacts_bound_every_document_of_their_blocks(
        n in 1usize..12_000,
        seed in any::<u64>(),
        targets in proptest::collection::vec(0u32..40_000, 1..30),
    ) {
        let mut rng = lucerna_store::rng::SplitMix64::new(seed);
        let mut doc = 0u32;
        let posts: Vec<Post> = (0..n)
            .map(|_| {
                doc += 1 + rng.below(3) as u32;
                let span = if rng.below(50) == 0 { 40 } else { 3 };
                let f = 1 + rng.below(span) as u32;
                Post {
                    doc,
                    positions: (0..f).collect(),
                    norm: rng.below(256) as u8,
                }
            })
            .collect();
        let max_doc = doc + 1;
        for version in [2, DOC_VERSION] {
            let dir = RamDirectory::new();
            let infos = write_terms_version(&dir, &[(b"\0t".to_vec(), posts.clone())], true, version);
            let pr = PostingsReader::open(&dir, "s", SEG, max_doc).unwrap();
            let mut p = pr.postings(&infos[0]).unwrap();
            let blocks = n.div_ceil(128);
            for &t in &targets {
                let got = p.shallow_seek_group(t).unwrap();
                if version < 3 || blocks <= 32 {
                    prop_assert!(got.is_none());
                    continue;
                }
                let g = got.unwrap();
                let (last, impacts) = (g.last_doc, g.impacts);
                let Some(k) = posts.iter().position(|x| x.doc >= t) else {
                    prop_assert_eq!(last, TERMINATED);
                    continue;
                };
                let g = (k / 128) / 32;
                let members = &posts[g * 32 * 128..((g + 1) * 32 * 128).min(n)];
                prop_assert_eq!(last, members.last().unwrap().doc);
                prop_assert!(!impacts.is_empty() && impacts.len() <= 8);
                for x in members {
                    prop_assert!(
                        bounds(impacts, x.positions.len() as u32, x.norm),
                        "doc {} (freq {}, norm {}) not bounded by {:?}",
                        x.doc, x.positions.len(), x.norm, impacts
                    );
                }
            }
        }
    }
}

/// Impacts are read a byte pair at a time while frequencies fit one
/// byte, and as varints from the first that does not: blocks mixing both
/// still bound every one of their documents, and list the large ones.
#[test]
fn impacts_with_multi_byte_frequencies_read_back() {
    let dir = RamDirectory::new();
    let freq_of = |doc: u32| match doc % 97 {
        0 => 300 + doc,
        1 => 127,
        2 => 128,
        _ => 1 + doc % 3,
    };
    let posts: Vec<Post> = (0..1000u32)
        .map(|doc| Post {
            doc,
            positions: (0..freq_of(doc)).collect(),
            norm: (doc % 7) as u8 * 30,
        })
        .collect();
    let infos = write_terms(&dir, &[(b"\0t".to_vec(), posts.clone())], true);
    let pr = PostingsReader::open(&dir, "s", SEG, 1000).unwrap();
    let mut p = pr.postings(&infos[0]).unwrap();
    let mut multi_byte = 0;
    for chunk in posts.chunks(128) {
        let first = chunk[0].doc;
        let last = p.shallow_seek(first).unwrap();
        assert_eq!(last, chunk[chunk.len() - 1].doc);
        let impacts = p.block_impacts().to_vec();
        assert!(!impacts.is_empty());
        for x in chunk {
            assert!(
                bounds(&impacts, x.positions.len() as u32, x.norm),
                "doc {} unbounded by {impacts:?}",
                x.doc
            );
        }
        let max = chunk
            .iter()
            .map(|x| x.positions.len() as u32)
            .max()
            .unwrap();
        assert_eq!(impacts.iter().map(|i| i.0).max(), Some(max));
        multi_byte += usize::from(max >= 128);
    }
    assert!(
        multi_byte >= 5,
        "{multi_byte} blocks with a frequency of two bytes"
    );
}

/// A document holds at most `MAX_DOC_POSITIONS` positions of a term: the
/// writer refuses more, and a file whose frequency says more is corrupt
/// when its positions are read (a forged frequency cannot make a read
/// allocate without bound: packed positions of width 0 take no bytes).
#[test]
fn positions_per_document_are_bounded() {
    use lucerna_codec::postings::MAX_DOC_POSITIONS;
    let dir = RamDirectory::new();
    let mut w = PostingsWriter::new(&dir, SEG, "s", true).unwrap();
    w.start_term();
    let too_many = vec![0u32; MAX_DOC_POSITIONS as usize + 1];
    assert!(w
        .add_doc_values(0, MAX_DOC_POSITIONS + 1, &too_many, 0)
        .is_err());
    // Without positions, any frequency is taken.
    let plain = RamDirectory::new();
    let mut w = PostingsWriter::new(&plain, SEG, "p", false).unwrap();
    w.start_term();
    w.add_doc(0, u32::MAX - 1, &[], 0).unwrap();
    w.finish_term().unwrap();

    // A one-document term whose short block says freq 2^24 + 1, and a
    // positions block of one zero-width chunk per 128 values.
    let dir = RamDirectory::new();
    let mut w = PostingsWriter::new(&dir, SEG, "s", true).unwrap();
    w.start_term();
    w.add_doc(0, 1, &[0], 0).unwrap();
    let info = w.finish_term().unwrap();
    w.finish().unwrap();
    let forged_freq = MAX_DOC_POSITIONS + 1;
    let mut doc = lucerna_codec::ByteWriter::new();
    doc.u8(1); // flags: positions
    doc.vint(0); // doc 0 (delta 0 << 1), frequency given next
    doc.vint(forged_freq as u64);
    let pos = vec![0u8; (forged_freq as usize).div_ceil(128)];
    let forged = RamDirectory::new();
    let header = |format, version| lucerna_store::EnvelopeHeader::new(format, version, SEG, "");
    envelope_file(&forged, "s.doc", &header("postings-docs", 3), &doc.buf);
    envelope_file(&forged, "s.pos", &header("postings-positions", 2), &pos);
    let r = PostingsReader::open(&forged, "s", SEG, 1).unwrap();
    let mut p = r.postings(&info).unwrap();
    assert_eq!(p.freq(), forged_freq);
    let err = p.positions(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("above the positions"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `add_docs_values` over runs of any length (one document, a block
    /// and more, runs ending inside blocks) writes the files that one
    /// `add_doc_values` per document writes, in every positions version
    /// and without positions.
    #[test]
    fn runs_of_documents_write_what_single_documents_write(
        terms in proptest::collection::vec(posts_strategy(2000), 1..6),
        runs in proptest::collection::vec(1usize..300, 1..8),
        pos_version in POS_VERSION_MIN..=POS_VERSION,
        with_pos in any::<bool>(),
    ) {
        let (single, bulk) = (RamDirectory::new(), RamDirectory::new());
        let mut sw =
            PostingsWriter::with_versions(&single, SEG, "m", with_pos, DOC_VERSION, pos_version)
                .unwrap();
        let mut bw =
            PostingsWriter::with_versions(&bulk, SEG, "m", with_pos, DOC_VERSION, pos_version)
                .unwrap();
        let mut runs = runs.iter().cycle();
        for posts in &terms {
            let values = |p: &Post| {
                let mut prev = 0;
                p.positions
                    .iter()
                    .map(|&x| x - std::mem::replace(&mut prev, x))
                    .collect::<Vec<u32>>()
            };
            sw.start_term();
            for p in posts {
                sw.add_doc_values(p.doc, p.positions.len() as u32, &values(p), p.norm)
                    .unwrap();
            }
            bw.start_term();
            let mut rest = &posts[..];
            while !rest.is_empty() {
                let (run, next) = rest.split_at((*runs.next().unwrap()).min(rest.len()));
                rest = next;
                let docs: Vec<u32> = run.iter().map(|p| p.doc).collect();
                let freqs: Vec<u32> = run.iter().map(|p| p.positions.len() as u32).collect();
                let vals: Vec<u32> = run.iter().flat_map(values).collect();
                let norms: std::collections::HashMap<u32, u8> =
                    run.iter().map(|p| (p.doc, p.norm)).collect();
                bw.add_docs_values(&docs, &freqs, &vals, |d| norms[&d]).unwrap();
            }
            prop_assert_eq!(sw.finish_term().unwrap(), bw.finish_term().unwrap());
        }
        sw.finish().unwrap();
        bw.finish().unwrap();
        let mut names = vec![doc_file("m")];
        if with_pos {
            names.push(pos_file("m"));
        }
        for name in names {
            let a = single.open(&name).unwrap();
            let b = bulk.open(&name).unwrap();
            prop_assert_eq!(&a[..], &b[..], "{}", name);
        }
    }
}

/// A bad run is refused whole: the term keeps what it had, and the same
/// files come out as without the bad run.
#[test]
fn a_bad_run_of_documents_changes_nothing() {
    let bad: [(&[u32], &[u32], &[u32]); 7] = [
        (&[7, 9], &[1], &[0, 0]),     // a frequency missing
        (&[7, 7], &[1, 1], &[0, 0]),  // a repeated document
        (&[9, 8], &[1, 1], &[0, 0]),  // decreasing
        (&[3], &[1], &[0]),           // before the term's last
        (&[7, 9], &[1, 0], &[0]),     // frequency 0
        (&[7, 9], &[2, 1], &[0, 0]),  // a value missing
        (&[7], &[2], &[u32::MAX, 1]), // a position past 32 bits
    ];
    let write = |bad_run: Option<(&[u32], &[u32], &[u32])>| {
        let dir = RamDirectory::new();
        let mut w = PostingsWriter::new(&dir, SEG, "m", true).unwrap();
        w.start_term();
        w.add_docs_values(&[1, 5], &[1, 2], &[4, 1, 2], |_| 3)
            .unwrap();
        if let Some((docs, freqs, values)) = bad_run {
            assert!(
                w.add_docs_values(docs, freqs, values, |_| 3).is_err(),
                "{docs:?} {freqs:?} {values:?}"
            );
        }
        w.add_docs_values(&[6], &[1], &[8], |_| 3).unwrap();
        w.finish_term().unwrap();
        w.finish().unwrap();
        (
            dir.open(&doc_file("m")).unwrap(),
            dir.open(&pos_file("m")).unwrap(),
        )
    };
    let (doc, pos) = write(None);
    for run in bad {
        let (d, p) = write(Some(run));
        assert_eq!((&d[..], &p[..]), (&doc[..], &pos[..]), "{run:?}");
    }
}
