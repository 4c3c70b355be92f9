//! [`SegmentReader`]: read access to one immutable segment.

use crate::document::Document;
use crate::error::Result;
use crate::index::integrity::commit::SegmentMeta;
use crate::index::integrity::corrupt_marker::{check_not_marked, mark_corrupt};
use crate::index::integrity::file_refs::{FileRefGuard, FileRefs};
use crate::index::integrity::verify::{OpeningDirectory, Verify};
use crate::index::read::field_stats::SegmentFieldStats;
use crate::schema::{Field, Schema};
use crate::search::bm25::FieldStats;
use crate::search::scorer::{NormSource, TERMINATED};
use lucerna_codec::columns::ColumnsReader;
use lucerna_codec::livedocs::LiveDocs;
use lucerna_codec::norms::NormsReader;
use lucerna_codec::postings::{PostingsReader, SegmentPostings, TermInfo};
use lucerna_codec::stored::StoredReader;
use lucerna_codec::termdict::TermDict;
use lucerna_codec::ByteReader;
use lucerna_store::{Directory, FileSlice, StoreError};
use std::sync::Arc;

/// File names of a segment's parts.
pub(crate) mod files {
    pub fn termdict(seg: &str) -> String {
        format!("{seg}.tdi")
    }
    pub fn postings_base(seg: &str) -> String {
        seg.to_string()
    }
    pub fn norms(seg: &str) -> String {
        format!("{seg}.nrm")
    }
    pub fn stored(seg: &str) -> String {
        format!("{seg}.sto")
    }
    pub fn columns(seg: &str) -> String {
        format!("{seg}.col")
    }
    pub fn field_stats(seg: &str) -> String {
        format!("{seg}.fls")
    }
}

/// The immutable parts of a segment, shared by every reader of it.
pub(crate) struct SegmentCore {
    pub termdict: TermDict,
    pub postings: PostingsReader,
    pub norms: NormsReader,
    pub stored: StoredReader,
    pub columns: ColumnsReader,
    pub stats: SegmentFieldStats,
    /// The bytes of every file the decoders above read, as they were handed
    /// out when the segment opened (see [`SegmentReader::held_files`]).
    held: Vec<(String, FileSlice)>,
    _core_refs: FileRefGuard,
}

impl SegmentCore {
    /// Gives the resident pages of every file back to the operating system
    /// (the files stay readable; see `FileSlice::release_pages`).
    pub(crate) fn release_pages(&self) {
        self.termdict.release_pages();
        self.postings.release_pages();
        self.norms.release_pages();
        self.stored.release_pages();
        self.columns.release_pages();
    }
}

/// One segment as of one deletion generation.
#[derive(Clone)]
pub struct SegmentReader {
    core: Arc<SegmentCore>,
    meta: SegmentMeta,
    schema: Arc<Schema>,
    live: Option<Arc<LiveDocs>>,
    _live_ref: Option<Arc<FileRefGuard>>,
}

impl std::fmt::Debug for SegmentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentReader")
            .field("segment", &self.meta.name)
            .field("max_doc", &self.meta.max_doc)
            .field("deleted", &self.meta.num_deleted)
            .finish()
    }
}

impl SegmentReader {
    /// Opens a segment; with [`Verify::Full`] every file is first checked
    /// whole against the commit's record of it.
    ///
    /// A segment with a [corruption marker](crate::index::corrupt_marker)
    /// fails at once, naming the segment and the problem the marker
    /// records. With [`Verify::Full`], a corruption found while opening
    /// writes the segment's marker (best effort).
    pub(crate) fn open(
        dir: &dyn Directory,
        meta: &SegmentMeta,
        schema: Arc<Schema>,
        refs: &FileRefs,
        verify: Verify,
    ) -> Result<SegmentReader> {
        check_not_marked(dir, meta)?;
        let r = Self::open_unmarked(dir, meta, schema, refs, verify);
        if verify == Verify::Full {
            if let Err(e) = &r {
                mark_corrupt(dir, meta, e);
            }
        }
        r
    }

