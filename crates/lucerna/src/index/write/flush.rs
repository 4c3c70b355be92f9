//! Flush: turns a [`SegmentBuffer`] into an immutable segment on disk.

use crate::error::{Error, Result};
use crate::index::integrity::commit::{FileEntry, SegmentMeta};
use crate::index::integrity::id_set::id_field;
use crate::index::read::field_stats::SegmentFieldStats;
use crate::index::read::segment_reader::files;
use crate::index::write::batch_pipeline::{self, Producer, BATCHES};
use crate::index::write::buffer::SegmentBuffer;
use crate::index::write::helper_thread;
use crate::index::write::sorted_terms::{SortedTerms, TermBatch, TermDecoder};
use crate::schema::FieldType;
use crate::search::bm25::FieldStats;
use lucerna_codec::columns::{ColumnsReader, ColumnsWriter};
use lucerna_codec::livedocs::LiveDocs;
use lucerna_codec::norms::NormsWriter;
use lucerna_codec::postings::PostingsWriter;
use lucerna_codec::stored::{StoredOptions, StoredWriter};
use lucerna_codec::termdict::TermDictWriter;
use lucerna_store::Directory;

/// Writes every file of a new segment named `name` from `buf`, applying
/// `deleted` (doc ids deleted before the flush). Files are not synced here:
/// commit syncs them.
pub(crate) fn write_segment(
    dir: &dyn Directory,
    buf: &SegmentBuffer,
    name: &str,
    id: [u8; 16],
    deleted: &[u32],
) -> Result<SegmentMeta> {
    let schema = &buf.schema;
    let max_doc = buf.num_docs;
    // Terms and postings (two threads of their own in a large flush, see
    // `write_terms`) take most of a flush; the other files are written
    // meanwhile on a third, joined before this returns. Without threads
    // (a small flush, or none could be started) all is written in turn.
    let threaded = buf.stream_bytes() >= THREADED_FROM_BYTES;
    let write_others = || -> Result<[FileEntry; 3]> {
        Ok([
            write_norms(dir, buf, name, id)?,
            write_stored(dir, buf, name, id)?,
            write_columns(dir, buf, name, id)?,
        ])
    };
    let (terms, others) = helper_thread::alongside(threaded, write_others, || {
        write_terms(dir, buf, name, id, threaded)
    });
    let (mut files_out, num_terms) = terms?;
    files_out.extend(others?);

    // Field statistics.
    let stats = SegmentFieldStats {
        fields: (0..schema.len())
            .map(|f| {
                (
                    FieldStats {
                        doc_count: buf.field_acc[f].doc_count,
                        sum_total_term_freq: buf.field_acc[f].sum_ttf,
                    },
                    num_terms[f],
                )
            })
            .collect(),
    };
    files_out.push(FileEntry {
        name: files::field_stats(name),
        meta: stats.write(dir, &files::field_stats(name), id)?,
    });

    let mut meta = SegmentMeta::new(name, id, max_doc, files_out);
    let mut live = LiveDocs::all(max_doc);
    for &d in deleted {
        live.delete(d);
    }
    // The ids of the live documents, from the buffer.
    let idf = id_field(schema).map(|f| f.0 as u32);
    let empty = Vec::new();
    let values = idf.map_or(&empty, |f| &buf.columns[f as usize]);
    meta.set_ids(
        idf,
        values
            .iter()
            .enumerate()
            .filter(|&(d, _)| live.is_live(d as u32))
            .filter_map(|(_, v)| *v),
    );
    if !deleted.is_empty() {
        write_live_docs_file(dir, &mut meta, &live)?;
    }
    Ok(meta)
}

/// Doc ids and positions a decoded term batch holds.
const BATCH_VALUES: usize = 16 << 10;
/// Memory of a flush's decoded term batches (part of
/// [`FLUSH_FIXED_BYTES`](super::buffer::FLUSH_FIXED_BYTES)); only a
/// document with more positions than a batch holds grows one past it.
pub(crate) const TERM_BATCHES_BYTES: usize = BATCHES * TermBatch::bytes_for(BATCH_VALUES);

