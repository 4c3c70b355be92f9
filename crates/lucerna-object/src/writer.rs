//! [`BucketWriter`]: an index writer whose commits, log and takeover live
//! in a bucket.
//!
//! It wraps a Lucerna [`IndexWriter`] on a local directory whose replica is
//! the bucket ([`ObjectDirectory`]), and ships every operation's log
//! record per [`BucketDurability`]:
//!
//! | mode | an acknowledgement means | losing the machine loses |
//! |---|---|---|
//! | `Bucket` | the record is in the bucket (group commit into one object) | nothing acknowledged |
//! | `Shipped(period)` | the record is fsync'd in the local log; shipped every `period` and at [`ship`](BucketWriter::ship) | what was acknowledged since the last shipped batch ([`unshipped`](BucketWriter::unshipped) lists it by id while running) |
//! | `CommitOnly` | the record is fsync'd in the local log; only commits reach the bucket | everything since the last published commit (listed by [`unshipped`](BucketWriter::unshipped)) |
//!
//! [`BucketWriter::take_over`] starts a writer anywhere that reaches the
//! bucket: it takes the next epoch, publishes a *fencing* manifest (the
//! newest commit again, one generation up, with its epoch: from then on
//! every older writer's publish and ship fails), copies the newest commit
//! to its local directory, replays every shipped record the commit does
//! not hold, and commits. See `docs/object-storage.md`.

use crate::bucket::Bucket;
use crate::catalog::Catalog;
use crate::directory::{ObjectDirectory, WriterEpoch};
use crate::error::{ObjectError, Result};
use crate::keys::{manifest_key, parse_wal_key, WAL};
use crate::shiplog;
use crate::shipper::{LogShipper, ShipStats};
use lucerna::index::replica::replicate_with;
use lucerna::index::Commit;
use lucerna::internals::wal::record::{encode_header, file_name};
use lucerna::schema::{Field, Schema};
use lucerna::store::{Directory, FsDirectory};
use lucerna::Record;
use lucerna::{Document, Durability, Index, IndexWriter, WriterConfig};
use std::path::Path;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// When a [`BucketWriter`] acknowledges an operation (see the module
/// docs for what each loses when the machine is lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketDurability {
    /// Once its log record is in the bucket.
    Bucket,
    /// Once its log record is fsync'd locally; shipped every period.
    Shipped(Duration),
    /// Once its log record is fsync'd locally; only commits are shipped.
    CommitOnly,
}

/// An acknowledged operation whose record is not in the bucket yet
/// (neither shipped nor in a published commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unshipped {
    /// Its sequence number.
    pub lsn: u64,
    /// `add`, `delete` or `update`.
    pub kind: &'static str,
    /// The document id it adds or deletes (the schema's `id` field).
    pub id: Option<u64>,
}

/// What [`BucketWriter::take_over`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeoverReport {
    /// This writer's epoch.
    pub epoch: u64,
    /// The commit taken over.
    pub base_generation: u64,
    /// The fencing manifest's generation.
    pub fence_generation: u64,
    /// The first commit of this writer (base + replayed log).
    pub generation: u64,
    /// Shipped records replayed.
    pub replayed: u64,
    /// Log batches read.
    pub batches: usize,
    /// Attempts (a lost race retries from the new newest commit).
    pub attempts: u32,
}

/// User-data key of a fencing commit: `<epoch>-<nonce>`.
pub const TAKEOVER_KEY: &str = "lucerna-object.takeover";

/// The numeric delete key of `id` in `field` (the write-ahead log's
/// encoding: `0xFF`, the field ordinal, the value big-endian).
fn numeric_key(field: Field, id: u64) -> Vec<u8> {
    let mut k = vec![0xFF, field.0 as u8];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn record_id(rec: &Record, id_field: Option<Field>) -> Option<u64> {
    let f = id_field?;
    match rec {
        Record::Add { doc, .. } | Record::Update { doc, .. } => {
            doc.get_first(f).and_then(|v| v.as_u64())
        }
        Record::Delete { key, .. } => match key.as_slice() {
            [0xFF, o, v @ ..] if *o as u16 == f.0 && v.len() == 8 => {
                Some(u64::from_be_bytes(v.try_into().ok()?))
            }
            _ => None,
        },
        Record::Rollback { .. } => None,
    }
}

fn kind(rec: &Record) -> &'static str {
    match rec {
        Record::Add { .. } => "add",
        Record::Delete { .. } => "delete",
        Record::Update { .. } => "update",
        Record::Rollback { .. } => "rollback",
    }
}

