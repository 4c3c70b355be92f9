//! The per-segment field statistics file (`<segment>.fls`): for every field,
//! the number of documents that have it and the sum of their lengths (the
//! inputs of BM25's average length), and the number of distinct terms.
//!
//! Payload: `vint field_count`, then per field `vint doc_count`,
//! `vint sum_total_term_freq`, `vint num_terms`.

use crate::error::Result;
use crate::search::bm25::FieldStats;
use lucerna_codec::{ByteReader, ByteWriter};
use lucerna_store::{Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta};

/// Format name.
pub const FORMAT: &str = "fieldstats";

/// Statistics of every field of one segment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentFieldStats {
    /// Per field ordinal: (stats, number of distinct terms).
    pub fields: Vec<(FieldStats, u64)>,
}

impl SegmentFieldStats {
    /// Stats of field ordinal `f` (zero when absent).
    pub fn get(&self, f: usize) -> FieldStats {
        self.fields.get(f).map(|x| x.0).unwrap_or_default()
    }

    /// Writes the file.
    pub fn write(&self, dir: &dyn Directory, name: &str, id: [u8; 16]) -> Result<FileMeta> {
        let mut w = ByteWriter::new();
        w.vint(self.fields.len() as u64);
        for (s, n) in &self.fields {
            w.vint(s.doc_count);
            w.vint(s.sum_total_term_freq);
            w.vint(*n);
        }
        let mut e = EnvelopeWriter::create(dir, name, &EnvelopeHeader::new(FORMAT, 1, id, ""))?;
        e.write_all(&w.buf)?;
        Ok(e.finish()?)
    }

    /// Reads the file, checking it belongs to segment `id`.
    pub fn read(dir: &dyn Directory, name: &str, id: &[u8; 16], max_doc: u32) -> Result<Self> {
        let env = EnvelopeReader::open(dir, name)?;
        env.expect_format(FORMAT, 1..=1)?;
        env.expect_id(id)?;
        let p = env.payload();
        let mut r = ByteReader::new(name, env.payload_offset(), &p);
        let n = r.vint_max(255, "field count")? as usize;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let doc_count = r.vint_max(max_doc as u64, "field doc count")?;
            let sum = r.vint()?;
            let terms = r.vint()?;
            fields.push((
                FieldStats {
                    doc_count,
                    sum_total_term_freq: sum,
                },
                terms,
            ));
        }
        Ok(SegmentFieldStats { fields })
    }
}
