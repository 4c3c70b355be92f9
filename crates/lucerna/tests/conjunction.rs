//! Counting conjunctions against a brute-force count, and their top k
//! against the top-k-only path.
//!
//! A counting conjunction goes through its rarest term's blocks either by
//! merging them with the next rarest term's or by seeking the others to
//! each of its documents, and switches between the two block by block
//! with how many of the lead's documents matched. The corpus below has
//! long stretches where two words always come together, stretches where
//! they meet by chance, and stretches where one is missing, at densities
//! from alike to far apart, with deleted documents throughout: the count
//! must be the brute-force count of live documents holding every word,
//! and the top k (every k, in count mode) must equal, bit for bit, the
//! top-k-only path's, which seeks one candidate at a time.

use lucerna::schema::Schema;
use lucerna::store::rng::SplitMix64;
use lucerna::store::RamDirectory;
use lucerna::{Collect, Document, Durability, Index, Query, WriterConfig};

/// The words of document `i`: `a` and `b` in stretches of 1,000
/// documents where both always occur, where each occurs by chance, or
/// where `b` never does; `c` in a tenth of all documents, `d` in a
/// hundredth, `e` in half; filler words give the documents unlike
/// lengths.
fn words(i: u64, rng: &mut SplitMix64) -> Vec<&'static str> {
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

#[test]
fn counting_conjunctions_agree_with_brute_force_and_top_k_only() {
    let n_docs = 30_000u64;
    let schema = Schema::logs();
    let body = schema.field("body").unwrap();
    let id = schema.field("id").unwrap();
    let index = Index::create(RamDirectory::new(), schema).unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .max_buffered_docs(12_000)
                .durability(Durability::None),
        )
        .unwrap();
    let mut rng = SplitMix64::new(0xc0417);
    let mut docs = Vec::new();
    for i in 0..n_docs {
        let words = words(i, &mut rng);
        let mut d = Document::new();
        d.add_u64(id, i).add_text(body, words.join(" "));
        w.add_document(d).unwrap();
        docs.push(words);
    }
    // Every seventh document deleted, and a whole stretch of matches.
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
            assert_eq!(got.hits.len(), top.hits.len(), "{q:?} k={k}");
            for (g, t) in got.hits.iter().zip(&top.hits) {
                assert_eq!(
                    (g.score.to_bits(), g.address),
                    (t.score.to_bits(), t.address),
                    "{q:?} k={k}"
                );
            }
        }
    }
}