/// A writer of an index in a bucket (see the module docs).
pub struct BucketWriter {
    index: Index,
    writer: IndexWriter,
    dir: ObjectDirectory,
    shipper: Option<Arc<LogShipper>>,
    syncer: Option<(Sender<()>, JoinHandle<()>)>,
    durability: BucketDurability,
    epoch: u64,
    id_field: Option<Field>,
    /// Records of `CommitOnly` mode since the last published commit.
    since_commit: parking_lot::Mutex<Vec<Unshipped>>,
}

impl std::fmt::Debug for BucketWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BucketWriter(epoch {}, {:?})",
            self.epoch, self.durability
        )
    }
}

fn local_config(config: WriterConfig, durability: BucketDurability) -> WriterConfig {
    match durability {
        // The bucket is the log: no local fsync per operation.
        BucketDurability::Bucket => config.durability(Durability::None),
        _ if config.durability == Durability::None => config.durability(Durability::Sync),
        _ => config,
    }
}

impl BucketWriter {
    /// Creates a new index with `schema` in `local` (an empty directory)
    /// and in the bucket (an empty prefix), writer epoch 1.
    pub fn create(
        bucket: Bucket,
        local: &Path,
        cache: &Path,
        schema: Schema,
        config: WriterConfig,
        durability: BucketDurability,
    ) -> Result<BucketWriter> {
        let chain = Catalog::new(bucket.clone()).chain()?;
        if chain.max_generation().is_some() {
            return Err(ObjectError::Config(format!(
                "{bucket} already holds an index: take it over instead"
            )));
        }
        let dir = ObjectDirectory::with_writer(
            bucket,
            cache,
            WriterEpoch {
                epoch: 1,
                log_epoch: 1,
                parent: None,
            },
        )?;
        let index = Index::create(FsDirectory::open(local)?, schema)?;
        Self::start(index, dir, config, durability, 1)
    }

    fn start(
        index: Index,
        dir: ObjectDirectory,
        config: WriterConfig,
        durability: BucketDurability,
        epoch: u64,
    ) -> Result<BucketWriter> {
        let keep = config.keep_commits;
        let writer =
            index.writer(local_config(config, durability).replica(Arc::new(dir.clone())))?;
        let _ = keep;
        let mut w = BucketWriter {
            id_field: index.schema().field("id"),
            index,
            writer,
            dir,
            shipper: None,
            syncer: None,
            durability,
            epoch,
            since_commit: parking_lot::Mutex::new(Vec::new()),
        };
        w.commit()?;
        let index_id = w.index.latest_commit()?.index_id;
        if durability != BucketDurability::CommitOnly {
            let s = Arc::new(LogShipper::new(w.dir.bucket().clone(), index_id, epoch));
            if let BucketDurability::Shipped(period) = durability {
                let (tx, rx) = channel::<()>();
                let s2 = s.clone();
                let h = std::thread::Builder::new()
                    .name("lucerna-log-shipper".into())
                    .spawn(move || loop {
                        match rx.recv_timeout(period) {
                            Err(RecvTimeoutError::Timeout) => {
                                if s2.ship_all().is_err() {
                                    return;
                                }
                            }
                            _ => return,
                        }
                    })
                    .map_err(|e| ObjectError::Runtime(e.to_string()))?;
                w.syncer = Some((tx, h));
            }
            w.shipper = Some(s);
        }
        Ok(w)
    }

