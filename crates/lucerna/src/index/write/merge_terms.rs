//! The terms phase of a merge: the inputs' dictionaries merged in key
//! order and their postings copied under new document numbers, as a
//! [`batch_pipeline`](super::batch_pipeline): [`MergeTerms`] reads the
//! inputs into [`MergeBatch`]es (on a thread of its own in a large merge)
//! while [`MergedTermsOut`] writes the new term dictionary and postings.
//!
//! Reading is the dictionaries' k-way merge ([`TermQueue`]), one postings
//! cursor per input moved from term to term, and each block's documents
//! and position values taken in one go (an input without deletes shifts
//! them by one offset; one with deletes keeps those its document map
//! keeps). Writing is `PostingsWriter::add_docs_values` per run, with the
//! norms of terms that keep block impacts looked up in the merged
//! segment's norms, which the merge writes before its terms.
//!
//! Field statistics are the inputs' summed, minus those of the documents
//! the merge drops ([`DroppedLengths`], gathered while reading), so BM25
//! statistics equal those of a segment freshly indexed from exactly the
//! surviving documents.

use crate::error::Result;
use crate::index::write::batch_pipeline::Producer;
use crate::index::write::merger::{DocMap, MergeInput, PageReleaser};
use crate::index::write::term_queue::TermQueue;
use crate::schema::Field;
use crate::search::bm25::FieldStats;
use crate::search::scorer::TERMINATED;
use lucerna_codec::postings::{keeps_impacts, PostingsWriter, SegmentPostings};
use lucerna_codec::termdict::TermDictWriter;
use lucerna_store::StoreError;
use std::ops::Range;

/// Doc ids and positions a merge's batch holds (a block past it at most).
pub(crate) const BATCH_VALUES: usize = 16 << 10;

/// Memory of a merge's batches: their capacity (see [`MergeBatch::new`])
/// for each batch the pipeline holds.
pub(crate) const BATCHES_BYTES: u64 =
    (super::batch_pipeline::BATCHES * MergeBatch::bytes_for(BATCH_VALUES)) as u64;

/// Part of one term's postings in a batch: its runs from every input that
/// holds it, in input order (new doc ids increase across them).
#[derive(Debug, Clone)]
struct Piece {
    field: usize,
    /// The term's first piece: its term starts here.
    first: bool,
    /// The term's last piece: its term ends here, with this key.
    last: Option<Range<usize>>,
    /// Norms are looked up (the term keeps block impacts).
    with_norms: bool,
    docs: Range<usize>,
    values: Range<usize>,
}

/// Postings read from a merge's inputs: pieces of terms, each with its
/// documents (new numbers), their frequencies and position values.
#[derive(Debug, Default)]
pub(crate) struct MergeBatch {
    /// Doc ids and positions it holds once full.
    max_values: usize,
    pieces: Vec<Piece>,
    keys: Vec<u8>,
    docs: Vec<u32>,
    freqs: Vec<u32>,
    values: Vec<u32>,
}

impl MergeBatch {
    /// An empty batch full at `max_values` doc ids and positions
    /// ([`BATCH_VALUES`] but in tests of batch boundaries).
    pub(crate) fn new(max_values: usize) -> Self {
        MergeBatch {
            max_values,
            pieces: Vec::with_capacity(max_values / 8),
            keys: Vec::with_capacity(max_values),
            docs: Vec::with_capacity(max_values / 2),
            freqs: Vec::with_capacity(max_values / 2),
            values: Vec::with_capacity(max_values),
        }
    }

    /// The bytes [`new`](Self::new) allocates for `max_values`.
    pub(crate) const fn bytes_for(max_values: usize) -> usize {
        (max_values / 8) * std::mem::size_of::<Piece>()
            + max_values
            + (max_values / 2) * 8
            + max_values * 4
    }

    fn clear(&mut self) {
        self.pieces.clear();
        self.keys.clear();
        self.docs.clear();
        self.freqs.clear();
        self.values.clear();
    }