/// Term tables' stream bytes from which a flush runs on threads of its
/// own: below, starting them costs more than they save.
const THREADED_FROM_BYTES: usize = 1 << 20;

/// The term dictionary and postings of the buffer, terms in key order
/// (field byte first, so fields are contiguous); with the number of terms
/// of each field. With `threaded`, terms are decoded on a helper thread
/// while this one encodes them (decoded here in turn when no thread can
/// be started).
fn write_terms(
    dir: &dyn Directory,
    buf: &SegmentBuffer,
    name: &str,
    id: [u8; 16],
    threaded: bool,
) -> Result<(Vec<FileEntry>, Vec<u64>)> {
    let parts = buf.term_parts();
    for p in &parts {
        p.table.check().map_err(Error::Internal)?;
    }
    let decoder = FlushTerms(TermDecoder::new(SortedTerms::new(parts, threaded)));
    let mut out = TermsOut {
        td: TermDictWriter::new(dir, id, &files::termdict(name))?,
        pw: PostingsWriter::new(dir, id, &files::postings_base(name), true)?,
        num_terms: vec![0u64; buf.schema.len()],
        field: 0,
    };
    // With `threaded`, a helper thread decodes the buffer's streams into
    // batches while this one encodes them.
    batch_pipeline::run(
        decoder,
        threaded,
        || TermBatch::with_capacity(BATCH_VALUES),
        |batch| out.encode(batch, buf),
    )?;
    Ok((terms_files(name, out.td, out.pw)?, out.num_terms))
}

/// Finishes the term dictionary and postings of segment `name` (a flush's
/// or a merge's) and returns their files.
pub(crate) fn terms_files(
    name: &str,
    td: TermDictWriter<'_>,
    pw: PostingsWriter,
) -> Result<Vec<FileEntry>> {
    let mut files_out = vec![FileEntry {
        name: files::termdict(name),
        meta: td.finish()?,
    }];
    for (fname, meta) in pw.finish()? {
        files_out.push(FileEntry { name: fname, meta });
    }
    Ok(files_out)
}

/// The decoding side of a flush, as a [`Producer`] of batches.
struct FlushTerms<'a>(TermDecoder<'a>);

impl<'a> Producer for FlushTerms<'a> {
    type Batch = TermBatch<'a>;
    fn fill(&mut self, batch: &mut TermBatch<'a>) -> Result<bool> {
        Ok(self.0.fill(batch, BATCH_VALUES))
    }
}

/// The encoding side of a flush: the term dictionary and postings being
/// written, and the terms counted per field.
struct TermsOut<'d> {
    td: TermDictWriter<'d>,
    pw: PostingsWriter,
    num_terms: Vec<u64>,
    /// The field of the term being written.
    field: usize,
}

impl TermsOut<'_> {
    /// Writes the postings of `batch`'s pieces, and each finished term.
    fn encode(&mut self, batch: &TermBatch<'_>, buf: &SegmentBuffer) -> Result<()> {
        for piece in batch.pieces() {
            if piece.first {
                self.field = piece.key[0] as usize;
                self.num_terms[self.field] += 1;
                self.pw.start_term();
            }
            let norms = &buf.norms[self.field];
            let (docs, freqs, values) = piece.run();
            self.pw.add_docs_values(docs, freqs, values, |d| {
                norms.get(d as usize).copied().unwrap_or(0)
            })?;
            if piece.last {
                let info = self.pw.finish_term()?;
                self.td.insert(piece.key, &info)?;
            }
        }
        Ok(())
    }
}

