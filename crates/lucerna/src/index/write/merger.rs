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
//! The phases: first the norms, which the terms phase looks up; then the
//! terms and postings ([`merge_terms`](super::merge_terms): read on a
//! thread of their own while this one writes) while a third thread copies
//! the stored fields and numeric columns; then the field statistics. A
//! small merge (less than [`THREADED_FROM_BYTES`] of input postings), or
//! one that cannot start a thread, does the same work in turn, writing the
//! same bytes.
//!
//! A merge reads every byte of its inputs, which are memory-mapped: left
//! alone, all of them would stay in the process's resident memory until
//! the inputs are dropped. Each phase therefore gives back the pages of
//! the input files it reads (terms and postings, norms, stored fields,
//! columns) whenever it has read [`RELEASE_EVERY`] bytes and when it ends,
//! and the merge releases everything at its end (see [`PageReleaser`]).
//! Reads are counted generously (postings exactly, plus an estimate per
//! document while a long list is read; stored records uncompressed;
//! columns at 8 bytes a value), so releases come at least that often.
//! Its resident input pages then stay under about `RELEASE_EVERY` plus
//! the pages the kernel maps around each read (64 KiB by default) in each
//! input file being read, per phase running: a few MiB for a merge of ten
//! segments, whatever their size.

use crate::error::{Error, Result};
use crate::index::integrity::commit::{FileEntry, SegmentMeta};
use crate::index::integrity::id_set::id_field;
use crate::index::read::field_stats::SegmentFieldStats;
use crate::index::read::segment_reader::{files, SegmentReader};
use crate::index::write::batch_pipeline;
use crate::index::write::flush::terms_files;
use crate::index::write::helper_thread;
use crate::index::write::merge_terms::{MergeBatch, MergeTerms, MergedTermsOut, BATCH_VALUES};
use crate::schema::{FieldType, Schema};
use crate::search::bm25::FieldStats;
use lucerna_codec::columns::ColumnsWriter;
use lucerna_codec::livedocs::LiveDocs;
use lucerna_codec::norms::NormsWriter;
use lucerna_codec::postings::{doc_file, pos_file, PostingsWriter};
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
pub(crate) enum Phase {
    /// Term dictionaries, postings and positions.
    Terms,
    /// Norms.
    Norms,
    /// Stored fields.
    Stored,
    /// Numeric columns.
    Columns,
}

/// Releases the inputs' resident pages as one merge phase reads them (see
/// the module docs): the phase's files every [`RELEASE_EVERY`] bytes and
/// when the phase ends ([`release`](Self::release)); a merge releases
/// everything at its end ([`release_all`]). Phases running at the same
/// time have a releaser each. Searchers of the same segments keep
/// working: a page they need again is faulted back in from the page
/// cache.
pub(crate) struct PageReleaser<'a> {
    inputs: &'a [MergeInput<'a>],
    read: u64,
    phase: Phase,
}

impl<'a> PageReleaser<'a> {
    /// The releaser of `phase`'s files of `inputs`.
    pub(crate) fn new(inputs: &'a [MergeInput<'a>], phase: Phase) -> Self {
        PageReleaser {
            inputs,
            read: 0,
            phase,
        }
    }

    /// Counts `bytes` read; releases once [`RELEASE_EVERY`] accumulated.
    pub(crate) fn advance(&mut self, bytes: u64) {
        self.read += bytes;
        if self.read >= RELEASE_EVERY {
            self.release();
        }
    }

    /// Releases the pages of the phase's files now.
    pub(crate) fn release(&mut self) {
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
}

