//! Pruned top-k equals exhaustive top-k.
//!
//! MaxScore (disjunctions, with per-window block bounds), the one-pass
//! conjunction and exact phrases (bounded by their rarest term's block
//! impacts) skip documents and whole blocks that cannot enter the top k.
//! On a seeded corpus whose postings span many blocks, with skewed term
//! frequencies and document lengths (so block bounds differ), every query's
//! top 10 must equal — bit for bit in score, and in address — the first 10
//! of the exhaustive ranking (k = every document, where nothing can be
//! pruned), and the counts must agree. Counting conjunctions, which merge
//! or seek block by block, are also held to a brute-force count.

use lucerna::schema::Field;
use lucerna::schema::Schema;
use lucerna::store::rng::SplitMix64;
use lucerna::store::RamDirectory;
use lucerna::{Collect, Document, Durability, Index, Query, ScoredDoc, Searcher, WriterConfig};

const VOCAB: usize = 60;

fn word(i: usize) -> String {
    format!("w{i}")
}

/// Appends `n` words drawn uniformly from the vocabulary to `text`.
fn push_words(text: &mut String, n: u64, rng: &mut SplitMix64) {
    for _ in 0..n {
        text.push_str(&word(rng.below(VOCAB as u64) as usize));
        text.push(' ');
    }
}

/// A committed in-memory index of `texts` (document `i` has id `i`), in
/// segments of `segment_docs` documents; returns it and its body field.
fn index_of(texts: impl IntoIterator<Item = String>, segment_docs: usize) -> (Index, Field) {
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let id = schema.field("id").unwrap();
    let index = Index::create(RamDirectory::new(), schema).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .max_buffered_docs(segment_docs)
                .durability(Durability::None),
        )
        .unwrap();
    for (i, text) in texts.into_iter().enumerate() {
        let mut d = Document::new();
        d.add_u64(id, i as u64).add_text(body, text);
        w.add_document(d).unwrap();
    }
    w.commit().unwrap();
    (index, body)
}

/// Asserts that `got` holds exactly the hits `want`, bit for bit in score
/// and in address.
fn assert_same_hits(got: &[ScoredDoc], want: &[ScoredDoc], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.score.to_bits(), g.address),
            (w.score.to_bits(), w.address),
            "{what}"
        );
    }
}

#[test]
fn pruned_top_k_equals_exhaustive_top_k() {
    let mut rng = SplitMix64::new(0x5eed);
    let n_docs = 9000u64;
    let texts = (0..n_docs).map(|i| {
        let len = 1 + rng.below(if i % 7 == 0 { 60 } else { 12 }) as usize;
        let mut text = String::new();
        for _ in 0..len {
            // Skewed: low word numbers are common.
            let a = rng.below(VOCAB as u64);
            let b = rng.below(VOCAB as u64);
            text.push_str(&word(a.min(b) as usize));
            text.push(' ');
        }
        text
    });
    let (index, body) = index_of(texts, 4000);
    let s = index.reader().unwrap().searcher();
    assert!(s.num_docs() == n_docs);
    let mut qrng = SplitMix64::new(7);
    let mut checked = 0;
    for round in 0..400 {
        if round >= 300 {
            // A common word or two beside rare ones (`helen of troy`): the
            // rare clauses' documents set a floor under the k-th score
            // before MaxScore starts.
            let common: Vec<String> = (0..1 + round % 2)
                .map(|_| word(qrng.below(3) as usize))
                .collect();
            let rare: Vec<String> = (0..1 + qrng.below(3))
                .map(|_| word(52 + qrng.below(8) as usize))
                .collect();
            let q = Query::or(common.into_iter().chain(rare).map(|w| Query::term(body, w)));
            checked += check_against_exhaustive(&s, &q, n_docs);
            continue;
        }
        let n_terms = 2 + qrng.below(3) as usize;
        // Phrases of common words, so that they match often.
        let range = if round % 3 == 2 { 8 } else { VOCAB as u64 / 2 };
        let words: Vec<String> = (0..n_terms)
            .map(|_| word(qrng.below(range) as usize))
            .collect();
        let terms = words.iter().map(|w| Query::term(body, w.clone()));
        let q = match round % 3 {
            0 => Query::or(terms),
            1 => Query::and(terms),
            _ => Query::phrase(body, words.iter().take(n_terms.min(3)).cloned()),
        };
        checked += check_against_exhaustive(&s, &q, n_docs);
    }
    println!("{checked} pruned rankings checked");
}

