//! [`LogShipper`]: ships write-ahead-log records to the bucket in
//! create-only batches, with group commit.
//!
//! Appending queues a record and hands back a ticket. Making it durable
//! ([`LogShipper::wait_shipped`]) elects one waiting thread as the leader:
//! it takes every record queued so far, creates one batch object
//! `wal/<epoch>-<first lsn>` (see [`crate::shiplog`]) and wakes every
//! thread whose ticket that covered; threads arriving meanwhile ride the
//! next batch. Under load one object acknowledges many operations.
//!
//! After each batch is created the leader lists the manifests: if a
//! writer with a higher epoch has taken over, the batch's records are not
//! acknowledged and the shipper is fenced for good. A writer taking over
//! publishes its fencing manifest *before* it reads the log, so every
//! batch acknowledged here is one it reads. Any failure is final for the
//! shipper (as a failed local log is for a writer): the caller's writer
//! must be taken over again.

use crate::bucket::Bucket;
use crate::catalog::Catalog;
use crate::error::{ObjectError, Result};
use crate::keys::wal_key;
use crate::shiplog;
use lucerna::index::IndexId;
use lucerna::Record;
use parking_lot::{Condvar, Mutex};

/// Counters of a shipper.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShipStats {
    /// Batch objects created.
    pub batches: u64,
    /// Records shipped.
    pub records: u64,
    /// Bytes shipped.
    pub bytes: u64,
}

#[derive(Default)]
struct ShipState {
    pending: Vec<Record>,
    inflight: Vec<Record>,
    appended: u64,
    shipped: u64,
    shipping: bool,
    failed: Option<String>,
    stats: ShipStats,
}

/// Ships one writer epoch's log records (see the module docs).
pub struct LogShipper {
    bucket: Bucket,
    catalog: Catalog,
    index_id: IndexId,
    epoch: u64,
    state: Mutex<ShipState>,
    round: Condvar,
}

impl std::fmt::Debug for LogShipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogShipper(epoch {})", self.epoch)
    }
}

impl LogShipper {
    /// A shipper of writer `epoch` of index `index_id` into `bucket`.
    pub fn new(bucket: Bucket, index_id: IndexId, epoch: u64) -> LogShipper {
        LogShipper {
            catalog: Catalog::new(bucket.clone()),
            bucket,
            index_id,
            epoch,
            state: Mutex::new(ShipState::default()),
            round: Condvar::new(),
        }
    }

    /// Queues `rec`; returns its ticket. Never does IO.
    pub fn append(&self, rec: Record) -> Result<u64> {
        let mut st = self.state.lock();
        if let Some(m) = &st.failed {
            return Err(failed(m));
        }
        st.pending.push(rec);
        st.appended += 1;
        Ok(st.appended)
    }

    /// Blocks until the record of `ticket` (and every earlier one) is in
    /// the bucket, leading or joining a batch.
    pub fn wait_shipped(&self, ticket: u64) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.shipped >= ticket {
                return Ok(());
            }
            if let Some(m) = &st.failed {
                return Err(failed(m));
            }
            if st.shipping {
                self.round.wait(&mut st);
                continue;
            }
            st.shipping = true;
            let target = st.appended;
            let batch = std::mem::take(&mut st.pending);
            st.inflight = batch.clone();
            drop(st);
            let result = if batch.is_empty() {
                Ok(0)
            } else {
                self.ship_batch(&batch)
            };
            st = self.state.lock();
            st.shipping = false;
            st.inflight.clear();
            match result {
                Ok(bytes) => {
                    st.shipped = st.shipped.max(target);
                    if !batch.is_empty() {
                        st.stats.batches += 1;
                        st.stats.records += batch.len() as u64;
                        st.stats.bytes += bytes;
                    }
                }
                Err(e) => {
                    // Not acknowledged; the records stay reported as
                    // unshipped.
                    let mut back = batch;
                    back.append(&mut st.pending);
                    st.pending = back;
                    st.failed = Some(e.to_string());
                    self.round.notify_all();
                    return Err(e);
                }
            }
            self.round.notify_all();
        }
    }

    /// Ships everything queued so far.
    pub fn ship_all(&self) -> Result<()> {
        let t = self.state.lock().appended;
        self.wait_shipped(t)
    }

    /// Records queued or being shipped (not acknowledged as shipped).
    pub fn unshipped(&self) -> Vec<Record> {
        let st = self.state.lock();
        st.inflight
            .iter()
            .chain(st.pending.iter())
            .cloned()
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> ShipStats {
        self.state.lock().stats
    }

    /// Why the shipper stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.state.lock().failed.clone()
    }

    fn ship_batch(&self, batch: &[Record]) -> Result<u64> {
        let first = batch.iter().map(Record::lsn).min().unwrap_or(0);
        let bytes = shiplog::encode(self.index_id, self.epoch, batch);
        self.bucket.create(&wal_key(self.epoch, first), &bytes)?;
        let newest = self.catalog.chain()?.max_epoch();
        if newest > self.epoch {
            return Err(ObjectError::Fenced {
                our_epoch: self.epoch,
                newest_epoch: newest,
            });
        }
        Ok(bytes.len() as u64)
    }
}

fn failed(m: &str) -> ObjectError {
    ObjectError::Config(format!(
        "the log shipper stopped ({m}); take the index over again to go on writing"
    ))
}
