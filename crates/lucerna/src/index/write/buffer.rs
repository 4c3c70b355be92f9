//! The in-memory segment buffer: documents indexed since the last flush.
//!
//! Per term (field ordinal byte + term bytes) the buffer keeps a varint
//! stream of `doc delta, freq, position deltas…` in its
//! [`TermTable`]; per text field a norm byte per document; per numeric
//! field a column; stored fields as encoded records. A buffer is owned by
//! one indexing thread at a time.

use crate::analysis::Analyzer;
use crate::document::{Document, Value};
use crate::error::{Error, Result};
use crate::index::write::flush::TERM_BATCHES_BYTES;
use crate::index::write::sorted_terms::TermPart;
use crate::index::write::term_table::TermTable;
use crate::schema::{FieldType, NumericKind, Schema};
use lucerna_codec::columns::{f64_to_u64, i64_to_u64};
use lucerna_codec::norms::length_to_norm;
use lucerna_codec::postings::MAX_DOC_POSITIONS;
use lucerna_codec::ByteWriter;
use std::sync::Arc;

/// Longest keyword term accepted, in bytes (Lucene's limit).
pub const MAX_TERM_BYTES: usize = 32_766;
// A key is a field byte and the term.
const _: () = assert!(MAX_TERM_BYTES < crate::index::write::term_table::MAX_KEY_BYTES);
/// Tokens of a document between the one whose term's stream end is
/// prefetched and the one whose term is written to (twice as far for the
/// term's state).
const ADD_AHEAD: usize = 4;
/// Position gap between values of a multi-valued text field.
pub const POSITION_GAP: u32 = 1;

/// Fixed buffers a flush allocates: a buffered writer per file, the
/// stored-fields block and compressor, postings and term-dictionary block
/// encoders, and the decoded term batches passed between its two threads
/// ([`TERM_BATCHES_BYTES`]). The writer sets it aside once from its budget
/// (not per buffer: a per-buffer charge would make a small share flush
/// after every document).
pub(crate) const FLUSH_FIXED_BYTES: usize = (512 << 10) + TERM_BATCHES_BYTES;
/// Flush memory per buffered term: its id in the sorted term order and
/// its share of the term dictionary's index.
const FLUSH_BYTES_PER_TERM: usize = 16;

/// Bytes of a document's strings, plus one per string.
fn text_bytes(doc: &Document) -> usize {
    doc.values()
        .iter()
        .map(|(_, v)| match v {
            Value::Str(s) => s.len() + 1,
            _ => 0,
        })
        .sum()
}

/// Tokens interned together ([`TermTable::intern_batch`]); each with
/// its position goes to `scratch`.
struct TokenBatch<'a> {
    terms: &'a mut TermTable,
    scratch: &'a mut Vec<(u32, u32)>,
    /// The keys (field byte + token) end to end, each ending where `ends`
    /// says.
    keys: &'a mut Vec<u8>,
    ends: &'a mut Vec<u32>,
    positions: &'a mut Vec<u32>,
    ids: &'a mut Vec<u32>,
}

impl TokenBatch<'_> {
    /// Tokens of a batch, at most: a long text value is interned a
    /// batch at a time, so the batch's buffers stay small and its offsets
    /// far from 32 bits.
    const TOKENS: usize = 4096;

    /// Adds a token of field `field` at `position` (interning the batch
    /// when it is full).
    #[inline]
    fn push(&mut self, field: u8, token: &str, position: u32) {
        self.keys.push(field);
        self.keys.extend_from_slice(token.as_bytes());
        // At most TOKENS keys of at most MAX_TERM_BYTES + 1 bytes.
        self.ends.push(self.keys.len() as u32);
        self.positions.push(position);
        if self.ends.len() == Self::TOKENS {
            self.intern();
        }
    }

    /// Interns the tokens held and appends (id, position) to `scratch`.
    fn intern(&mut self) {
        self.ids.clear();
        self.terms.intern_batch(self.keys, self.ends, self.ids);
        self.scratch
            .extend(self.ids.iter().copied().zip(self.positions.iter().copied()));
        self.keys.clear();
        self.ends.clear();
        self.positions.clear();
    }
}