/// Releases every file of every input.
fn release_all(inputs: &[MergeInput<'_>]) {
    for input in inputs {
        input.reader.core().release_pages();
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
    let postings_bytes: u64 = inputs
        .iter()
        .flat_map(|i| &i.reader.meta().files)
        .filter(|f| f.name.ends_with(&doc_file("")) || f.name.ends_with(&pos_file("")))
        .map(|f| f.meta.len)
        .sum();
    let threaded = postings_bytes >= THREADED_FROM_BYTES;
    let result = write_merged(dir, schema, inputs, name, id, threaded, BATCH_VALUES);
    release_all(inputs);
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
/// (its fixed buffers aside): per document, its norm in each indexed field
/// (kept from the norms phase through the terms phase), its length in the
/// field being merged (4 bytes), and a doc-map entry (4) when its input has
/// deletes, and each numeric column's packed value at the width the
/// merged column can need (the inputs' overall value range), one column
/// twice (the writer's output buffer).
pub(crate) fn merge_memory_bytes(schema: &Schema, inputs: &[MergeInput<'_>]) -> u64 {
    let indexed = schema
        .fields()
        .filter(|(_, e)| e.field_type.is_indexed())
        .count() as u64;
    let mut bytes = 0u64;
    for input in inputs {
        let docs = u64::from(input.reader.max_doc());
        let table = if input.has_deletes() { 4 } else { 0 };
        bytes = bytes.saturating_add(docs * (4 + indexed + table));
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

/// Input postings bytes from which a merge reads its terms on a thread of
/// its own, and writes its stored fields and columns on another: below,
/// starting them costs more than they save.
const THREADED_FROM_BYTES: u64 = 1 << 20;

/// Writes the merged segment `name`: first the norms (which the terms
/// phase looks up), then the terms and postings while, on a thread of
/// their own, the stored fields and numeric columns are copied (in turn
/// for a small merge, or when no thread can be started); then the field
/// statistics gathered by the terms phase. Each phase reads its own files
/// of every input, whose pages it releases as it goes.
fn write_merged(
    dir: &dyn Directory,
    schema: &Schema,
    inputs: &[MergeInput<'_>],
    name: &str,
    id: [u8; 16],
    threaded: bool,
    batch_values: usize,
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
    let (norms_file, norms) = w.norms()?;
    let write_others = || -> Result<[FileEntry; 2]> { Ok([w.stored()?, w.columns()?]) };
    let (terms, others) = helper_thread::alongside(threaded, write_others, || {
        w.terms(&norms, threaded, batch_values)
    });
    let (mut files_out, fstats) = terms?;
    files_out.push(norms_file);
    files_out.extend(others?);

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
    /// Terms: a k-way merge of the dictionaries in key order, postings of
    /// each input in input order so new doc ids increase (see
    /// [`merge_terms`](super::merge_terms)), read on a thread of their own
    /// with `threaded`. Returns the term dictionary and postings files,
    /// and each field's statistics.
    fn terms(
        &self,
        norms: &[Vec<u8>],
        threaded: bool,
        batch_values: usize,
    ) -> Result<(Vec<FileEntry>, SegmentFieldStats)> {
        let (dir, name, id) = (self.dir, self.name, self.id);
        let releaser = PageReleaser::new(self.inputs, Phase::Terms);
        let reader = MergeTerms::new(self.inputs, self.maps, self.schema.len(), releaser)?;
        let mut out = MergedTermsOut {
            td: TermDictWriter::new(dir, id, &files::termdict(name))?,
            pw: PostingsWriter::new(dir, id, &files::postings_base(name), true)?,
            norms,
            stats: vec![(FieldStats::default(), 0); self.schema.len()],
        };
        let new_batch = || MergeBatch::new(batch_values);
        let reader = batch_pipeline::run(reader, threaded, new_batch, |b| out.encode(b))?;
        let mut stats = out.stats;
        reader.field_stats(&mut stats);
        let files_out = terms_files(name, out.td, out.pw)?;
        Ok((files_out, SegmentFieldStats { fields: stats }))
    }

    /// Norms of indexed fields, live documents in new order. Returns the
    /// file and, per field, the merged norms (empty for a field without),
    /// which the terms phase looks up.
    fn norms(&self) -> Result<(FileEntry, Vec<Vec<u8>>)> {
        let (dir, schema, name, id, max_doc) =
            (self.dir, self.schema, self.name, self.id, self.max_doc);
        let mut releaser = PageReleaser::new(self.inputs, Phase::Norms);
        let mut nw = NormsWriter::new(max_doc);
        let mut merged = vec![Vec::new(); schema.len()];
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
                merged[field.0 as usize] = n;
            }
        }
        releaser.release();
        let file = FileEntry {
            name: files::norms(name),
            meta: nw.write(dir, &files::norms(name), &id, "")?,
        };
        Ok((file, merged))
    }

    /// Stored fields: records copied as they are.
    fn stored(&self) -> Result<FileEntry> {
        let mut releaser = PageReleaser::new(self.inputs, Phase::Stored);
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
        releaser.release();
        Ok(FileEntry {
            name: files::stored(name),
            meta: sw.finish()?,
        })
    }

    /// Numeric columns. Each column is encoded straight from the inputs
    /// (two passes: bounds, then values), never gathered in a vector first.
    fn columns(&self) -> Result<FileEntry> {
        let mut releaser = PageReleaser::new(self.inputs, Phase::Columns);
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
        releaser.release();
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

    /// Reading the terms on a thread of their own, and batches of any
    /// size (down to one document, so that terms split across many),
    /// write the same files as reading them in turn, with and without
    /// deleted documents in the inputs.
    #[test]
    fn threads_and_batch_sizes_write_the_same_files() {
        for deletes in [false, true] {
            let dir = RamDirectory::new();
            let index = Index::create(dir.clone(), Schema::logs()).unwrap();
            let (id, body) = (
                index.schema().field("id").unwrap(),
                index.schema().field("body").unwrap(),
            );
            let w = index
                .writer(
                    WriterConfig::default()
                        .no_merges()
                        .indexing_threads(1)
                        .max_buffered_docs(300),
                )
                .unwrap();
            let mut rng = lucerna_store::rng::SplitMix64::new(0x5EED_0001);
            for i in 0..1500u64 {
                let mut d = Document::new();
                d.add_u64(id, i);
                let words: Vec<String> = (0..1 + rng.below(12))
                    .map(|_| {
                        let vocabulary = if rng.chance(0.5) { 5 } else { 400 };
                        format!("w{}", rng.below(vocabulary))
                    })
                    .collect();
                d.add_text(body, words.join(" "));
                w.add_document(d).unwrap();
            }
            if deletes {
                for i in (0..1500u64).step_by(7) {
                    w.delete_by_id(id, i).unwrap();
                }
            }
            w.commit().unwrap();
            let s = w.searcher().unwrap();
            assert!(s.segment_readers().len() >= 4);
            let inputs: Vec<MergeInput> = s
                .segment_readers()
                .iter()
                .map(|r| MergeInput {
                    reader: r,
                    live: None,
                })
                .collect();
            let payloads = |name: &str| -> Vec<Vec<u8>> {
                segment_file_names(name)
                    .iter()
                    .map(|f| {
                        let e = lucerna_store::EnvelopeReader::open(&dir, f).unwrap();
                        e.payload()[..].to_vec()
                    })
                    .collect()
            };
            let schema = index.schema();
            write_merged(&dir, schema, &inputs, "seg_r", [7; 16], false, BATCH_VALUES).unwrap();
            let expected = payloads("seg_r");
            for (k, (threaded, batch)) in [
                (true, BATCH_VALUES),
                (false, 1),
                (true, 1),
                (true, 7),
                (false, 200),
            ]
            .into_iter()
            .enumerate()
            {
                let name = format!("seg_t{k}");
                let out =
                    write_merged(&dir, schema, &inputs, &name, [7; 16], threaded, batch).unwrap();
                assert_eq!(out.meta.max_doc, s.num_docs() as u32);
                assert!(
                    payloads(&name) == expected,
                    "deletes {deletes}, threaded {threaded}, batch {batch}"
                );
            }
        }
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
