//! Segment merging: turns N immutable segments into one.
//!
//! [`merge_segments`] writes every file a flush writes (term dictionary,
//! postings with positions, norms, stored fields, numeric columns, field
//! statistics) for a new segment holding the live documents of its inputs,
//! renumbered in input order (input 0's live documents first, each input's
//! in ascending doc order). Deleted documents are dropped, so the new
//! segment has no deletes file.
//!
//! Before any input is read, every file of every input segment is verified
//! whole against the length and CRC its [`SegmentMeta`] records. That alone
//! is not enough: the merge then reads its inputs again (through the
//! segment readers' mappings), and bytes that change in between (a storage
//! fault during the merge) would go into the new segment under fresh,
//! valid checksums, where no later check could tell. So once the new
//! segment is written, and before it is returned to be installed, every
//! input is verified again ([`verify_inputs_again`]): the very bytes the
//! merge read (the readers' held files, read back through the same
//! mappings, so a page released since comes back from the page cache as
//! it is now) and, by a fresh read, the files it did not read through them
//! (field statistics, live docs). A mismatch discards the new segment and
//! marks the damaged input corrupt. Every byte that goes into a merged
//! segment was therefore verified both before and after it was read.
//!
//! A merge reads every byte of its inputs, which are memory-mapped: left
//! alone, all of them would stay in the process's resident memory until
//! the inputs are dropped. The merge therefore gives back the pages of the
//! input files its current phase reads (terms and postings, norms, stored
//! fields, columns) whenever it has read [`RELEASE_EVERY`] bytes, a
//! phase's files when the next phase starts, and everything at the end
//! (see [`PageReleaser`]). Reads are counted
//! generously (postings exactly, plus an estimate per document while a
//! long list is read; stored records uncompressed; columns at 8 bytes a
//! value), so releases come at least that often. Its resident input pages
//! then stay under about `RELEASE_EVERY` plus the pages the kernel maps
//! around each read (64 KiB by default) in each input file being read:
//! a few MiB for a merge of ten segments, whatever their size.
//!
//! Field statistics are the inputs' summed, minus those of the documents
//! the merge drops (whose field lengths are the sums of their term
//! frequencies, gathered as their postings are passed over), so BM25
//! statistics equal those of a segment freshly indexed from exactly the
//! surviving documents.
//!
//! The cost of a merge of log segments is mostly per term, not per
//! posting: most terms (ids, addresses, clock times) have a few documents
//! in one input. So the dictionaries are merged by a queue of input
//! numbers over borrowed keys ([`TermQueue`]), each input keeps one
//! postings cursor moved from term to term, a document's positions are
//! copied as they are encoded, and norms are looked up only for terms
//! that keep block impacts.

use crate::error::{Error, Result};
use crate::index::integrity::commit::{FileEntry, SegmentMeta};
use crate::index::integrity::id_set::id_field;
use crate::index::read::field_stats::SegmentFieldStats;
use crate::index::read::segment_reader::{files, SegmentReader};
use crate::index::write::term_queue::TermQueue;
use crate::schema::{Field, FieldType, Schema};
use crate::search::bm25::FieldStats;
use crate::search::scorer::TERMINATED;
use lucerna_codec::columns::ColumnsWriter;
use lucerna_codec::livedocs::LiveDocs;
use lucerna_codec::norms::NormsWriter;
use lucerna_codec::postings::{doc_file, keeps_impacts, pos_file, PostingsWriter, SegmentPostings};
use lucerna_codec::stored::{StoredOptions, StoredWriter};
use lucerna_codec::termdict::TermDictWriter;
use lucerna_store::{Directory, StoreError};

/// Input bytes (estimated) a merge reads between two releases of its
/// inputs' resident pages. A release is one system call per input file of
/// the current phase, and a dropped page read again costs a minor fault:
/// on a bulk build of 2 M log lines (merges beside two indexing threads)
/// the build took the same time with releases every 512 KiB, every 4 MiB
/// and none (3.3–3.4 s on a quiet machine; docs/benchmarks.md).
pub(crate) const RELEASE_EVERY: u64 = 512 << 10;

