//! Commit manifests: `commit-<generation>` files.
//!
//! A commit lists the segments of the index at one point, with every file's
//! length and CRC, the schema, and the write-ahead-log position it covers.
//! It is written to `commit-<generation>.tmp`, fsync'd, atomically renamed
//! and the directory fsync'd: a commit either exists whole or not at all.

use crate::error::{Error, Result};
use crate::index::integrity::id_set::{id_field, IdSet};
use crate::index::integrity::identity::IndexId;
use crate::schema::Schema;
use lucerna_codec::{ByteReader, ByteWriter};
use lucerna_store::{Directory, EnvelopeHeader, EnvelopeReader, EnvelopeWriter, FileMeta};

/// Format name of commit manifests.
pub const COMMIT_FORMAT: &str = "commit";
/// Current commit format version (3: the index's [`IndexId`]; 2: exact id
/// sets per segment; versions 1 and 2 are still read, with an unknown
/// index id, and version 1 with only the smallest and largest id).
pub const COMMIT_VERSION: u32 = 3;
const PREFIX: &str = "commit-";

/// One file of a segment, as recorded in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// File name.
    pub name: String,
    /// Length and CRC32.
    pub meta: FileMeta,
}

/// A segment as recorded in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMeta {
    /// Segment name, the prefix of its files (`seg_<n>`).
    pub name: String,
    /// Random id written in every file header of the segment.
    pub id: [u8; 16],
    /// Number of documents (live and deleted).
    pub max_doc: u32,
    /// Deletion generation (0: no deletes file).
    pub del_gen: u64,
    /// Deleted documents.
    pub num_deleted: u32,
    /// Smallest and largest value of the `id` field, if the schema has a
    /// numeric `id`: the bounds of [`ids`](Self::ids) (commits of version 1
    /// recorded only these).
    pub id_range: Option<(u64, u64)>,
    /// The `id` values of the segment's live documents, if the schema has a
    /// `u64` field named `id` (`None` also for segments read from a version-1
    /// commit). What a lost segment held, exactly: see
    /// [`repair`](crate::index::recovery::repair).
    pub ids: Option<IdSet>,
    /// Ordinal of the schema's `id` field (not stored: derived from the
    /// schema), so that new deletions can update [`ids`](Self::ids).
    pub(crate) id_field: Option<u32>,
    /// Every file of the segment, deletes file included.
    pub files: Vec<FileEntry>,
}

/// `N` of a segment file name `seg_N…` (`seg_N.ext`, `seg_N_gen.liv`).
pub fn segment_number(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("seg_")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// At least `n`, and past the number of every segment file in `dir`: a new
/// segment never reuses a name still on disk (files an open reader holds,
/// or that could not be deleted), as Lucene's file deleter bumps its
/// segment counter past every existing segment file.
pub fn next_segment_number(dir: &dyn Directory, n: u64) -> Result<u64> {
    Ok(dir
        .list()?
        .iter()
        .filter_map(|f| segment_number(f))
        .map(|x| x.saturating_add(1))
        .fold(n, u64::max))
}

impl SegmentMeta {
    /// A new segment's entry: no deletions yet, ids not yet set.
    pub fn new(name: &str, id: [u8; 16], max_doc: u32, files: Vec<FileEntry>) -> SegmentMeta {
        SegmentMeta {
            name: name.to_string(),
            id,
            max_doc,
            del_gen: 0,
            num_deleted: 0,
            id_range: None,
            ids: None,
            id_field: None,
            files,
        }
    }

    /// Live documents.
    pub fn num_live(&self) -> u32 {
        self.max_doc.saturating_sub(self.num_deleted)
    }

    /// Total bytes of the segment's files.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.meta.len).sum()
    }

    /// Name of the live-docs file for `del_gen`.
    pub fn livedocs_file(&self, del_gen: u64) -> String {
        format!("{}_{del_gen}.liv", self.name)
    }

    fn encode(&self, w: &mut ByteWriter) {
        w.len_bytes(self.name.as_bytes());
        w.bytes(&self.id);
        w.vint(self.max_doc as u64);
        w.vint(self.del_gen);
        w.vint(self.num_deleted as u64);
        match &self.ids {
            Some(ids) => {
                w.u8(if ids.is_exact() { 1 } else { 2 });
                ids.encode(w);
            }
            None => w.u8(0),
        }
        w.vint(self.files.len() as u64);
        for f in &self.files {
            w.len_bytes(f.name.as_bytes());
            w.vint(f.meta.len);
            w.u32(f.meta.checksum);
        }
    }

    /// Decodes a segment entry of a commit of format `version`; `id_field`
    /// is the schema's `id` field.
    fn decode(r: &mut ByteReader<'_>, version: u32, id_field: Option<u32>) -> Result<SegmentMeta> {
        let name = utf8(r)?;
        let mut id = [0u8; 16];
        id.copy_from_slice(r.take(16)?);
        let max_doc = r.vint_max(u32::MAX as u64 - 1, "max_doc")? as u32;
        let del_gen = r.vint()?;
        let num_deleted = r.vint_max(max_doc as u64, "deleted count")? as u32;
        let (id_range, ids) = match (version, r.u8()?) {
            (_, 0) => (None, None),
            (1, 1) => (Some((r.vint()?, r.vint()?)), None),
            (2.., t @ (1 | 2)) => {
                let ids = IdSet::decode(r, t == 1)?;
                (ids.bounds(), Some(ids))
            }
            (_, t) => return Err(r.err(format!("bad id-set tag {t}")).into()),
        };
        let n = r.vint_max(r.remaining() as u64, "file count")? as usize;
        let mut files = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let fname = utf8(r)?;
            let len = r.vint()?;
            let checksum = r.u32()?;
            files.push(FileEntry {
                name: fname,
                meta: FileMeta { len, checksum },
            });
        }
        Ok(SegmentMeta {
            name,
            id,
            max_doc,
            del_gen,
            num_deleted,
            id_range,
            ids,
            id_field,
            files,
        })
    }

    /// Sets [`ids`](Self::ids) (and [`id_range`](Self::id_range), its
    /// bounds) to the `id` values of the live documents, given each
    /// document's value (`None`: the document has none).
    pub(crate) fn set_ids(
        &mut self,
        id_field: Option<u32>,
        live_values: impl IntoIterator<Item = u64>,
    ) {
        self.id_field = id_field;
        match id_field {
            Some(_) => {
                let ids = IdSet::from_values(live_values);
                self.id_range = ids.bounds();
                self.ids = Some(ids);
            }
            None => {
                self.id_range = None;
                self.ids = None;
            }
        }
    }
}