/// Per text-field statistics of the buffered documents.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FieldAcc {
    pub doc_count: u64,
    pub sum_ttf: u64,
}

/// Documents buffered in memory, ready to flush into a segment.
#[derive(Debug)]
pub(crate) struct SegmentBuffer {
    pub schema: Arc<Schema>,
    /// The terms and postings streams of the documents added since the
    /// last [`absorb`](Self::absorb) (all of them when there was none),
    /// doc ids as in this buffer.
    pub terms: TermTable,
    /// The term tables of the documents before: this buffer's own from
    /// before each absorb and those of the buffers it absorbed, in doc id
    /// order, each with the doc id its documents start at.
    pub absorbed: Vec<(TermTable, u32)>,
    /// Per field: one norm byte per doc (empty for non-text fields).
    pub norms: Vec<Vec<u8>>,
    pub field_acc: Vec<FieldAcc>,
    /// Per numeric field: one value per doc, and presence.
    pub columns: Vec<Vec<Option<u64>>>,
    pub stored: Vec<u8>,
    pub stored_offsets: Vec<usize>,
    /// Operation sequence number of each document (delete resolution).
    pub seqnos: Vec<u64>,
    pub num_docs: u32,
    /// What the writer's unflushed-bytes counter holds for this buffer
    /// (the last [`ram_bytes`](Self::ram_bytes) reported to it), so that
    /// exactly that is taken back when the buffer is flushed or dropped.
    pub accounted: usize,
    /// Flush memory per buffered document (see `flush_bytes`); fixed by
    /// the schema, so computed once.
    flush_bytes_per_doc: usize,
    scratch: Vec<(u32, u32)>,
    key: Vec<u8>,
    /// The buffers of a [`TokenBatch`].
    batch_keys: Vec<u8>,
    batch_ends: Vec<u32>,
    batch_positions: Vec<u32>,
    batch_ids: Vec<u32>,
    lengths: Vec<u32>,
    stored_buf: ByteWriter,
}