    /// [`open`](Self::open) without looking at or writing corruption
    /// markers (for `check_index`, which reports markers itself).
    pub(crate) fn open_unmarked(
        dir: &dyn Directory,
        meta: &SegmentMeta,
        schema: Arc<Schema>,
        refs: &FileRefs,
        verify: Verify,
    ) -> Result<SegmentReader> {
        // Every file goes through `opening`: with `Verify::Full` it is
        // verified whole as it is handed to its decoder, so the bytes
        // decoded are the bytes verified (a second read could differ).
        let opening = OpeningDirectory::new(dir, meta, verify == Verify::Full);
        let seg = &meta.name;
        let id = meta.id;
        let core_files: Vec<String> = meta
            .files
            .iter()
            .filter(|f| !f.name.ends_with(".liv"))
            .map(|f| f.name.clone())
            .collect();
        let guard = refs.acquire(core_files);
        let termdict = if verify == Verify::Full {
            // Its whole-file CRC is checked by `opening` as it opens.
            TermDict::open_verified(&opening, &files::termdict(seg), id)?
        } else {
            TermDict::open(&opening, &files::termdict(seg), id)?
        };
        let postings =
            PostingsReader::open(&opening, &files::postings_base(seg), id, meta.max_doc)?;
        let norms = NormsReader::open(&opening, &files::norms(seg), &id)?;
        let stored = StoredReader::open(&opening, &files::stored(seg), &id)?;
        let columns = ColumnsReader::open(&opening, &files::columns(seg), &id)?;
        let stats = SegmentFieldStats::read(&opening, &files::field_stats(seg), &id, meta.max_doc)?;
        // Files of the record no decoder opened (none, for a segment as
        // this engine writes them) are still verified.
        opening.verify_rest(false)?;
        // The field statistics are decoded once, into memory: their bytes
        // are not read again.
        let stats_file = files::field_stats(seg);
        let mut held = opening.take_opened();
        held.retain(|(n, _)| *n != stats_file);
        let core = SegmentCore {
            termdict,
            postings,
            norms,
            stored,
            columns,
            stats,
            held,
            _core_refs: guard,
        };
        let counts = [
            (core.stored.num_docs(), files::stored(seg)),
            (core.columns.num_docs(), files::columns(seg)),
            (core.norms.max_doc(), files::norms(seg)),
        ];
        for (n, file) in counts {
            if n != meta.max_doc {
                return Err(StoreError::corrupt(
                    file,
                    0,
                    meta.max_doc as u64,
                    n as u64,
                    "document count differs from the segment's in the commit",
                )
                .into());
            }
        }
        // Opening read the files' headers, footers and indexes (all of a
        // term dictionary's block index, for one); none of it is needed
        // again soon, and a search faults in the pages it reads.
        core.release_pages();
        let mut r = SegmentReader {
            core: Arc::new(core),
            meta: meta.clone(),
            schema,
            live: None,
            _live_ref: None,
        };
        r.load_live(dir, meta, refs, verify)?;
        Ok(r)
    }

    /// Loads the live docs of `meta`'s deletion generation; with
    /// [`Verify::Full`] the bytes decoded are verified whole first.
    fn load_live(
        &mut self,
        dir: &dyn Directory,
        meta: &SegmentMeta,
        refs: &FileRefs,
        verify: Verify,
    ) -> Result<()> {
        if meta.del_gen > 0 {
            let name = meta.livedocs_file(meta.del_gen);
            if verify == Verify::Full && !meta.files.iter().any(|f| f.name == name) {
                return Err(StoreError::corrupt(
                    name,
                    0,
                    0,
                    0,
                    "live-docs file not recorded in the segment's commit entry",
                )
                .into());
            }
            let guard = refs.acquire(vec![name.clone()]);
            let opening = OpeningDirectory::new(dir, meta, verify == Verify::Full);
            let live = LiveDocs::open(&opening, &name, &meta.id, meta.del_gen, meta.max_doc)?;
            self.live = Some(Arc::new(live));
            self._live_ref = Some(Arc::new(guard));
        } else {
            self.live = None;
            self._live_ref = None;
        }
        self.meta = meta.clone();
        Ok(())
    }

    /// The same segment at a newer deletion generation (shares the core).
    /// With [`Verify::Full`] its live-docs file is verified whole as it is
    /// read (a corruption marks the segment).
    pub(crate) fn with_deletes(
        &self,
        dir: &dyn Directory,
        meta: &SegmentMeta,
        refs: &FileRefs,
        verify: Verify,
    ) -> Result<SegmentReader> {
        let mut r = self.clone();
        if let Err(e) = r.load_live(dir, meta, refs, verify) {
            if verify == Verify::Full {
                mark_corrupt(dir, meta, &e);
            }
            return Err(e);
        }
        Ok(r)
    }

    /// The same segment with in-memory live docs (near-real-time deletes).
    pub(crate) fn with_live_docs(&self, meta: SegmentMeta, live: Option<Arc<LiveDocs>>) -> Self {
        let mut r = self.clone();
        r.meta = meta;
        r.live = live;
        r._live_ref = None;
        r
    }