fn utf8(r: &mut ByteReader<'_>) -> Result<String> {
    let b = r.len_bytes()?;
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| Error::Store(r.err("string is not UTF-8")))
}

/// A commit: the durable state of an index at one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Generation, increasing by one per commit.
    pub generation: u64,
    /// The index this commit belongs to ([`IndexId::UNKNOWN`] for commits
    /// of format versions 1 and 2).
    pub index_id: IndexId,
    /// The schema.
    pub schema: Schema,
    /// The segments, oldest first.
    pub segments: Vec<SegmentMeta>,
    /// Counter for naming new segments.
    pub next_segment: u64,
    /// Write-ahead-log position this commit covers (0 without a WAL).
    pub wal_position: u64,
    /// Application data (key, value), kept with the commit.
    pub user_data: Vec<(String, String)>,
}

impl Commit {
    /// File name of generation `gen`.
    pub fn file_name(gen: u64) -> String {
        format!("{PREFIX}{gen}")
    }

    /// Parses a commit file name into its generation.
    pub fn parse_file_name(name: &str) -> Option<u64> {
        let g = name.strip_prefix(PREFIX)?;
        if g.is_empty()
            || !g.bytes().all(|b| b.is_ascii_digit())
            || (g.len() > 1 && g.starts_with('0'))
        {
            return None;
        }
        g.parse().ok()
    }

    /// Generations of every commit file in `dir`, ascending.
    pub fn list_generations(dir: &dyn Directory) -> Result<Vec<u64>> {
        let mut gens: Vec<u64> = dir
            .list()?
            .iter()
            .filter_map(|n| Self::parse_file_name(n))
            .collect();
        gens.sort_unstable();
        Ok(gens)
    }

    /// Total live documents.
    pub fn num_docs(&self) -> u64 {
        self.segments.iter().map(|s| s.num_live() as u64).sum()
    }

    /// Every file this commit references (its own manifest included).
    pub fn referenced_files(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .segments
            .iter()
            .flat_map(|s| s.files.iter().map(|f| f.name.clone()))
            .collect();
        v.push(Self::file_name(self.generation));
        v
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::new();
        w.vint(self.generation);
        w.bytes(&self.index_id.0);
        self.schema.encode(&mut w);
        w.vint(self.next_segment);
        w.vint(self.wal_position);
        w.vint(self.segments.len() as u64);
        for s in &self.segments {
            s.encode(&mut w);
        }
        w.vint(self.user_data.len() as u64);
        for (k, v) in &self.user_data {
            w.len_bytes(k.as_bytes());
            w.len_bytes(v.as_bytes());
        }
        w.buf
    }