/// Checks `q`'s top 1, 10 and 100 in both modes against the first hits
/// of its exhaustive ranking (k = every document, where nothing can be
/// pruned), and its counts; returns how many rankings were checked.
fn check_against_exhaustive(s: &Searcher, q: &Query, n_docs: u64) -> usize {
    let all = s
        .search(q, Collect::CountAndTopK(n_docs as usize + 1))
        .unwrap();
    let mut checked = 0;
    for k in [1usize, 10, 100] {
        let want = &all.hits[..k.min(all.hits.len())];
        for collect in [Collect::CountAndTopK(k), Collect::TopK(k)] {
            let got = s.search(q, collect).unwrap();
            if let Collect::CountAndTopK(_) = collect {
                assert_eq!(got.count, all.count, "{q:?}: count");
            }
            assert_same_hits(&got.hits, want, &format!("{q:?} {collect:?}"));
            checked += 1;
        }
    }
    checked
}

/// Single terms (and exact phrases led by one) whose postings span many
/// groups of 32 blocks: top-k walks
/// past blocks that cannot compete a group at a time, by the group's
/// impacts, and must still give exactly the exhaustive top k. The common
/// words appear in most documents with skewed frequencies and document
/// lengths, so the groups' bounds differ and some groups can be skipped.
#[test]
fn pruned_single_terms_equal_exhaustive_top_k() {
    let mut rng = SplitMix64::new(0x6e0);
    let n_docs = 30_000u64;
    let texts = (0..n_docs).map(|_| {
        let mut text = String::new();
        for c in 0..4 {
            // Word `c{c}` in most documents; now and then many times.
            if rng.below(10) < 8 - c {
                let tf = if rng.below(400) == 0 {
                    2 + rng.below(8)
                } else {
                    1 + rng.below(2)
                };
                for _ in 0..tf {
                    text.push_str(&format!("c{c} "));
                }
            }
        }
        // A pair always adjacent: the phrase "pa pb" occurs exactly as
        // often as its terms, so the lead term's bounds are tight for it.
        if rng.below(10) < 7 {
            let tf = if rng.below(400) == 0 {
                2 + rng.below(8)
            } else {
                1 + rng.below(2)
            };
            for _ in 0..tf {
                text.push_str("pa pb ");
            }
        }
        let filler = if rng.below(50) == 0 {
            rng.below(3)
        } else {
            2 + rng.below(40)
        };
        push_words(&mut text, filler, &mut rng);
        text
    });
    let (index, body) = index_of(texts, 20_000);
    let s = index.reader().unwrap().searcher();
    assert_eq!(s.num_docs(), n_docs);
    let mut checked = 0;
    let terms = ["c0", "c1", "c2", "c3", "w0", "w7"].map(|t| Query::term(body, t));
    // Exact phrases lead with their rarest term, whose group impacts bound
    // them too.
    let phrases = [["pa", "pb"], ["c0", "c1"], ["c2", "c3"]].map(|p| Query::phrase(body, p));
    for q in terms.iter().chain(&phrases) {
        let t = format!("{q:?}");
        // The reference ranks every document through the generic scorer
        // path: a lone term has its own collection loops (for both modes),
        // which must not be checked against themselves. A clause that
        // matches nothing keeps the query off them and adds no score.
        let reference = Query::Boolean {
            must: vec![q.clone()],
            should: Vec::new(),
            must_not: vec![Query::term(body, "absent")],
            minimum_should_match: 0,
        };
        let all = s
            .search(&reference, Collect::CountAndTopK(n_docs as usize + 1))
            .unwrap();
        assert!(all.hits.len() > 4096, "{t}: {} hits", all.hits.len());
        for k in [1usize, 10, 100] {
            let want = &all.hits[..k.min(all.hits.len())];
            for collect in [Collect::CountAndTopK(k), Collect::TopK(k)] {
                let got = s.search(q, collect).unwrap();
                assert_same_hits(&got.hits, want, &format!("{t} {collect:?}"));
                checked += 1;
            }
        }
    }
    println!("{checked} pruned single-term and phrase rankings checked");
}