    /// Whether the batch holds its `max_values` doc ids and positions,
    /// or key bytes, or pieces of an eighth as many terms. An empty batch
    /// is never full, so that each takes at least a block or a term.
    fn is_full(&self) -> bool {
        let empty = self.docs.is_empty() && self.pieces.is_empty();
        !empty
            && (self.docs.len() + self.values.len() >= self.max_values
                || self.pieces.len() >= self.max_values / 8
                || self.keys.len() >= self.max_values)
    }
}

/// The term being read when a batch filled up part way through it.
struct OpenTerm {
    field: usize,
    with_norms: bool,
    /// The next of the queue's holders to read.
    holder: usize,
    /// Its cursor is on the term (and on the next block to read).
    cursor_ready: bool,
    /// A piece of the term went into an earlier batch.
    started: bool,
}

/// The reading side of a merge's terms phase (see the module docs).
pub(crate) struct MergeTerms<'a> {
    inputs: &'a [MergeInput<'a>],
    maps: &'a [DocMap],
    fields: usize,
    queue: TermQueue,
    /// One postings cursor per input, moved from term to term.
    cursors: Vec<Option<SegmentPostings>>,
    /// Where each input's previous term's postings started (bytes read).
    read_to: Vec<(u64, u64)>,
    releaser: PageReleaser<'a>,
    dropped: DroppedLengths,
    open: Option<OpenTerm>,
    scratch: Vec<u32>,
}