    /// Writes this commit durably: temp name, fsync, atomic rename, fsync
    /// of the directory. Segment files must already be synced.
    pub fn write(&self, dir: &dyn Directory) -> Result<FileMeta> {
        let name = Self::file_name(self.generation);
        let tmp = format!("{name}.tmp");
        if dir.exists(&tmp)? {
            dir.delete(&tmp)?;
        }
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.generation.to_le_bytes());
        let mut w = EnvelopeWriter::create(
            dir,
            &tmp,
            &EnvelopeHeader::new(COMMIT_FORMAT, COMMIT_VERSION, id, ""),
        )?;
        w.write_all(&self.encode())?;
        let meta = w.finish()?;
        dir.sync(&[&tmp])?;
        dir.rename(&tmp, &name)?;
        dir.sync_dir()?;
        Ok(meta)
    }

    /// Reads and fully verifies commit `generation`.
    pub fn read(dir: &dyn Directory, generation: u64) -> Result<Commit> {
        let name = Self::file_name(generation);
        let env = EnvelopeReader::open(dir, &name)?;
        env.verify_full()?;
        env.expect_format(COMMIT_FORMAT, 1..=COMMIT_VERSION)?;
        let version = env.header().version;
        let payload = env.payload();
        let mut r = ByteReader::new(&name, env.payload_offset(), &payload);
        let gen = r.vint()?;
        if gen != generation {
            return Err(r
                .err_value(generation, gen, "generation differs from file name")
                .into());
        }
        let mut index_id = IndexId::UNKNOWN;
        if version >= 3 {
            index_id.0.copy_from_slice(r.take(16)?);
        }
        let schema = Schema::decode(&mut r)?;
        let idf = id_field(&schema).map(|f| f.0 as u32);
        let next_segment = r.vint()?;
        let wal_position = r.vint()?;
        let n = r.vint_max(r.remaining() as u64, "segment count")? as usize;
        let mut segments = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            segments.push(SegmentMeta::decode(&mut r, version, idf)?);
        }
        let nu = r.vint_max(r.remaining() as u64, "user data count")? as usize;
        let mut user_data = Vec::with_capacity(nu.min(64));
        for _ in 0..nu {
            user_data.push((utf8(&mut r)?, utf8(&mut r)?));
        }
        if r.remaining() != 0 {
            return Err(r.err("trailing bytes after commit").into());
        }
        Ok(Commit {
            generation,
            index_id,
            schema,
            segments,
            next_segment,
            wal_position,
            user_data,
        })
    }

    /// Reads the newest commit of `dir`.
    pub fn read_latest(dir: &dyn Directory) -> Result<Commit> {
        let gens = Self::list_generations(dir)?;
        let gen = *gens.last().ok_or(Error::NoCommit)?;
        Self::read(dir, gen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucerna_store::RamDirectory;

    fn segment(ids: Option<IdSet>) -> SegmentMeta {
        SegmentMeta {
            name: "seg_0".into(),
            id: [3; 16],
            max_doc: 4,
            del_gen: 0,
            num_deleted: 0,
            id_range: ids.as_ref().and_then(IdSet::bounds),
            ids,
            id_field: Some(0),
            files: vec![FileEntry {
                name: "seg_0.tdi".into(),
                meta: FileMeta {
                    len: 100,
                    checksum: 7,
                },
            }],
        }
    }

    #[test]
    fn id_sets_round_trip() {
        let dir = RamDirectory::new();
        let c = Commit {
            generation: 3,
            index_id: IndexId::fresh(),
            schema: Schema::logs(),
            segments: vec![segment(Some(IdSet::from_values([1, 2, 3, 9])))],
            next_segment: 1,
            wal_position: 12,
            user_data: vec![("k".into(), "v".into())],
        };
        c.write(&dir).unwrap();
        let back = Commit::read(&dir, 3).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.segments[0].id_range, Some((1, 9)));
    }

    /// A version-1 commit (only the smallest and largest id) still reads.
    #[test]
    fn version_1_commits_are_read() {
        let dir = RamDirectory::new();
        let mut w = ByteWriter::new();
        w.vint(5);
        Schema::logs().encode(&mut w);
        w.vint(2);
        w.vint(0);
        w.vint(1);
        w.len_bytes(b"seg_0");
        w.bytes(&[3; 16]);
        w.vint(4);
        w.vint(0);
        w.vint(0);
        w.u8(1);
        w.vint(10);
        w.vint(13);
        w.vint(1);
        w.len_bytes(b"seg_0.tdi");
        w.vint(100);
        w.u32(7);
        w.vint(0);
        let mut id = [0u8; 16];
        id[0] = 5;
        let mut e = EnvelopeWriter::create(
            &dir,
            "commit-5",
            &EnvelopeHeader::new(COMMIT_FORMAT, 1, id, ""),
        )
        .unwrap();
        e.write_all(&w.buf).unwrap();
        e.finish().unwrap();
        let c = Commit::read(&dir, 5).unwrap();
        let s = &c.segments[0];
        assert_eq!(s.id_range, Some((10, 13)));
        assert_eq!(s.ids, None);
        assert_eq!(s.id_field, Some(0));
        assert_eq!(s.files[0].meta.len, 100);
    }
}
