//! The terms of one flush in key order, read from several term tables.
//!
//! A flush writes the buffers of all indexing threads as one segment
//! ([`SegmentBuffer::absorb`](super::buffer::SegmentBuffer::absorb)). Their
//! term tables are not merged into one before the flush: each is sorted
//! on its own (on its own thread when there are several), and
//! [`SortedTerms`] walks the sorted orders side by side, handing out each
//! key once with the tables that hold it. [`TermDecoder`] then decodes
//! the keys' postings from those tables in table order, each table's doc
//! ids shifted by where its documents start, into batches of bounded size
//! that a flush encodes on another thread.

use crate::index::write::helper_thread::Helper;
use crate::index::write::term_table::{StreamReader, TermTable};

/// How many terms ahead of the one handed out a part's term state is
/// prefetched.
const STATE_AHEAD: usize = 16;
/// How many terms ahead a part's key and stream start are prefetched.
const DATA_AHEAD: usize = 8;

/// One term table of a flush and the doc id its documents start at.
#[derive(Clone, Copy)]
pub(crate) struct TermPart<'a> {
    pub table: &'a TermTable,
    pub first_doc: u32,
}

/// The keys of several term tables in order, each once.
pub(crate) struct SortedTerms<'a> {
    parts: Vec<TermPart<'a>>,
    /// Per part: its term ids in key order, terms without documents left
    /// out.
    orders: Vec<Vec<u32>>,
    /// Per part: how far its order has been walked.
    next: Vec<usize>,
    /// The parts holding the last key handed out.
    hit: Vec<usize>,
}

impl<'a> SortedTerms<'a> {
    /// Sorts every part's terms; with `parallel`, parts after the first
    /// on threads of their own (in turn here when none can be started),
    /// joined before this returns.
    pub fn new(parts: Vec<TermPart<'a>>, parallel: bool) -> Self {
        let sort = |t: &TermTable| -> Vec<u32> {
            let mut order = t.sorted_ids();
            order.retain(|&id| t.doc_freq(id) > 0);
            order
        };
        let orders: Vec<Vec<u32>> = match parts.split_first() {
            Some((first, rest)) if parallel && !rest.is_empty() => std::thread::scope(|s| {
                let sorting: Vec<_> = rest
                    .iter()
                    .map(|p| Helper::start(s, move || sort(p.table)))
                    .collect();
                let mut orders = vec![sort(first.table)];
                orders.extend(sorting.into_iter().map(Helper::join));
                orders
            }),
            _ => parts.iter().map(|p| sort(p.table)).collect(),
        };
        let next = vec![0; parts.len()];
        SortedTerms {
            parts,
            orders,
            next,
            hit: Vec::new(),
        }
    }

    /// The next key in order, and in `holders` the parts that hold it with
    /// its id in each, in part order; `None` after the last key.
    pub fn next_key(&mut self, holders: &mut Vec<(TermPart<'a>, u32)>) -> Option<&'a [u8]> {
        holders.clear();
        self.hit.clear();
        let mut least: Option<&'a [u8]> = None;
        for (i, part) in self.parts.iter().enumerate() {
            let Some(&id) = self.orders[i].get(self.next[i]) else {
                continue;
            };
            let key = part.table.key(id);
            match least {
                Some(k) if k < key => continue,
                Some(k) if k == key => {}
                _ => {
                    least = Some(key);
                    holders.clear();
                    self.hit.clear();
                }
            }
            holders.push((*part, id));
            self.hit.push(i);
        }
        for &i in &self.hit {
            self.next[i] += 1;
            // Terms in key order are all over the table's memory: ask for
            // the states, then the keys and streams, of terms a little
            // ahead, so their cache misses overlap this term's work.
            let (table, order, n) = (self.parts[i].table, &self.orders[i], self.next[i]);
            if let Some(&id) = order.get(n + STATE_AHEAD) {
                table.prefetch_state(id);
            }
            if let Some(&id) = order.get(n + DATA_AHEAD) {
                table.prefetch_data(id);
            }
        }
        least
    }
}

/// Decodes the postings of [`SortedTerms`] into [`TermBatch`]es of
/// bounded size: a term with more postings than a batch holds is split
/// across batches, so what a flush holds decoded does not grow with the
/// commonest term.
pub(crate) struct TermDecoder<'a> {
    terms: SortedTerms<'a>,
    /// The term being decoded, if one is under way.
    current: Option<Reading<'a>>,
}

/// Where the decoder is inside one term.
struct Reading<'a> {
    key: &'a [u8],
    holders: Vec<(TermPart<'a>, u32)>,
    /// The holder being read (index into `holders`).
    holder: usize,
    stream: Option<StreamReader<'a>>,
    /// Documents of the current holder not read yet.
    left: u32,
    /// The last doc id read from the current holder.
    doc: u32,
    /// Whether a piece of this term went into a batch already.
    started: bool,
}

impl<'a> TermDecoder<'a> {
    pub fn new(terms: SortedTerms<'a>) -> Self {
        TermDecoder {
            terms,
            current: None,
        }
    }