impl<'a> MergeTerms<'a> {
    /// A reader of the terms of `inputs`, renumbered by `maps`, for a
    /// schema of `fields` fields.
    pub(crate) fn new(
        inputs: &'a [MergeInput<'a>],
        maps: &'a [DocMap],
        fields: usize,
        releaser: PageReleaser<'a>,
    ) -> Result<Self> {
        let mut iters = Vec::with_capacity(inputs.len());
        for input in inputs {
            iters.push(input.reader.core().termdict.prefix(&[])?);
        }
        Ok(MergeTerms {
            inputs,
            maps,
            fields,
            queue: TermQueue::new(iters)?,
            cursors: (0..inputs.len()).map(|_| None).collect(),
            read_to: vec![(0, 0); inputs.len()],
            releaser,
            dropped: DroppedLengths::new(maps, fields),
            open: None,
            scratch: Vec::new(),
        })
    }

    /// The merged segment's statistics of each field, from the inputs'
    /// and the dropped documents' (once every term has been read); the
    /// term counts are left as they are.
    pub(crate) fn field_stats(mut self, stats: &mut [(FieldStats, u64)]) {
        self.dropped.switch(None);
        self.dropped.merged(self.inputs, stats);
    }

    /// Takes the next term off the queue and opens it; false when every
    /// term has been read.
    fn open_next(&mut self) -> Result<bool> {
        if !self.queue.pop()? {
            return Ok(false);
        }
        let key = self.queue.key();
        let field = match key.first() {
            Some(&f) if (f as usize) < self.fields => f as usize,
            _ => {
                let first = self.queue.holders()[0];
                let file = self.inputs[first].reader.core().termdict.name();
                return Err(StoreError::corrupt(
                    file,
                    0,
                    self.fields as u64,
                    key.first().map_or(u64::MAX, |&f| f as u64),
                    "term key names no field of the schema",
                )
                .into());
            }
        };
        if self.dropped.field != Some(field) {
            self.dropped.switch(Some(field));
        }
        // Norms only go into block impacts, which only a term of more than
        // one block keeps. Most terms have a few documents, each a random
        // access into the norms (a cache miss), so they are looked up only
        // when the term may keep impacts.
        let doc_freq: u64 = self
            .queue
            .holders()
            .iter()
            .filter_map(|&i| self.queue.info(i))
            .map(|info| u64::from(info.doc_freq))
            .sum();
        self.open = Some(OpenTerm {
            field,
            with_norms: keeps_impacts(doc_freq),
            holder: 0,
            cursor_ready: false,
            started: false,
        });
        Ok(true)
    }

    /// Reads the open term into `batch` until it ends (true) or the batch
    /// fills up (false: the term stays open).
    fn read_term(&mut self, batch: &mut MergeBatch) -> Result<bool> {
        let Some(open) = self.open.as_mut() else {
            return Ok(true);
        };
        let (docs_at, values_at) = (batch.docs.len(), batch.values.len());
        let holders = self.queue.holders();
        let mut ended = true;
        'holders: while let Some(&i) = holders.get(open.holder) {
            if !open.cursor_ready {
                let Some(info) = self.queue.info(i) else {
                    open.holder += 1;
                    continue;
                };
                // The previous term's postings of input `i` end where this
                // term's start: exact bytes read (the per-block counts
                // below cover a long posting list while it is read).
                let (doc_at, pos_at) = self.read_to[i];
                self.releaser.advance(
                    info.doc_off.saturating_sub(doc_at)
                        + info.pos_off.saturating_sub(pos_at)
                        + self.queue.key().len() as u64,
                );
                self.read_to[i] = (info.doc_off, info.pos_off);
                let postings = &self.inputs[i].reader.core().postings;
                match &mut self.cursors[i] {
                    Some(p) => p.reset(postings, &info)?,
                    slot => *slot = Some(postings.postings(&info)?),
                }
                open.cursor_ready = true;
            }
            let Some(p) = self.cursors[i].as_mut() else {
                open.cursor_ready = false;
                continue;
            };
            let map = &self.maps[i];
            while p.doc() != TERMINATED {
                if batch.is_full() {
                    ended = false;
                    break 'holders;
                }
                let values = &mut self.scratch;
                values.clear();
                p.block_position_values(values)?;
                let (docs, freqs) = p.block_rest();
                if let DocMap::Shift { base, .. } = *map {
                    // No deletes: the block's rest, shifted.
                    batch.docs.extend(docs.iter().map(|&d| base + d));
                    batch.freqs.extend_from_slice(freqs);
                    batch.values.extend_from_slice(values);
                } else {
                    let mut at = 0usize;
                    for (&d, &f) in docs.iter().zip(freqs) {
                        let doc_values = values.get(at..at + f as usize).unwrap_or_default();
                        at += f as usize;
                        match map.get(d) {
                            Some(nd) => {
                                batch.docs.push(nd);
                                batch.freqs.push(f);
                                batch.values.extend_from_slice(doc_values);
                            }
                            None => self.dropped.add(i, d, f),
                        }
                    }
                }
                // About a byte per document and per position.
                self.releaser.advance((docs.len() + values.len()) as u64);
                p.next_block()?;
            }
            open.holder += 1;
            open.cursor_ready = false;
        }
        let wrote = batch.docs.len() > docs_at;
        if wrote || (ended && open.started) {
            let last = ended.then(|| {
                let key = self.queue.key();
                let at = batch.keys.len();
                batch.keys.extend_from_slice(key);
                at..at + key.len()
            });
            batch.pieces.push(Piece {
                field: open.field,
                first: !open.started,
                last,
                with_norms: open.with_norms,
                docs: docs_at..batch.docs.len(),
                values: values_at..batch.values.len(),
            });
            open.started = true;
        }
        if ended {
            self.open = None;
        }
        Ok(ended)
    }
}

impl Producer for MergeTerms<'_> {
    type Batch = MergeBatch;

    fn fill(&mut self, batch: &mut MergeBatch) -> Result<bool> {
        batch.clear();
        loop {
            if self.open.is_none() && !self.open_next()? {
                return Ok(false);
            }
            if !self.read_term(batch)? || batch.is_full() {
                return Ok(true);
            }
        }
    }
}

/// The writing side of a merge's terms phase: the new term dictionary and
/// postings, and the terms counted per field.
pub(crate) struct MergedTermsOut<'d, 'n> {
    pub td: TermDictWriter<'d>,
    pub pw: PostingsWriter,
    /// Per field, the merged segment's norms (empty for a field without).
    pub norms: &'n [Vec<u8>],
    /// Per field, its statistics (filled in later) and its term count.
    pub stats: Vec<(FieldStats, u64)>,
}