impl SegmentBuffer {
    pub fn new(schema: Arc<Schema>) -> Self {
        let n = schema.len();
        let flush_bytes_per_doc = schema
            .fields()
            .map(|(_, e)| match e.field_type {
                FieldType::Numeric { .. } => 2 * std::mem::size_of::<Option<u64>>(),
                _ if e.field_type.is_indexed() => 1,
                _ => 0,
            })
            .sum();
        SegmentBuffer {
            schema,
            terms: TermTable::default(),
            absorbed: Vec::new(),
            norms: vec![Vec::new(); n],
            field_acc: vec![FieldAcc::default(); n],
            columns: vec![Vec::new(); n],
            stored: Vec::new(),
            stored_offsets: vec![0],
            seqnos: Vec::new(),
            num_docs: 0,
            accounted: 0,
            flush_bytes_per_doc,
            scratch: Vec::new(),
            key: Vec::new(),
            batch_keys: Vec::new(),
            batch_ends: Vec::new(),
            batch_positions: Vec::new(),
            batch_ids: Vec::new(),
            lengths: vec![0; n],
            stored_buf: ByteWriter::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.num_docs == 0
    }

    /// The memory this buffer holds, and will need to flush: what the
    /// writer's budget is charged for it.
    ///
    /// Counted from the allocations themselves, not from the bytes
    /// indexed: every vector and the term table by capacity (growth by
    /// doubling leaves up to half of a vector unused, and that memory is
    /// held all the same; the table's slice pool by whole blocks), plus
    /// what [`write_segment`](super::flush) will
    /// allocate to flush it in proportion to its contents (the sorted term
    /// order, copies of norms and columns; nothing while the buffer holds
    /// no document). The flush's fixed buffers, [`FLUSH_FIXED_BYTES`], are
    /// set aside from the writer's budget once. Measured against the
    /// process's heap in the spike scenario (docs/merging.md).
    pub fn ram_bytes(&self) -> usize {
        use std::mem::size_of;
        let columns: usize = self
            .columns
            .iter()
            .map(|c| c.capacity() * size_of::<Option<u64>>())
            .sum();
        let norms: usize = self.norms.iter().map(Vec::capacity).sum();
        let held = self.terms.heap_bytes()
            + self
                .absorbed
                .iter()
                .map(|(t, _)| t.heap_bytes() + t.len() * FLUSH_BYTES_PER_TERM)
                .sum::<usize>()
            + columns
            + norms
            + self.stored.capacity()
            + self.stored_offsets.capacity() * size_of::<usize>()
            + self.seqnos.capacity() * size_of::<u64>()
            + self.scratch.capacity() * size_of::<(u32, u32)>()
            + self.batch_keys.capacity()
            + (self.batch_ends.capacity()
                + self.batch_positions.capacity()
                + self.batch_ids.capacity())
                * size_of::<u32>();
        held + self.flush_bytes()
    }

    /// What flushing this buffer allocates besides the buffer itself and
    /// the fixed buffers: the sorted term order (a key slice and id per
    /// term), a copy of each norm and column vector, the column encoder's
    /// values.
    fn flush_bytes(&self) -> usize {
        let docs = self.num_docs as usize;
        if docs == 0 {
            return 0;
        }
        self.terms.len() * FLUSH_BYTES_PER_TERM + docs * self.flush_bytes_per_doc
    }

    /// Whether this buffer's term table can take `doc` (its 32-bit
    /// addresses run out at 4 GiB of keys or postings): when not, the
    /// writer flushes the buffer first.
    pub fn has_room_for(&self, doc: &Document) -> bool {
        // Tokens are at most the text's bytes plus one per value (an empty
        // keyword); a new key takes its bytes, a field byte and two length
        // bytes.
        let n = text_bytes(doc);
        self.terms.room_for(n, 4 * n)
    }

    /// Checks a document against the schema without changing anything.
    pub fn validate(schema: &Schema, doc: &Document) -> Result<()> {
        let mut seen_numeric = vec![false; schema.len()];
        for (field, value) in doc.values() {
            let entry = schema
                .entry(*field)
                .ok_or_else(|| Error::Document(format!("unknown field ordinal {}", field.0)))?;
            match (&entry.field_type, value) {
                (FieldType::Text { .. }, Value::Str(_)) => {}
                (FieldType::Keyword { .. }, Value::Str(s)) => {
                    if s.len() > MAX_TERM_BYTES {
                        return Err(Error::Document(format!(
                            "field `{}`: keyword of {} bytes exceeds the {MAX_TERM_BYTES}-byte term limit",
                            entry.name,
                            s.len()
                        )));
                    }
                }
                (FieldType::StoredOnly, _) => {}
                (FieldType::Numeric { kind, .. }, v) => {
                    let ok = match kind {
                        NumericKind::U64 => v.as_u64().is_some(),
                        NumericKind::I64 | NumericKind::Timestamp => v.as_i64().is_some(),
                        NumericKind::F64 => v.as_f64().is_some_and(|f| !f.is_nan()),
                    };
                    if !ok {
                        return Err(Error::Document(format!(
                            "field `{}`: {v:?} is not a valid {kind:?}",
                            entry.name
                        )));
                    }
                    if std::mem::replace(&mut seen_numeric[field.0 as usize], true) {
                        return Err(Error::Document(format!(
                            "field `{}`: numeric fields take one value",
                            entry.name
                        )));
                    }
                }
                (ft, v) => {
                    return Err(Error::Document(format!(
                        "field `{}` ({ft:?}) cannot take {v:?}",
                        entry.name
                    )))
                }
            }
        }
        for (field, entry) in schema.fields() {
            if entry.required && doc.get_first(field).is_none() {
                return Err(Error::Document(format!(
                    "required field `{}` is missing",
                    entry.name
                )));
            }
        }
        Ok(())
    }

    /// Why the document being added (its text terms in `scratch`, and
    /// `values` values in all) cannot be indexed when a term of it could
    /// occur more than [`MAX_DOC_POSITIONS`] times in one field, which no
    /// segment holds. Only a field of more tokens, or a document of more
    /// values (keywords), can hold such a term, so terms are counted only
    /// then.
    fn most_positions_of_a_term(&self, values: usize) -> Option<String> {
        let limit = MAX_DOC_POSITIONS as usize;
        if values > limit {
            return Some(format!(
                "a document of {values} values, above the {limit} positions a segment holds per term and document"
            ));
        }
        if self.lengths.iter().all(|&l| l as usize <= limit) {
            return None;
        }
        let mut ids: Vec<u32> = self.scratch.iter().map(|&(id, _)| id).collect();
        ids.sort_unstable();
        let most = ids.chunk_by(|a, b| a == b).map(<[u32]>::len).max()?;
        (most > limit).then(|| {
            format!(
                "a term occurs {most} times in one field of the document, above the {limit} positions a segment holds per term and document"
            )
        })
    }

    /// Indexes a validated document and returns its sequence number, which
    /// `seqno` is called for once the document is accepted.
    ///
    /// Text values are analyzed first: an analyzer may produce a term longer
    /// than [`MAX_TERM_BYTES`] (which no segment could hold), and then the
    /// document is rejected with [`Error::Document`], the buffer left as it
    /// was and `seqno` not called; likewise when a term would occur more
    /// than [`MAX_DOC_POSITIONS`] times in one field.
    // Long on purpose: the per-document hot path of indexing. It analyzes
    // every value and appends terms, positions, norms, stored bytes and
    // columns to buffers it holds borrowed at once, and undoes them all when
    // a term is too long; split, each part would re-borrow the buffer state.
    pub fn add(
        &mut self,
        doc: &Document,
        analyzer: &dyn Analyzer,
        seqno: impl FnOnce() -> u64,
    ) -> Result<u64> {
        let docid = self.num_docs;
        if !self.has_room_for(doc) {
            return Err(Error::Document(format!(
                "a document of {} bytes of text does not fit one segment buffer (4 GiB of terms and postings)",
                text_bytes(doc)
            )));
        }
        let before_terms = self.terms.len();
        self.scratch.clear();
        for l in self.lengths.iter_mut() {
            *l = 0;
        }
        let mut next_pos = vec![0u32; 0];
        next_pos.resize(self.schema.len(), 0);
        let schema = self.schema.clone();
        let mut immense: Option<(&str, usize)> = None;
        for (field, value) in doc.values() {
            let fo = field.0 as usize;
            let Some(entry) = schema.entry(*field) else {
                continue;
            };
            // Text first: keywords and numbers once the document is accepted.
            let (FieldType::Text { .. }, Value::Str(text)) = (&entry.field_type, value) else {
                continue;
            };
            let base = next_pos[fo];
            let mut last = None;
            let mut count = 0u32;
            let mut batch = TokenBatch {
                terms: &mut self.terms,
                scratch: &mut self.scratch,
                keys: &mut self.batch_keys,
                ends: &mut self.batch_ends,
                positions: &mut self.batch_positions,
                ids: &mut self.batch_ids,
            };
            let mut longest = 0usize;
            analyzer.analyze(text, &mut |tok: &str, pos: u32| {
                if tok.len() > MAX_TERM_BYTES {
                    longest = longest.max(tok.len());
                    return;
                }
                batch.push(fo as u8, tok, base + pos);
                last = Some(base + pos);
                count += 1;
            });
            batch.intern();
            self.lengths[fo] += count;
            if let Some(l) = last {
                next_pos[fo] = l + 1 + POSITION_GAP;
            }
            if longest > 0 && immense.is_none() {
                immense = Some((&entry.name, longest));
            }
        }
        let too_many = self.most_positions_of_a_term(doc.values().len());
        if immense.is_some() || too_many.is_some() {
            // Forget the terms this document introduced: nothing else has
            // changed yet.
            self.terms.truncate(before_terms);
            self.scratch.clear();
            return Err(Error::Document(match (immense, too_many) {
                (Some((name, len)), _) => format!(
                    "field `{name}`: a term of {len} bytes exceeds the {MAX_TERM_BYTES}-byte term limit"
                ),
                (None, reason) => reason.unwrap_or_default(),
            }));
        }
        let seqno = seqno();
        for (field, value) in doc.values() {
            let fo = field.0 as usize;
            let Some(entry) = schema.entry(*field) else {
                continue;
            };
            match (&entry.field_type, value) {
                (FieldType::Keyword { .. }, Value::Str(s)) => {
                    self.key.clear();
                    self.key.push(fo as u8);
                    self.key.extend_from_slice(s.as_bytes());
                    let id = self.terms.intern(&self.key);
                    let pos = next_pos[fo];
                    self.scratch.push((id, pos));
                    next_pos[fo] = pos + 1 + POSITION_GAP;
                    self.lengths[fo] += 1;
                }
                (FieldType::Numeric { kind, .. }, v) => {
                    let u = match kind {
                        NumericKind::U64 => v.as_u64().unwrap_or(0),
                        NumericKind::I64 | NumericKind::Timestamp => {
                            i64_to_u64(v.as_i64().unwrap_or(0))
                        }
                        NumericKind::F64 => f64_to_u64(v.as_f64().unwrap_or(0.0)),
                    };
                    let col = &mut self.columns[fo];
                    col.resize(docid as usize, None);
                    col.push(Some(u));
                }
                _ => {}
            }
        }
        // Group tokens by term; a stable sort keeps positions increasing.
        self.scratch.sort_by_key(|&(t, _)| t);
        // The state, then the stream's end, of the term of the token a few
        // tokens on is asked for before this term is written to, so their
        // cache misses overlap.
        let scratch = &self.scratch;
        let mut i = 0;
        while i < scratch.len() {
            let term = scratch[i].0;
            if let Some(&(ahead, _)) = scratch.get(i + 2 * ADD_AHEAD) {
                self.terms.prefetch_state(ahead);
            }
            if let Some(&(near, _)) = scratch.get(i + ADD_AHEAD) {
                self.terms.prefetch_stream_end(near);
            }
            let mut j = i + 1;
            while j < scratch.len() && scratch[j].0 == term {
                j += 1;
            }
            let positions = scratch[i..j].iter().map(|&(_, p)| p);
            self.terms.add_doc(term, docid, (j - i) as u32, positions);
            i = j;
        }
        // Norms and field statistics.
        for (field, entry) in schema.fields() {
            let fo = field.0 as usize;
            if entry.field_type.is_indexed() {
                let len = self.lengths[fo];
                let norms = &mut self.norms[fo];
                norms.resize(docid as usize, 0);
                norms.push(length_to_norm(len));
                if len > 0 {
                    self.field_acc[fo].doc_count += 1;
                    self.field_acc[fo].sum_ttf += len as u64;
                }
            }
        }
        // Stored fields.
        self.stored_buf.buf.clear();
        doc.encode_stored(&schema, &mut self.stored_buf);
        self.stored.extend_from_slice(&self.stored_buf.buf);
        self.stored_offsets.push(self.stored.len());
        self.seqnos.push(seqno);
        self.num_docs += 1;
        Ok(seqno)
    }

    /// Appends every document of `other` after this buffer's own (their
    /// ids shift by this buffer's document count), so that the buffers of
    /// several indexing threads flush as one segment: a near-real-time
    /// refresh or a commit then makes one segment, not one per thread.
    ///
    /// Term tables are not merged: this buffer's own and `other`'s join
    /// [`absorbed`](Self::absorbed) as they are, in doc id order, and the
    /// flush reads all of them in key order
    /// ([`term_parts`](Self::term_parts)). Documents added after this
    /// (when a failed flush hands the buffer back) go to a new table, so
    /// every table's documents still come after the tables before it.
    /// Sequence numbers keep their values, so they are no longer
    /// increasing along the doc ids (delete resolution compares them per
    /// document). Call [`can_absorb`](Self::can_absorb) first.
    pub fn absorb(&mut self, mut other: SegmentBuffer) {
        let offset = self.num_docs;
        let other_docs = other.num_docs as usize;
        let mine = std::mem::take(&mut self.terms);
        self.absorbed.push((mine, 0));
        self.absorbed.extend(
            other
                .absorbed
                .drain(..)
                .map(|(t, first)| (t, first + offset)),
        );
        self.absorbed
            .push((std::mem::take(&mut other.terms), offset));
        for (fo, theirs) in other.norms.iter().enumerate() {
            if theirs.is_empty() {
                continue;
            }
            let ours = &mut self.norms[fo];
            ours.resize(offset as usize, 0);
            ours.extend_from_slice(theirs);
        }
        for (acc, theirs) in self.field_acc.iter_mut().zip(&other.field_acc) {
            acc.doc_count += theirs.doc_count;
            acc.sum_ttf += theirs.sum_ttf;
        }
        for (fo, theirs) in other.columns.iter().enumerate() {
            if theirs.is_empty() {
                continue;
            }
            let ours = &mut self.columns[fo];
            ours.resize(offset as usize, None);
            ours.extend_from_slice(theirs);
        }
        let base = self.stored.len();
        self.stored.extend_from_slice(&other.stored);
        self.stored_offsets
            .extend(other.stored_offsets.iter().skip(1).map(|o| o + base));
        self.seqnos.extend_from_slice(&other.seqnos);
        self.num_docs += other_docs as u32;
        self.accounted += other.accounted;
    }

    /// Whether [`absorb`](Self::absorb) can take `other`: their
    /// documents together keep doc ids below `u32::MAX` (each term table
    /// keeps its own 32-bit addresses).
    pub fn can_absorb(&self, other: &SegmentBuffer) -> bool {
        u64::from(self.num_docs) + u64::from(other.num_docs) < u64::from(u32::MAX)
    }

    /// Bytes of the term tables' postings streams (their pools' blocks).
    pub fn stream_bytes(&self) -> usize {
        self.term_parts().iter().map(|p| p.table.pool_bytes()).sum()
    }

    /// Every term table of the buffer in doc id order (each table's
    /// documents after those of the tables before it), each with the doc
    /// id its documents start at.
    pub fn term_parts(&self) -> Vec<TermPart<'_>> {
        self.absorbed
            .iter()
            .map(|(table, first_doc)| TermPart {
                table,
                first_doc: *first_doc,
            })
            .chain(std::iter::once(TermPart {
                table: &self.terms,
                first_doc: 0,
            }))
            .filter(|p| p.table.len() > 0)
            .collect()
    }