    /// Clears `batch` and fills it with postings until it holds at least
    /// `max_values` doc ids and positions, or pieces of an eighth as many
    /// terms, or the terms run out (a single document's positions are
    /// never split). Returns false when every term has been decoded.
    pub fn fill(&mut self, batch: &mut TermBatch<'a>, max_values: usize) -> bool {
        batch.clear();
        loop {
            let r = match &mut self.current {
                Some(r) => r,
                None => {
                    let mut holders = Vec::new();
                    let Some(key) = self.terms.next_key(&mut holders) else {
                        return false;
                    };
                    self.current.insert(Reading {
                        key,
                        holders,
                        holder: 0,
                        stream: None,
                        left: 0,
                        doc: 0,
                        started: false,
                    })
                }
            };
            let first = !r.started;
            r.started = true;
            let done = loop {
                if batch.is_full(max_values) {
                    break false;
                }
                if r.left == 0 {
                    let Some(&(part, id)) = r.holders.get(r.holder) else {
                        break true;
                    };
                    r.holder += 1;
                    r.stream = Some(part.table.stream(id));
                    r.left = part.table.doc_freq(id);
                    r.doc = part.first_doc;
                    continue;
                }
                let Some(stream) = r.stream.as_mut() else {
                    break true;
                };
                r.left -= 1;
                r.doc += stream.vint();
                let freq = stream.vint();
                batch.docs.push(r.doc);
                batch.freqs.push(freq);
                // As stored: the first position, then differences.
                for _ in 0..freq {
                    batch.positions.push(stream.vint());
                }
            };
            batch.pieces.push(Piece {
                key: r.key,
                first,
                last: done,
                docs_end: batch.docs.len() as u32,
                positions_end: batch.positions.len() as u32,
            });
            if done {
                self.current = None;
            }
            if batch.is_full(max_values) {
                return true;
            }
        }
    }
}

/// A run of one term's documents inside a [`TermBatch`].
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    key: &'a [u8],
    /// The term's first documents.
    first: bool,
    /// The term's last documents.
    last: bool,
    docs_end: u32,
    positions_end: u32,
}

/// Decoded postings of consecutive terms (the first and last possibly
/// in part), from [`TermDecoder::fill`]. Positions are kept as the
/// streams hold them and as `PostingsWriter::add_doc_values` takes them:
/// a document's first position, then the difference of each next one to
/// the one before.
#[derive(Debug, Default)]
pub(crate) struct TermBatch<'a> {
    pieces: Vec<Piece<'a>>,
    docs: Vec<u32>,
    freqs: Vec<u32>,
    positions: Vec<u32>,
}

/// One piece of a batch: a term's key, whether the piece starts and ends
/// the term, and its documents.
pub(crate) struct PieceRef<'b, 'a> {
    pub key: &'a [u8],
    pub first: bool,
    pub last: bool,
    docs: &'b [u32],
    freqs: &'b [u32],
    positions: &'b [u32],
}

impl PieceRef<'_, '_> {
    /// The piece's documents, their frequencies, and their position values
    /// end to end (as `PostingsWriter::add_docs_values` takes them).
    pub fn run(&self) -> (&[u32], &[u32], &[u32]) {
        (self.docs, self.freqs, self.positions)
    }

    /// Each document with its frequency and its position values (the
    /// first position, then differences).
    #[cfg(test)]
    pub fn docs(&self) -> impl Iterator<Item = (u32, u32, &[u32])> + '_ {
        let mut at = 0usize;
        self.docs.iter().zip(self.freqs).map(move |(&d, &f)| {
            let p = self.positions.get(at..at + f as usize).unwrap_or(&[]);
            at += f as usize;
            (d, f, p)
        })
    }
}