impl MergedTermsOut<'_, '_> {
    /// Writes the postings of `batch`'s pieces, and each finished term.
    pub(crate) fn encode(&mut self, batch: &MergeBatch) -> Result<()> {
        for piece in &batch.pieces {
            if piece.first {
                self.pw.start_term();
            }
            let norms: &[u8] = match self.norms.get(piece.field) {
                Some(n) if piece.with_norms => n,
                _ => &[],
            };
            self.pw.add_docs_values(
                &batch.docs[piece.docs.clone()],
                &batch.freqs[piece.docs.clone()],
                &batch.values[piece.values.clone()],
                |d| norms.get(d as usize).copied().unwrap_or(0),
            )?;
            if let Some(key) = &piece.last {
                let info = self.pw.finish_term()?;
                self.td.insert(&batch.keys[key.clone()], &info)?;
                self.stats[piece.field].1 += 1;
            }
        }
        Ok(())
    }
}

/// Field lengths (sums of term frequencies) of the documents a merge
/// drops, per field. A merge's field statistics are its inputs' minus
/// those of the dropped documents: what a fresh flush of the kept
/// documents would compute, without a random access per posting into an
/// array of every document's length (the cost of recomputing them).
struct DroppedLengths {
    field: Option<usize>,
    /// Per input: where its documents start in `lengths`, for inputs that
    /// drop documents.
    base: Vec<Option<usize>>,
    lengths: Vec<u32>,
    touched: Vec<usize>,
    /// Per field: the dropped documents' statistics.
    sums: Vec<FieldStats>,
}

impl DroppedLengths {
    fn new(maps: &[DocMap], fields: usize) -> Self {
        let mut next = 0usize;
        let base = maps
            .iter()
            .map(|m| match m {
                DocMap::Shift { .. } => None,
                DocMap::Table(t) => {
                    let b = next;
                    next += t.len();
                    Some(b)
                }
            })
            .collect();
        DroppedLengths {
            field: None,
            base,
            lengths: vec![0; next],
            touched: Vec::new(),
            sums: vec![FieldStats::default(); fields],
        }
    }

    /// Folds the current field's lengths into its sums and starts `field`.
    fn switch(&mut self, field: Option<usize>) {
        if let Some(f) = self.field {
            let mut s = FieldStats::default();
            for &d in &self.touched {
                let len = std::mem::take(&mut self.lengths[d]);
                if len > 0 {
                    s.doc_count += 1;
                    s.sum_total_term_freq += len as u64;
                }
            }
            if let Some(slot) = self.sums.get_mut(f) {
                *slot = s;
            }
        }
        self.touched.clear();
        self.field = field;
    }

    /// Adds `freq` to the length of input `input`'s dropped document `doc`.
    fn add(&mut self, input: usize, doc: u32, freq: u32) {
        let Some(at) = self.base[input].map(|b| b + doc as usize) else {
            return;
        };
        let Some(l) = self.lengths.get_mut(at) else {
            return;
        };
        if *l == 0 {
            self.touched.push(at);
        }
        *l = l.saturating_add(freq);
    }

    /// The merged segment's statistics of each field: the inputs' minus
    /// the dropped documents'.
    fn merged(&self, inputs: &[MergeInput<'_>], stats: &mut [(FieldStats, u64)]) {
        for (f, (slot, _)) in stats.iter_mut().enumerate() {
            let mut s = FieldStats::default();
            for input in inputs {
                let t = input.reader.field_stats(Field(f as u16));
                s.doc_count += t.doc_count;
                s.sum_total_term_freq += t.sum_total_term_freq;
            }
            let d = self.sums[f];
            s.doc_count = s.doc_count.saturating_sub(d.doc_count);
            s.sum_total_term_freq = s.sum_total_term_freq.saturating_sub(d.sum_total_term_freq);
            *slot = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the merge reserves for a batch is what a batch allocates.
    #[test]
    fn a_batch_allocates_what_is_reserved_for_it() {
        let b = MergeBatch::new(BATCH_VALUES);
        let allocated = b.pieces.capacity() * std::mem::size_of::<Piece>()
            + b.keys.capacity()
            + (b.docs.capacity() + b.freqs.capacity()) * 4
            + b.values.capacity() * 4;
        assert_eq!(allocated, MergeBatch::bytes_for(BATCH_VALUES));
    }
}