    /// Takes the index in `bucket` over (see the module docs): a new
    /// epoch fences every older writer, the newest commit is copied to
    /// `local` (an empty directory, or one a failed takeover left), every
    /// shipped record that commit lacks is replayed, and the result is
    /// committed and published.
    pub fn take_over(
        bucket: Bucket,
        local: &Path,
        cache: &Path,
        config: WriterConfig,
        durability: BucketDurability,
    ) -> Result<(BucketWriter, TakeoverReport)> {
        let local_dir = FsDirectory::open(local)?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let chain = Catalog::new(bucket.clone()).chain()?;
            let base = chain.newest().cloned().ok_or_else(|| {
                ObjectError::Config(format!("{bucket} holds no commit to take over"))
            })?;
            let epoch = chain.max_epoch() + 1;
            let dir = ObjectDirectory::with_writer(
                bucket.clone(),
                cache,
                WriterEpoch {
                    epoch,
                    log_epoch: base.log_epoch,
                    parent: Some(base.generation),
                },
            )?;
            // The newest commit, locally.
            replicate_with(&dir, &local_dir, &base.commit, usize::MAX)?;
            // Fence: the same commit one generation up, with our epoch and
            // a nonce, so that two writers racing to take over with the
            // same epoch never write identical bytes (an identical object
            // would read back as the other's own).
            let mut user_data = base.commit.user_data.clone();
            user_data.retain(|(k, _)| k != TAKEOVER_KEY);
            user_data.push((
                TAKEOVER_KEY.to_string(),
                format!("{epoch}-{}", lucerna::index::IndexId::fresh()),
            ));
            let fence = Commit {
                generation: base.generation + 1,
                user_data,
                ..base.commit.clone()
            };
            fence.write(&local_dir)?;
            match replicate_with(&local_dir, &dir, &fence, usize::MAX) {
                Ok(_) => {}
                Err(e) => {
                    let lost = dir.fenced().is_some();
                    if lost && attempts < 5 {
                        continue;
                    }
                    return Err(e.into());
                }
            }
            // Every shipped record the base lacks, in (epoch, lsn) order.
            let (records, batches) = read_shipped(&bucket, &base, epoch)?;
            let p = base.commit.wal_position;
            let log = file_name(p + 1);
            if local_dir.exists(&log)? {
                local_dir.delete(&log)?;
            }
            let mut bytes = encode_header(p + 1, base.commit.index_id, fence.generation).to_vec();
            let mut next = p + 1;
            for r in &records {
                let r = renumber(r, next);
                next = r.last_lsn() + 1;
                r.encode_into(&mut bytes);
            }
            lucerna::store::write_file(&local_dir, &log, &bytes)?;
            local_dir.sync(&[&log])?;
            local_dir.sync_dir()?;
            dir.set_log_epoch(epoch);
            let index = Index::open(local_dir.clone())?;
            let w = Self::start(index, dir, config, durability, epoch)?;
            let replayed = w.writer.replay_report().replayed;
            let generation = w.writer.last_commit_generation();
            return Ok((
                w,
                TakeoverReport {
                    epoch,
                    base_generation: base.generation,
                    fence_generation: fence.generation,
                    generation,
                    replayed,
                    batches,
                    attempts,
                },
            ));
        }
    }

    /// The local index (schema, readers).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The wrapped writer (its searcher, metrics).
    pub fn writer(&self) -> &IndexWriter {
        &self.writer
    }

    /// This writer's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The bucket replica.
    pub fn directory(&self) -> &ObjectDirectory {
        &self.dir
    }

    /// The durability mode.
    pub fn durability(&self) -> BucketDurability {
        self.durability
    }

    /// Counters of the log shipper (`None` in `CommitOnly`).
    pub fn ship_stats(&self) -> Option<ShipStats> {
        self.shipper.as_ref().map(|s| s.stats())
    }

    fn log(&self, rec: Record) -> Result<()> {
        match &self.shipper {
            Some(s) => {
                let t = s.append(rec)?;
                if self.durability == BucketDurability::Bucket {
                    s.wait_shipped(t)?;
                }
            }
            None => self.since_commit.lock().push(Unshipped {
                lsn: rec.lsn(),
                kind: kind(&rec),
                id: record_id(&rec, self.id_field),
            }),
        }
        Ok(())
    }

    /// Adds a document; acknowledged (returns its sequence number) as the
    /// durability mode says.
    pub fn add_document(&self, doc: Document) -> Result<u64> {
        let copy = doc.clone();
        let lsn = self.writer.add_document(doc)?;
        self.log(Record::Add { lsn, doc: copy })?;
        Ok(lsn)
    }

    /// Deletes every document whose `u64` field `field` is `id`.
    pub fn delete_by_id(&self, field: Field, id: u64) -> Result<u64> {
        let lsn = self.writer.delete_by_id(field, id)?;
        self.log(Record::Delete {
            lsn,
            key: numeric_key(field, id),
        })?;
        Ok(lsn)
    }

    /// Replaces every document whose `u64` field `field` is `id` with `doc`.
    pub fn update_by_id(&self, field: Field, id: u64, doc: Document) -> Result<u64> {
        let copy = doc.clone();
        let lsn = self.writer.update_by_id(field, id, doc)?;
        self.log(Record::Update {
            lsn: lsn.saturating_sub(1),
            key: numeric_key(field, id),
            doc: copy,
        })?;
        Ok(lsn)
    }

    /// Ships every queued record now (a no-op in `CommitOnly`).
    pub fn ship(&self) -> Result<()> {
        match &self.shipper {
            Some(s) => s.ship_all(),
            None => Ok(()),
        }
    }

    /// Commits locally and publishes the commit in the bucket. An error
    /// means the bucket did not get it: [`ObjectError::Fenced`] or
    /// [`ObjectError::LostRace`] when another writer took over.
    pub fn commit(&self) -> Result<u64> {
        let g = self.writer.commit()?;
        let status = self.writer.replication();
        if let Some(e) = status.first().and_then(|s| s.last_error.clone()) {
            let newest = Catalog::new(self.dir.bucket().clone()).chain().ok();
            return Err(match (self.dir.fenced(), newest) {
                (Some(_), Some(chain)) if chain.max_epoch() > self.epoch => ObjectError::Fenced {
                    our_epoch: self.epoch,
                    newest_epoch: chain.max_epoch(),
                },
                (Some(_), Some(chain)) => ObjectError::LostRace {
                    generation: g,
                    winner_epoch: chain.manifests.get(&g).map_or(0, |m| m.epoch),
                    our_epoch: self.epoch,
                },
                _ => ObjectError::Bucket {
                    op: "publish",
                    key: manifest_key(g),
                    attempts: self.dir.bucket().retry_policy().attempts,
                    message: self.dir.last_error().unwrap_or(e),
                },
            });
        }
        let covered = self.index.latest_commit()?.wal_position;
        self.since_commit.lock().retain(|u| u.lsn > covered);
        Ok(g)
    }

    /// Acknowledged operations whose records are not in the bucket yet:
    /// what losing this machine now would lose (empty in `Bucket` mode).
    pub fn unshipped(&self) -> Vec<Unshipped> {
        let covered = self
            .dir
            .catalog()
            .chain()
            .ok()
            .and_then(|c| {
                c.newest()
                    .filter(|m| m.log_epoch == self.epoch)
                    .map(|m| m.commit.wal_position)
            })
            .unwrap_or(0);
        let mut v: Vec<Unshipped> = match &self.shipper {
            Some(s) => s
                .unshipped()
                .iter()
                .map(|r| Unshipped {
                    lsn: r.lsn(),
                    kind: kind(r),
                    id: record_id(r, self.id_field),
                })
                .collect(),
            None => self.since_commit.lock().clone(),
        };
        v.retain(|u| u.lsn > covered);
        v.sort_by_key(|u| u.lsn);
        v
    }
}