impl<'a> TermBatch<'a> {
    /// A batch with room for `values` doc ids and positions, so that
    /// filling it up to `values` does not reallocate (every document has
    /// at least one position).
    pub fn with_capacity(values: usize) -> Self {
        TermBatch {
            pieces: Vec::with_capacity(values / 8 + 1),
            docs: Vec::with_capacity(values / 2 + 1),
            freqs: Vec::with_capacity(values / 2 + 1),
            positions: Vec::with_capacity(values),
        }
    }

    /// Bytes of a batch [`with_capacity`](Self::with_capacity)`(values)`.
    pub const fn bytes_for(values: usize) -> usize {
        (values / 8 + 1) * std::mem::size_of::<Piece<'_>>() + (values / 2 + 1) * 8 + values * 4
    }

    fn clear(&mut self) {
        self.pieces.clear();
        self.docs.clear();
        self.freqs.clear();
        self.positions.clear();
    }

    /// Whether the batch holds `max_values` doc ids and positions, or
    /// pieces of `max_values / 8` terms.
    fn is_full(&self, max_values: usize) -> bool {
        self.docs.len() + self.positions.len() >= max_values
            || self.pieces.len() >= (max_values / 8).max(1)
    }

    /// The pieces in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceRef<'_, 'a>> + '_ {
        let (mut d, mut p) = (0usize, 0usize);
        self.pieces.iter().map(move |piece| {
            let (d_end, p_end) = (piece.docs_end as usize, piece.positions_end as usize);
            let r = PieceRef {
                key: piece.key,
                first: piece.first,
                last: piece.last,
                docs: &self.docs[d..d_end],
                freqs: &self.freqs[d..d_end],
                positions: &self.positions[p..p_end],
            };
            d = d_end;
            p = p_end;
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key and its documents with their position values.
    type KeyPostings = (Vec<u8>, Vec<(u32, Vec<u32>)>);

    fn table(docs: &[(&[u8], u32, &[u32])]) -> TermTable {
        let mut t = TermTable::default();
        for &(key, doc, positions) in docs {
            let id = t.intern(key);
            t.add_doc(id, doc, positions.len() as u32, positions.iter().copied());
        }
        t
    }

    /// Keys come out once each, in byte order, with the postings of every
    /// part that holds them, doc ids shifted by the part's first doc;
    /// interned keys without documents are left out.
    #[test]
    fn parts_merge_in_key_order() {
        let a = table(&[(b"b", 0, &[1]), (b"d", 0, &[2, 5]), (b"b", 3, &[0])]);
        let mut b = table(&[(b"a", 0, &[4]), (b"b", 1, &[7])]);
        b.intern(b"c");
        let c = table(&[(b"e", 2, &[9]), (b"b", 2, &[3])]);
        let parts = vec![
            TermPart {
                table: &a,
                first_doc: 0,
            },
            TermPart {
                table: &b,
                first_doc: 4,
            },
            TermPart {
                table: &c,
                first_doc: 6,
            },
        ];
        // Batches of every size down to one document: pieces of a term
        // split across batches join up again.
        for max in [1, 2, 3, 5, 16, 1000] {
            let terms = SortedTerms::new(parts.clone(), max % 2 == 0);
            let mut decoder = TermDecoder::new(terms);
            let mut batch = TermBatch::default();
            let mut got: Vec<KeyPostings> = Vec::new();
            let mut more = true;
            while more {
                more = decoder.fill(&mut batch, max);
                for piece in batch.pieces() {
                    if piece.first {
                        got.push((piece.key.to_vec(), Vec::new()));
                    }
                    let (key, docs) = got.last_mut().unwrap();
                    assert_eq!(key.as_slice(), piece.key);
                    docs.extend(piece.docs().map(|(d, _, ps)| (d, ps.to_vec())));
                }
                let ends = batch.pieces().filter(|p| p.last).count();
                assert!(ends + 1 >= batch.pieces().count(), "max {max}");
            }
            assert_eq!(got, want(), "max {max}");
        }
    }

    fn want() -> Vec<KeyPostings> {
        vec![
            (b"a".to_vec(), vec![(4, vec![4])]),
            (
                b"b".to_vec(),
                vec![(0, vec![1]), (3, vec![0]), (5, vec![7]), (8, vec![3])],
            ),
            // Positions 2 and 5.
            (b"d".to_vec(), vec![(0, vec![2, 3])]),
            (b"e".to_vec(), vec![(8, vec![9])]),
        ]
    }
}