    /// The stored record of `doc`.
    pub fn stored_record(&self, doc: u32) -> &[u8] {
        let a = self.stored_offsets[doc as usize];
        let b = self.stored_offsets[doc as usize + 1];
        &self.stored[a..b]
    }

    /// Documents (ids) containing `key` (field byte + term bytes).
    pub fn docs_with_term(&self, key: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        for part in self.term_parts() {
            let Some(id) = part.table.get(key) else {
                continue;
            };
            let mut r = part.table.stream(id);
            let mut doc = part.first_doc;
            for _ in 0..part.table.doc_freq(id) {
                doc += r.vint();
                out.push(doc);
                for _ in 0..r.vint() {
                    r.vint();
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::DefaultAnalyzer;
    use crate::index::write::sorted_terms::{SortedTerms, TermBatch, TermDecoder};

    fn doc(schema: &Schema, i: u64) -> Document {
        let (id, ts, body) = (
            schema.field("id").unwrap(),
            schema.field("timestamp").unwrap(),
            schema.field("body").unwrap(),
        );
        let mut d = Document::new();
        d.add_u64(id, i);
        // Every third document has no timestamp: columns stay sparse.
        if !i.is_multiple_of(3) {
            d.add_u64(ts, 1000 + i);
        }
        let words = ["disk", "full", "error", "node", "write", "failed"];
        let text: Vec<&str> = (0..=(i % 5))
            .map(|k| words[((i + k * 7) % 6) as usize])
            .collect();
        d.add_text(body, text.join(" "));
        d
    }

    /// A buffer that absorbed others holds exactly what one buffer fed
    /// the same documents in the same order holds, also when it takes
    /// documents after absorbing (as after a failed flush) and absorbs
    /// again.
    #[test]
    fn absorbing_equals_adding_in_order() {
        let schema = Arc::new(Schema::logs());
        let analyzer = DefaultAnalyzer::new();
        let mut whole = SegmentBuffer::new(schema.clone());
        let mut parts: Vec<SegmentBuffer> =
            (0..3).map(|_| SegmentBuffer::new(schema.clone())).collect();
        // Parts of 7, 0 and 12 documents; sequence numbers as a writer
        // with three threads might hand them out.
        let sizes = [7u64, 0, 12];
        let mut next = 0u64;
        for (p, &n) in parts.iter_mut().zip(&sizes) {
            for _ in 0..n {
                let d = doc(&schema, next);
                whole.add(&d, &analyzer, || next).unwrap();
                p.add(&d, &analyzer, || next).unwrap();
                next += 1;
            }
        }
        let mut parts = parts.into_iter();
        let mut one = parts.next().unwrap();
        for p in parts {
            one.absorb(p);
        }
        // A flush that failed hands the buffer back: it takes more
        // documents, then absorbs another thread's buffer again.
        let mut late = SegmentBuffer::new(schema.clone());
        for k in 0..9 {
            let d = doc(&schema, next);
            whole.add(&d, &analyzer, || next).unwrap();
            let b = if k < 5 { &mut one } else { &mut late };
            b.add(&d, &analyzer, || next).unwrap();
            next += 1;
        }
        one.absorb(late);
        assert_eq!(one.num_docs, whole.num_docs);
        assert_eq!(one.seqnos, whole.seqnos);
        assert_eq!(one.norms, whole.norms);
        assert_eq!(one.stored, whole.stored);
        assert_eq!(one.stored_offsets, whole.stored_offsets);
        for (a, b) in one.columns.iter().zip(&whole.columns) {
            let mut a = a.clone();
            a.resize(b.len().max(a.len()), None);
            let mut b = b.clone();
            b.resize(a.len(), None);
            assert_eq!(a, b);
        }
        for (x, y) in one.field_acc.iter().zip(&whole.field_acc) {
            assert_eq!((x.doc_count, x.sum_ttf), (y.doc_count, y.sum_ttf));
        }
        // The absorbed tables, read side by side, hold exactly the whole
        // buffer's postings.
        let postings = |b: &SegmentBuffer| {
            let mut decoder = TermDecoder::new(SortedTerms::new(b.term_parts(), true));
            let mut batch = TermBatch::default();
            let mut out: Vec<(Vec<u8>, u32, u32, Vec<u32>)> = Vec::new();
            let mut more = true;
            while more {
                more = decoder.fill(&mut batch, 7);
                for piece in batch.pieces() {
                    for (d, f, p) in piece.docs() {
                        out.push((piece.key.to_vec(), d, f, p.to_vec()));
                    }
                }
            }
            out
        };
        let (got, want) = (postings(&one), postings(&whole));
        assert_eq!(got, want);
        assert!(want.len() > 19, "every document has terms");
        let disk = whole.docs_with_term(b"\x02disk");
        assert!(!disk.is_empty());
        assert_eq!(one.docs_with_term(b"\x02disk"), disk);
    }

    /// A text value of more tokens than a batch holds, with two values
    /// in one field: each term's positions are those the analyzer gives,
    /// across the batches' seams.
    #[test]
    fn long_values_are_interned_a_batch_at_a_time() {
        let schema = Arc::new(Schema::logs());
        let analyzer = DefaultAnalyzer::new();
        let body = schema.field("body").unwrap();
        let n = 3 * TokenBatch::TOKENS + 17;
        let words: Vec<String> = (0..n).map(|i| format!("w{}", i % 1000)).collect();
        let mut d = Document::new();
        d.add_u64(schema.field("id").unwrap(), 1)
            .add_text(body, words.join(" "))
            .add_text(body, "w5 tail");
        let mut b = SegmentBuffer::new(schema.clone());
        b.add(&d, &analyzer, || 0).unwrap();
        let second = n as u32 + POSITION_GAP;
        for (word, want) in [
            ("w5", {
                let mut p: Vec<u32> = (0..n as u32).filter(|i| i % 1000 == 5).collect();
                p.push(second);
                p
            }),
            ("w999", (0..n as u32).filter(|i| i % 1000 == 999).collect()),
            ("tail", vec![second + 1]),
        ] {
            let key = [&[body.0 as u8][..], word.as_bytes()].concat();
            let id = b.terms.get(&key).expect("term buffered");
            let mut r = b.terms.stream(id);
            assert_eq!(r.vint(), 0, "{word}: the document");
            assert_eq!(r.vint() as usize, want.len(), "{word}: its frequency");
            let mut p = 0;
            let got: Vec<u32> = (0..want.len())
                .map(|_| {
                    p += r.vint();
                    p
                })
                .collect();
            assert_eq!(got, want, "{word}");
        }
        assert_eq!(b.terms.len(), 1001);
    }
}