/// The files of its inputs a merge phase reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Term dictionaries, postings and positions.
    Terms,
    /// Norms.
    Norms,
    /// Stored fields.
    Stored,
    /// Numeric columns.
    Columns,
}

/// Releases the inputs' resident pages as a merge reads them (see the
/// module docs): the files of the current phase every [`RELEASE_EVERY`]
/// bytes, a phase's files when the next phase starts, and everything at
/// the end. Searchers of the same segments keep working: a page they need
/// again is faulted back in from the page cache.
struct PageReleaser<'a> {
    inputs: &'a [MergeInput<'a>],
    read: u64,
    phase: Phase,
}

impl<'a> PageReleaser<'a> {
    fn new(inputs: &'a [MergeInput<'a>]) -> Self {
        PageReleaser {
            inputs,
            read: 0,
            phase: Phase::Terms,
        }
    }

    /// Counts `bytes` read; releases once [`RELEASE_EVERY`] accumulated.
    fn advance(&mut self, bytes: u64) {
        self.read += bytes;
        if self.read >= RELEASE_EVERY {
            self.release();
        }
    }

    /// Releases the current phase's files, then moves to `next`.
    fn start(&mut self, next: Phase) {
        self.release();
        self.phase = next;
    }

    /// Releases the pages of the current phase's files now.
    fn release(&mut self) {
        for input in self.inputs {
            let core = input.reader.core();
            match self.phase {
                Phase::Terms => {
                    core.termdict.release_pages();
                    core.postings.release_pages();
                }
                Phase::Norms => core.norms.release_pages(),
                Phase::Stored => core.stored.release_pages(),
                Phase::Columns => core.columns.release_pages(),
            }
        }
        self.read = 0;
    }

    /// Releases every file of every input.
    fn release_all(&mut self) {
        for input in self.inputs {
            input.reader.core().release_pages();
        }
        self.read = 0;
    }
}

/// One segment to merge.
#[derive(Clone, Copy)]
pub(crate) struct MergeInput<'a> {
    /// The segment.
    pub reader: &'a SegmentReader,
    /// Its live documents when they differ from the reader's own (deletes
    /// applied in memory but not yet written); `None`: the reader's.
    pub live: Option<&'a LiveDocs>,
}

impl MergeInput<'_> {
    fn is_live(&self, doc: u32) -> bool {
        match self.live {
            Some(l) => l.is_live(doc),
            None => self.reader.is_live(doc),
        }
    }

    /// Whether any document of the segment is deleted (read from the live
    /// bits themselves, not from a stored count).
    fn has_deletes(&self) -> bool {
        (0..self.reader.max_doc()).any(|d| !self.is_live(d))
    }
}

/// The result of a merge.
#[derive(Debug)]
pub(crate) struct MergeOutput {
    /// The new segment (deletion generation 0, no deleted documents).
    pub meta: SegmentMeta,
    /// Per input: each old document's number in the new segment, or
    /// `None` when it was deleted (and dropped).
    pub doc_maps: Vec<DocMap>,
}

/// Old → new document numbers of one merge input.
///
/// An input without deletes (the common case of an append-only index) maps
/// by an offset and costs no memory per document; one with deletes keeps a
/// table of 4 bytes per document.
#[derive(Debug)]
pub(crate) enum DocMap {
    /// Every document is kept: old `d` becomes `base + d`.
    Shift { base: u32, len: u32 },
    /// Per old document, its new number or [`DocMap::DROPPED`].
    Table(Vec<u32>),
}

impl DocMap {
    /// A dropped document in a [`DocMap::Table`] (never a document number:
    /// merges refuse 2^32 - 1 documents).
    const DROPPED: u32 = u32::MAX;

    /// The new number of old document `d`; `None` when it was dropped or
    /// is out of range.
    #[inline]
    pub(crate) fn get(&self, d: u32) -> Option<u32> {
        match self {
            DocMap::Shift { base, len } => (d < *len).then(|| base + d),
            DocMap::Table(t) => t.get(d as usize).copied().filter(|&n| n != Self::DROPPED),
        }
    }

    /// The input's document count (kept and dropped).
    pub(crate) fn len(&self) -> u32 {
        match self {
            DocMap::Shift { len, .. } => *len,
            DocMap::Table(t) => t.len() as u32,
        }
    }