/// The buffer's stored records.
fn write_stored(
    dir: &dyn Directory,
    buf: &SegmentBuffer,
    name: &str,
    id: [u8; 16],
) -> Result<FileEntry> {
    let mut sw =
        StoredWriter::create(dir, &files::stored(name), &id, "", StoredOptions::default())?;
    for d in 0..buf.num_docs {
        sw.add(buf.stored_record(d))?;
    }
    Ok(FileEntry {
        name: files::stored(name),
        meta: sw.finish()?,
    })
}

/// The norms of the buffer's indexed fields.
fn write_norms(
    dir: &dyn Directory,
    buf: &SegmentBuffer,
    name: &str,
    id: [u8; 16],
) -> Result<FileEntry> {
    let max_doc = buf.num_docs;
    let mut nw = NormsWriter::new(max_doc);
    for (field, entry) in buf.schema.fields() {
        if entry.field_type.is_indexed() {
            let mut n = buf.norms[field.0 as usize].clone();
            n.resize(max_doc as usize, 0);
            nw.add_field(field.0 as u32, &n)?;
        }
    }
    Ok(FileEntry {
        name: files::norms(name),
        meta: nw.write(dir, &files::norms(name), &id, "")?,
    })
}

/// The buffer's numeric columns.
fn write_columns(
    dir: &dyn Directory,
    buf: &SegmentBuffer,
    name: &str,
    id: [u8; 16],
) -> Result<FileEntry> {
    let max_doc = buf.num_docs;
    let mut cw = ColumnsWriter::new(max_doc);
    for (field, entry) in buf.schema.fields() {
        if let FieldType::Numeric { .. } = entry.field_type {
            let mut col = buf.columns[field.0 as usize].clone();
            col.resize(max_doc as usize, None);
            cw.add_column(field.0 as u32, &col)?;
        }
    }
    Ok(FileEntry {
        name: files::columns(name),
        meta: cw.write(dir, &files::columns(name), &id, "")?,
    })
}

/// Writes `live` as the segment's next deletion generation and updates
/// `meta` (files list, generation, deleted count, and the ids of the live
/// documents, read from `columns`, the segment's open numeric columns).
///
/// The ids are recomputed from every live document rather than by removing
/// the deleted documents' ids from the old set: two live documents may
/// share an id, and the set must keep an id while any live document has
/// it. That is one pass over the id column per segment with new deletes,
/// on the already open (mapped) columns; its pages are released after.
pub(crate) fn write_live_docs(
    dir: &dyn Directory,
    meta: &mut SegmentMeta,
    live: &LiveDocs,
    columns: &ColumnsReader,
) -> Result<()> {
    if let Some(f) = meta.id_field {
        let col = columns.column(f);
        meta.set_ids(
            Some(f),
            (0..meta.max_doc)
                .filter(|&d| live.is_live(d))
                .filter_map(|d| col.as_ref().and_then(|c| c.get_opt(d))),
        );
        columns.release_pages();
    }
    write_live_docs_file(dir, meta, live)
}

/// Writes `live` as the segment's next deletion generation and updates the
/// files list, generation and deleted count of `meta` (not its ids).
fn write_live_docs_file(
    dir: &dyn Directory,
    meta: &mut SegmentMeta,
    live: &LiveDocs,
) -> Result<()> {
    // The next free generation: a live-docs file of this name may belong
    // to a newer commit than the one the writer started from (a repair
    // writer starts from an older commit), and a file some commit still
    // references is never replaced.
    let mut gen = meta.del_gen + 1;
    while dir.exists(&meta.livedocs_file(gen))? {
        gen += 1;
    }
    let fname = meta.livedocs_file(gen);
    let fm = live.write(dir, &fname, &meta.id, gen)?;
    meta.files.retain(|f| !f.name.ends_with(".liv"));
    meta.files.push(FileEntry {
        name: fname,
        meta: fm,
    });
    meta.del_gen = gen;
    meta.num_deleted = live.num_deleted();
    Ok(())
}