/// Conjunctions of terms spanning many groups of 32 blocks (of unlike
/// densities, so their blocks and groups end at different documents), where most
/// groups cannot compete (long documents, one occurrence each) and a few
/// short documents with many occurrences are scattered through the
/// segment: top-k passes windows and whole groups by their bounds, and
/// must still give exactly the exhaustive top k.
#[test]
fn pruned_conjunctions_equal_exhaustive_top_k() {
    let mut rng = SplitMix64::new(0xa7d);
    let n_docs = 40_000u64;
    let texts = (0..n_docs).map(|_| {
        let mut text = String::new();
        let strong = rng.below(2500) == 0;
        // `cd` is the sparser: its blocks and groups span more documents.
        for (t, tenths) in [("ca", 8), ("cb", 8), ("cc", 8), ("cd", 3)] {
            if strong || rng.below(10) < tenths {
                let tf = if strong { 1 + rng.below(6) } else { 1 };
                for _ in 0..tf {
                    text.push_str(t);
                    text.push(' ');
                }
            }
        }
        let filler = if strong {
            rng.below(4)
        } else {
            10 + rng.below(30)
        };
        push_words(&mut text, filler, &mut rng);
        text
    });
    let (index, body) = index_of(texts, 40_000);
    let s = index.reader().unwrap().searcher();
    let mut checked = 0;
    for terms in [
        vec!["ca", "cb"],
        vec!["cc", "ca", "cb"],
        vec!["ca", "cd"],
        vec!["cb", "w3"],
    ] {
        let q = Query::and(terms.into_iter().map(|t| Query::term(body, t)));
        checked += check_against_exhaustive(&s, &q, n_docs);
    }
    println!("{checked} pruned conjunction rankings checked");
}

/// Counting conjunctions against a brute-force count, and their top k
/// against the top-k-only path. A counting conjunction goes through its
/// rarest term's blocks either by merging them with the next rarest
/// term's or by seeking the others to each of its documents, and switches
/// between the two block by block with how many of the lead's documents
/// matched. The corpus has long stretches where two words always come
/// together, stretches where they meet by chance, and stretches where one
/// is missing, at densities from alike to far apart, with deleted
/// documents throughout: the count must be the brute-force count of live
/// documents holding every word, and the top k (every k, in count mode)
/// must equal, bit for bit, the top-k-only path's, which seeks one
/// candidate at a time.
#[test]
fn counting_conjunctions_agree_with_brute_force_and_top_k_only() {
    let n_docs = 30_000u64;
    let mut rng = SplitMix64::new(0xc0417);
    let docs: Vec<Vec<&str>> = (0..n_docs)
        .map(|i| conjunction_words(i, &mut rng))
        .collect();
    let (index, body) = index_of(docs.iter().map(|w| w.join(" ")), 12_000);
    // Every seventh document deleted, and a whole stretch of matches.
    let id = index.schema().field("id").unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .durability(Durability::None),
        )
        .unwrap();
    let mut live = vec![true; n_docs as usize];
    for i in (0..n_docs).filter(|i| i % 7 == 3 || (3_000..3_400).contains(i)) {
        w.delete_by_id(id, i).unwrap();
        live[i as usize] = false;
    }
    w.commit().unwrap();
    let s = index.reader().unwrap().searcher();

    let queries: [&[&str]; 8] = [
        &["a", "b"],
        &["b", "a"],
        &["a", "b", "c"],
        &["a", "e"],
        &["b", "e", "a"],
        &["a", "d"],
        &["c", "e"],
        &["d", "b", "e"],
    ];
    for q in queries {
        let want = (0..n_docs as usize)
            .filter(|&i| live[i] && q.iter().all(|t| docs[i].contains(t)))
            .count() as u64;
        let query = Query::and(q.iter().map(|t| Query::term(body, *t)));
        for k in [0usize, 1, 10, 1000] {
            let got = s.search(&query, Collect::CountAndTopK(k)).unwrap();
            assert_eq!(got.count, Some(want), "{q:?} k={k}: count");
            let top = s.search(&query, Collect::TopK(k)).unwrap();
            assert_same_hits(&got.hits, &top.hits, &format!("{q:?} k={k}"));
        }
    }
}

/// The words of document `i`: `a` and `b` in stretches of 1,000
/// documents where both always occur, where each occurs by chance, or
/// where `b` never does; `c` in a tenth of all documents, `d` in a
/// hundredth, `e` in half; filler words give the documents unlike
/// lengths.
fn conjunction_words(i: u64, rng: &mut SplitMix64) -> Vec<&'static str> {
    let mut w = Vec::new();
    match (i / 1000) % 3 {
        0 => w.extend(["a", "b"]),
        1 => {
            if rng.below(3) == 0 {
                w.push("a");
            }
            if rng.below(2) == 0 {
                w.push("b");
            }
        }
        _ => w.push("a"),
    }
    if rng.below(10) == 0 {
        w.push("c");
    }
    if rng.below(100) == 0 {
        w.push("d");
    }
    if rng.below(2) == 0 {
        w.push("e");
    }
    let fillers = rng.below(6) as usize;
    w.extend(std::iter::repeat_n("filler", fillers));
    // Repeats, so frequencies differ.
    if rng.below(4) == 0 {
        w.push("a");
    }
    w
}