    /// The kept old documents, in order.
    fn kept(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        (0..self.len()).filter(move |&d| self.get(d).is_some())
    }
}

/// Names of every file [`merge_segments`] writes for segment `name` (the
/// same set a flush writes, without a deletes file).
pub(crate) fn segment_file_names(name: &str) -> Vec<String> {
    let base = files::postings_base(name);
    vec![
        files::termdict(name),
        doc_file(&base),
        pos_file(&base),
        files::norms(name),
        files::stored(name),
        files::columns(name),
        files::field_stats(name),
    ]
}

/// Merges `inputs` into a new segment `name` with id `id` in `dir`.
///
/// Every file of every input is verified first (see
/// [`verify_segment_files`](crate::index::integrity::verify::verify_segment_files));
/// on a mismatch nothing is written but the damaged segment's corruption
/// marker (see [`corrupt_marker`](crate::index::corrupt_marker)). Once the
/// new segment is written, every input is verified again
/// ([`verify_inputs_again`]); on a mismatch the new segment's files are
/// deleted, the damaged input is marked and the corruption error (naming
/// the file) is returned. On any other error the files written so far are
/// deleted (and the inputs are verified again too, so that damage that
/// tripped a decoder is reported as what it is). Files are not synced: the
/// commit that publishes the segment syncs them.
pub(crate) fn merge_segments(
    dir: &dyn Directory,
    schema: &Schema,
    inputs: &[MergeInput<'_>],
    name: &str,
    id: [u8; 16],
) -> Result<MergeOutput> {
    for input in inputs {
        if let Some(l) = input.live {
            if l.max_doc() != input.reader.max_doc() {
                return Err(Error::InvalidArgument(format!(
                    "merge: live docs of {} documents for segment `{}` of {}",
                    l.max_doc(),
                    input.reader.meta().name,
                    input.reader.max_doc()
                )));
            }
        }
    }
    for input in inputs {
        let meta = input.reader.meta();
        if let Err(e) = crate::index::integrity::verify::verify_segment_files(dir, meta, true) {
            // Remembered across restarts (best effort).
            crate::index::integrity::corrupt_marker::mark_corrupt(dir, meta, &e);
            return Err(e);
        }
    }
    let mut releaser = PageReleaser::new(inputs);
    let result = write_merged(dir, schema, inputs, name, id, &mut releaser);
    releaser.release_all();
    // Whatever happened, the inputs must still be what the commit records:
    // otherwise the merge read bytes nobody verified.
    let again = verify_inputs_again(dir, inputs);
    match (result, again) {
        (Ok(out), Ok(())) => Ok(out),
        (_, Err((meta, e))) => {
            delete_partial(dir, name);
            crate::index::integrity::corrupt_marker::mark_corrupt(dir, meta, &e);
            Err(e)
        }
        (Err(e), Ok(())) => {
            delete_partial(dir, name);
            Err(e)
        }
    }
}

/// Verifies every input of a merge again, after the merge read it: the
/// bytes its decoders read (its held files, through the same mappings or
/// buffers the merge read: see
/// [`verify_held`](crate::index::integrity::verify::verify_held)), and by a fresh read
/// its other files (field statistics and live docs, which the merge took
/// from memory) against the segment's record. Returns the first damaged
/// input with the corruption error naming the file.
pub(crate) fn verify_inputs_again<'a>(
    dir: &dyn Directory,
    inputs: &[MergeInput<'a>],
) -> std::result::Result<(), (&'a SegmentMeta, Error)> {
    for input in inputs {
        let meta = input.reader.meta();
        let held = input.reader.held_files();
        crate::index::integrity::verify::verify_held(meta, held).map_err(|e| (meta, e))?;
        for f in &meta.files {
            if held.iter().any(|(n, _)| *n == f.name) {
                continue;
            }
            crate::index::integrity::verify::verify_file(dir, meta, f, |_| {})
                .map_err(|e| (meta, e))?;
        }
    }
    Ok(())
}

/// Best effort: removes every file of segment `name`.
pub(crate) fn delete_partial(dir: &dyn Directory, name: &str) {
    if let Ok(names) = dir.list() {
        let (dot, under) = (format!("{name}."), format!("{name}_"));
        for f in names {
            if f.starts_with(&dot) || f.starts_with(&under) {
                let _ = dir.delete(&f);
            }
        }
    }
}

/// Old → new document numbers, in input order.
fn doc_maps(inputs: &[MergeInput<'_>]) -> Result<(Vec<DocMap>, u32)> {
    let mut next: u64 = 0;
    let mut maps = Vec::with_capacity(inputs.len());
    for input in inputs {
        let max_doc = input.reader.max_doc();
        // u32::MAX is TERMINATED and DROPPED; max_doc is below it (as in
        // commits).
        if next + max_doc as u64 >= u32::MAX as u64 {
            return Err(Error::InvalidArgument(
                "merge: more than 2^32 - 2 documents".into(),
            ));
        }
        let base = next as u32;
        if !input.has_deletes() {
            maps.push(DocMap::Shift { base, len: max_doc });
            next += max_doc as u64;
            continue;
        }
        let mut table = Vec::with_capacity(max_doc as usize);
        for d in 0..max_doc {
            if input.is_live(d) {
                table.push(next as u32);
                next += 1;
            } else {
                table.push(DocMap::DROPPED);
            }
        }
        maps.push(DocMap::Table(table));
    }
    Ok((maps, next as u32))
}

/// The per-document working memory [`merge_segments`] needs for `inputs`
/// (its fixed buffers aside): per document, its length in the field being
/// merged (4 bytes) and its norm (1), a doc-map entry (4) when its input
/// has deletes, and each numeric column's packed value at the width the
/// merged column can need (the inputs' overall value range), one column
/// twice (the writer's output buffer).
pub(crate) fn merge_memory_bytes(schema: &Schema, inputs: &[MergeInput<'_>]) -> u64 {
    let mut bytes = 0u64;
    for input in inputs {
        let docs = u64::from(input.reader.max_doc());
        let table = if input.has_deletes() { 4 } else { 0 };
        bytes = bytes.saturating_add(docs * (5 + table));
    }
    let docs: u64 = inputs.iter().map(|i| u64::from(i.reader.max_doc())).sum();
    let mut largest = 0u64;
    for (field, entry) in schema.fields() {
        if let FieldType::Numeric { .. } = entry.field_type {
            let (mut lo, mut hi) = (u64::MAX, 0u64);
            for input in inputs {
                if let Some(c) = input.reader.core().columns.column(field.0 as u32) {
                    lo = lo.min(c.min_value());
                    hi = hi.max(c.max_value());
                }
            }
            let bits = u64::from(64 - hi.saturating_sub(lo).leading_zeros());
            // Packed values, plus a presence bit per document.
            let column = docs.saturating_mul(bits + 1).div_ceil(8);
            bytes = bytes.saturating_add(column);
            largest = largest.max(column);
        }
    }
    // The columns writer copies one column at a time into its output.
    bytes.saturating_add(largest)
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
        let l = &mut self.lengths[at];
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

/// What a merge writes, and from what: the phases of [`write_merged`].
struct MergeWriter<'a> {
    dir: &'a dyn Directory,
    schema: &'a Schema,
    inputs: &'a [MergeInput<'a>],
    /// Each input's old doc id → new doc id.
    maps: &'a [DocMap],
    name: &'a str,
    id: [u8; 16],
    max_doc: u32,
}

/// Writes the merged segment `name` in four phases, each reading its own
/// files of every input (pages released between them): terms and
/// postings, norms, stored fields, numeric columns; then the field
/// statistics gathered by the first.
fn write_merged(
    dir: &dyn Directory,
    schema: &Schema,
    inputs: &[MergeInput<'_>],
    name: &str,
    id: [u8; 16],
    releaser: &mut PageReleaser<'_>,
) -> Result<MergeOutput> {
    let (maps, max_doc) = doc_maps(inputs)?;
    let w = MergeWriter {
        dir,
        schema,
        inputs,
        maps: &maps,
        name,
        id,
        max_doc,
    };
    let (mut files_out, fstats) = w.terms(releaser)?;
    releaser.start(Phase::Norms);
    files_out.push(w.norms(releaser)?);
    releaser.start(Phase::Stored);
    files_out.push(w.stored(releaser)?);
    releaser.start(Phase::Columns);
    files_out.push(w.columns(releaser)?);

    // Field statistics.
    files_out.push(FileEntry {
        name: files::field_stats(name),
        meta: fstats.write(dir, &files::field_stats(name), id)?,
    });

    let mut meta = SegmentMeta::new(name, id, max_doc, files_out);
    // The ids of the kept documents, read back from the inputs' id column
    // (not kept in a vector meanwhile).
    let idf = id_field(schema).map(|f| f.0 as u32);
    meta.set_ids(
        idf,
        idf.into_iter().flat_map(|f| w.column_values(f).flatten()),
    );
    Ok(MergeOutput {
        meta,
        doc_maps: maps,
    })
}

impl MergeWriter<'_> {
    /// Terms: a k-way merge of the dictionaries in key order; postings of
    /// each input in input order, so new doc ids increase. Returns the
    /// term dictionary and postings files, and each field's statistics.
    ///
    /// Long on purpose: one loop over every term of every input, whose
    /// state (heap, cursors, lengths, read positions) a split would have
    /// to pass around on every term.
    fn terms(
        &self,
        releaser: &mut PageReleaser<'_>,
    ) -> Result<(Vec<FileEntry>, SegmentFieldStats)> {
        let inputs = self.inputs;
        let (dir, schema, name, id) = (self.dir, self.schema, self.name, self.id);
        let mut stats: Vec<(FieldStats, u64)> = vec![(FieldStats::default(), 0); schema.len()];
        let mut files_out: Vec<FileEntry> = Vec::new();
        let mut iters = Vec::with_capacity(inputs.len());
        for input in inputs {
            iters.push(input.reader.core().termdict.prefix(&[])?);
        }
        let mut queue = TermQueue::new(iters)?;
        let mut td = TermDictWriter::new(dir, id, &files::termdict(name))?;
        let mut pw = PostingsWriter::new(dir, id, &files::postings_base(name), true)?;
        let mut dropped = DroppedLengths::new(self.maps, schema.len());
        // One postings cursor per input, moved from term to term.
        let mut cursors: Vec<Option<SegmentPostings>> = (0..inputs.len()).map(|_| None).collect();
        let (mut pos_values, mut run_docs): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
        let mut read_to: Vec<(u64, u64)> = vec![(0, 0); inputs.len()];
        while queue.pop()? {
            let key = queue.key();
            let first = queue.holders()[0];
            let field = match key.first() {
                Some(&f) if (f as usize) < schema.len() => f as usize,
                _ => {
                    let file = inputs[first].reader.core().termdict.name().to_string();
                    return Err(StoreError::corrupt(
                        file,
                        0,
                        schema.len() as u64,
                        key.first().map_or(u64::MAX, |&f| f as u64),
                        "term key names no field of the schema",
                    )
                    .into());
                }
            };
            if dropped.field != Some(field) {
                dropped.switch(Some(field));
            }
            let mut started = false;
            // Norms only go into block impacts, which only a term of more
            // than one block keeps. Most terms have a few documents, each
            // a random access into an input's norms (a cache miss, measured
            // as the merge loop's hottest instruction), so they are looked
            // up only when the term may keep impacts.
            let doc_freq: u64 = queue
                .holders()
                .iter()
                .filter_map(|&i| queue.info(i))
                .map(|info| u64::from(info.doc_freq))
                .sum();
            let with_norms = keeps_impacts(doc_freq);
            // Postings are appended in input order so new doc ids increase.
            for &i in queue.holders() {
                let core = inputs[i].reader.core();
                let map = &self.maps[i];
                let Some(info) = queue.info(i) else {
                    continue;
                };
                // The previous term's postings of input `i` end where this
                // term's start: exact bytes read (the per-document estimates
                // below cover a long posting list while it is being read).
                let (doc_at, pos_at) = read_to[i];
                releaser.advance(
                    info.doc_off.saturating_sub(doc_at)
                        + info.pos_off.saturating_sub(pos_at)
                        + key.len() as u64,
                );
                read_to[i] = (info.doc_off, info.pos_off);
                let norms = core.norms.field(field as u32).filter(|_| with_norms);
                let p = match &mut cursors[i] {
                    Some(p) => {
                        p.reset(&core.postings, &info)?;
                        p
                    }
                    slot => slot.insert(core.postings.postings(&info)?),
                };
                if let DocMap::Shift { base, .. } = *map {
                    // No deletes: each block's rest as one run, shifted.
                    // The norms of a run are looked up in one loop, where
                    // their cache misses overlap.
                    loop {
                        pos_values.clear();
                        p.block_position_values(&mut pos_values)?;
                        let (docs, freqs) = p.block_rest();
                        if docs.is_empty() {
                            break;
                        }
                        run_docs.clear();
                        run_docs.extend(docs.iter().map(|&d| base + d));
                        if !started {
                            pw.start_term();
                            started = true;
                        }
                        let norm = |nd: u32| norms.map_or(0, |n| n.get(nd - base));
                        pw.add_docs_values(&run_docs, freqs, &pos_values, norm)?;
                        // About a byte per document and per position.
                        releaser.advance((docs.len() + pos_values.len()) as u64);
                        if p.next_block()? == TERMINATED {
                            break;
                        }
                    }
                    continue;
                }
                let mut d = p.doc();
                while d != TERMINATED {
                    if let Some(nd) = map.get(d) {
                        let freq = p.freq();
                        pos_values.clear();
                        p.position_values(&mut pos_values)?;
                        let norm = norms.map_or(0, |n| n.get(d));
                        if !started {
                            pw.start_term();
                            started = true;
                        }
                        pw.add_doc_values(nd, freq, &pos_values, norm)?;
                        // About a byte per document and per position.
                        releaser.advance(1 + u64::from(freq));
                    } else {
                        dropped.add(i, d, p.freq());
                        releaser.advance(1);
                    }
                    d = p.advance()?;
                }
            }
            if started {
                let info = pw.finish_term()?;
                td.insert(key, &info)?;
                stats[field].1 += 1;
            }
        }
        dropped.switch(None);
        dropped.merged(inputs, &mut stats);
        files_out.push(FileEntry {
            name: files::termdict(name),
            meta: td.finish()?,
        });
        for (fname, meta) in pw.finish()? {
            files_out.push(FileEntry { name: fname, meta });
        }
        Ok((files_out, SegmentFieldStats { fields: stats }))
    }

    /// Norms of indexed fields, live documents in new order.
    fn norms(&self, releaser: &mut PageReleaser<'_>) -> Result<FileEntry> {
        let (dir, schema, name, id, max_doc) =
            (self.dir, self.schema, self.name, self.id, self.max_doc);
        let mut nw = NormsWriter::new(max_doc);
        for (field, entry) in schema.fields() {
            if entry.field_type.is_indexed() {
                let mut n = Vec::with_capacity(max_doc as usize);
                for (input, map) in self.inputs.iter().zip(self.maps) {
                    let norms = input.reader.core().norms.field(field.0 as u32);
                    for d in map.kept() {
                        n.push(norms.map_or(0, |x| x.get(d)));
                    }
                    releaser.advance(u64::from(map.len()));
                }
                nw.add_field(field.0 as u32, &n)?;
            }
        }
        Ok(FileEntry {
            name: files::norms(name),
            meta: nw.write(dir, &files::norms(name), &id, "")?,
        })
    }

    /// Stored fields: records copied as they are.
    fn stored(&self, releaser: &mut PageReleaser<'_>) -> Result<FileEntry> {
        // Stored fields: records copied as they are.
        releaser.start(Phase::Stored);
        let (dir, name, id) = (self.dir, self.name, self.id);
        let mut sw =
            StoredWriter::create(dir, &files::stored(name), &id, "", StoredOptions::default())?;
        for (input, map) in self.inputs.iter().zip(self.maps) {
            let stored = &input.reader.core().stored;
            let mut seen = 0usize;
            for (d, rec) in stored.iter().enumerate() {
                let rec = rec?;
                seen += 1;
                releaser.advance(rec.len() as u64);
                if map.get(d as u32).is_some() {
                    sw.add(&rec)?;
                }
            }
            if seen != map.len() as usize {
                return Err(StoreError::corrupt(
                    stored.name(),
                    0,
                    map.len() as u64,
                    seen as u64,
                    "stored record count differs from the segment's document count",
                )
                .into());
            }
        }
        Ok(FileEntry {
            name: files::stored(name),
            meta: sw.finish()?,
        })
    }

    /// Numeric columns. Each column is encoded straight from the inputs
    /// (two passes: bounds, then values), never gathered in a vector first.
    fn columns(&self, releaser: &mut PageReleaser<'_>) -> Result<FileEntry> {
        let (dir, schema, name, id, max_doc) =
            (self.dir, self.schema, self.name, self.id, self.max_doc);
        let mut cw = ColumnsWriter::new(max_doc);
        for (field, entry) in schema.fields() {
            if let FieldType::Numeric { .. } = entry.field_type {
                cw.add_values(
                    field.0 as u32,
                    max_doc as usize,
                    self.column_values(field.0 as u32),
                )?;
                for map in self.maps {
                    releaser.advance(8 * u64::from(map.len()));
                }
            }
        }
        Ok(FileEntry {
            name: files::columns(name),
            meta: cw.write(dir, &files::columns(name), &id, "")?,
        })
    }

    /// The values of numeric `field` of the kept documents, in new order.
    fn column_values(&self, field: u32) -> impl Iterator<Item = Option<u64>> + Clone + '_ {
        self.inputs
            .iter()
            .zip(self.maps)
            .flat_map(move |(input, map)| {
                let c = input.reader.core().columns.column(field);
                map.kept()
                    .map(move |d| c.as_ref().and_then(|c| c.get_opt(d)))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::integrity::file_refs::FileRefs;
    use crate::store::RamDirectory;
    use crate::{Document, Index, WriterConfig};
    use std::sync::Arc;

    #[test]
    fn no_input_gives_an_empty_segment_that_opens() {
        let dir = RamDirectory::new();
        let schema = Schema::logs();
        let out = merge_segments(&dir, &schema, &[], "seg_9", [7; 16]).unwrap();
        assert_eq!(out.meta.max_doc, 0);
        assert_eq!(out.meta.id_range, None);
        let names: Vec<&str> = out.meta.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), segment_file_names("seg_9").len());
        for n in segment_file_names("seg_9") {
            assert!(names.contains(&n.as_str()), "{n}");
        }
        let r = SegmentReader::open(
            &dir,
            &out.meta,
            Arc::new(schema),
            &FileRefs::default(),
            crate::index::Verify::Full,
        )
        .unwrap();
        assert_eq!(r.num_live(), 0);
        crate::index::integrity::verify::verify_segment_files(&dir, &out.meta, true).unwrap();
    }

    #[test]
    fn live_docs_of_the_wrong_size_are_rejected_before_anything_is_written() {
        let dir = RamDirectory::new();
        let index = Index::create(dir.clone(), Schema::logs()).unwrap();
        let id = index.schema().field("id").unwrap();
        let w = index.writer(WriterConfig::default()).unwrap();
        for i in 0..3 {
            let mut d = Document::new();
            d.add_u64(id, i);
            w.add_document(d).unwrap();
        }
        let s = w.searcher().unwrap();
        let live = LiveDocs::all(5);
        let before = dir.list().unwrap();
        let input = MergeInput {
            reader: &s.segment_readers()[0],
            live: Some(&live),
        };
        let e = merge_segments(&dir, index.schema(), &[input], "seg_9", [7; 16]).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
        assert_eq!(dir.list().unwrap(), before);
    }

    #[test]
    fn doc_maps_shift_without_deletes_and_table_with_them() {
        let shift = DocMap::Shift { base: 10, len: 3 };
        assert_eq!(shift.get(0), Some(10));
        assert_eq!(shift.get(2), Some(12));
        assert_eq!(shift.get(3), None, "out of range");
        assert_eq!(shift.kept().collect::<Vec<_>>(), vec![0, 1, 2]);
        let table = DocMap::Table(vec![13, DocMap::DROPPED, 14]);
        assert_eq!(table.len(), 3);
        assert_eq!(table.get(0), Some(13));
        assert_eq!(table.get(1), None, "dropped");
        assert_eq!(table.get(2), Some(14));
        assert_eq!(table.get(7), None);
        assert_eq!(table.kept().collect::<Vec<_>>(), vec![0, 2]);
    }
}