    /// The segment's commit metadata.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    /// Number of documents (live and deleted).
    pub fn max_doc(&self) -> u32 {
        self.meta.max_doc
    }

    /// Number of live documents.
    pub fn num_live(&self) -> u32 {
        match &self.live {
            Some(l) => l.num_live(),
            None => self.meta.max_doc,
        }
    }

    /// True when `doc` is not deleted.
    #[inline]
    pub fn is_live(&self, doc: u32) -> bool {
        match &self.live {
            Some(l) => l.is_live(doc),
            None => doc < self.meta.max_doc,
        }
    }

    /// Live docs, if the segment has deletions.
    pub(crate) fn live_docs(&self) -> Option<&Arc<LiveDocs>> {
        self.live.as_ref()
    }

    /// Dictionary entry of `key` (field byte + term).
    pub fn term_info(&self, key: &[u8]) -> Result<Option<TermInfo>> {
        Ok(self.core.termdict.get(key)?)
    }

    /// A postings cursor for a term of this segment.
    pub fn postings(&self, info: &TermInfo) -> Result<SegmentPostings> {
        Ok(self.core.postings.postings(info)?)
    }

    /// The norms of `field`.
    pub(crate) fn norms(&self, field: Field) -> NormSource {
        NormSource::new(self.core.norms.field_slice(field.0 as u32))
    }

    /// Field statistics of this segment.
    pub fn field_stats(&self, field: Field) -> FieldStats {
        self.core.stats.get(field.0 as usize)
    }

    /// Number of distinct terms of `field` in this segment.
    pub fn num_terms(&self, field: Field) -> u64 {
        self.core
            .stats
            .fields
            .get(field.0 as usize)
            .map_or(0, |x| x.1)
    }

    /// Documents having a term that starts with `prefix_key`, ascending.
    pub(crate) fn prefix_docs(&self, prefix_key: &[u8]) -> Result<Vec<u32>> {
        let max_doc = self.meta.max_doc as usize;
        let mut bits = vec![0u64; max_doc.div_ceil(64)];
        let mut any = false;
        for item in self.core.termdict.prefix(prefix_key)? {
            let (_, info) = item?;
            let mut p = self.core.postings.postings(&info)?;
            let mut d = p.doc();
            while d != TERMINATED {
                if let Some(w) = bits.get_mut(d as usize / 64) {
                    *w |= 1 << (d % 64);
                    any = true;
                }
                d = p.advance()?;
            }
        }
        if !any {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (i, &w) in bits.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                let b = w.trailing_zeros();
                out.push(i as u32 * 64 + b);
                w &= w - 1;
            }
        }
        Ok(out)
    }

    /// Documents whose value of numeric `field` is in `lo..=hi` (encoded).
    pub(crate) fn range_docs(&self, field: Field, lo: u64, hi: u64) -> Result<Vec<u32>> {
        let Some(col) = self.core.columns.column(field.0 as u32) else {
            return Ok(Vec::new());
        };
        if col.max_value() < lo || col.min_value() > hi {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for doc in 0..self.meta.max_doc {
            if let Some(v) = col.get_opt(doc) {
                if v >= lo && v <= hi {
                    out.push(doc);
                }
            }
        }
        Ok(out)
    }

    /// The encoded value of numeric `field` for `doc`.
    pub fn column_value(&self, field: Field, doc: u32) -> Option<u64> {
        self.core.columns.column(field.0 as u32)?.get_opt(doc)
    }

    /// The stored fields of `doc`.
    pub fn doc(&self, doc: u32) -> Result<Document> {
        let rec = self.core.stored.get(doc)?;
        let name = self.core.stored.name().to_string();
        let mut r = ByteReader::new(&name, 0, &rec);
        Document::decode_stored(&mut r, self.schema.len())
    }

    /// Every (key, info) of the term dictionary, in key order (for merging
    /// and checking).
    pub(crate) fn core(&self) -> &SegmentCore {
        &self.core
    }

    /// The files the segment's decoders read (every file of the segment
    /// but its field statistics, decoded into memory when it opened, and
    /// its live docs), each with the very bytes the decoders read: verify
    /// them with [`verify_held`](crate::index::integrity::verify::verify_held) to
    /// check what was read, not a fresh copy of the file.
    pub(crate) fn held_files(&self) -> &[(String, FileSlice)] {
        &self.core.held
    }
}