impl Drop for BucketWriter {
    fn drop(&mut self) {
        if let Some((tx, h)) = self.syncer.take() {
            drop(tx);
            let _ = h.join();
        }
    }
}

/// `rec` with its first sequence number set to `lsn`.
fn renumber(rec: &Record, lsn: u64) -> Record {
    match rec.clone() {
        Record::Add { doc, .. } => Record::Add { lsn, doc },
        Record::Delete { key, .. } => Record::Delete { lsn, key },
        Record::Update { key, doc, .. } => Record::Update { lsn, key, doc },
        Record::Rollback { from_lsn, .. } => Record::Rollback { lsn, from_lsn },
    }
}

/// The shipped records `base` does not hold: those of its log epoch after
/// its position, and every record of a later epoch below `ours`, sorted by
/// (epoch, lsn). Returns them with the number of batches read.
fn read_shipped(
    bucket: &Bucket,
    base: &crate::manifest::Manifest,
    ours: u64,
) -> Result<(Vec<Record>, usize)> {
    let le = base.log_epoch;
    let p = base.commit.wal_position;
    let mut out: Vec<(u64, Record)> = Vec::new();
    let mut batches = 0;
    for l in bucket.list(WAL)? {
        let Some((epoch, _)) = parse_wal_key(&l.key) else {
            continue;
        };
        if epoch < le || epoch >= ours {
            continue;
        }
        let b = shiplog::decode(&l.key, &bucket.get(&l.key)?)?;
        if b.epoch != epoch || !base.commit.index_id.accepts(b.index_id) {
            return Err(ObjectError::corrupt(
                &l.key,
                8,
                epoch,
                b.epoch,
                "log batch names another epoch or index than its key",
            ));
        }
        if epoch == le && b.last_lsn <= p {
            continue;
        }
        batches += 1;
        for r in b.records {
            if epoch > le || r.lsn() > p {
                out.push((epoch, r));
            }
        }
    }
    out.sort_by_key(|(e, r)| (*e, r.lsn()));
    Ok((out.into_iter().map(|x| x.1).collect(), batches))
}
