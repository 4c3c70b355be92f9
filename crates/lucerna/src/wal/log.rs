//! [`WalWriter`]: appends records to the current log file, with group
//! commit.
//!
//! Appending only encodes the record into a shared in-memory buffer and
//! hands back a *ticket*. Making it durable ([`WalWriter::wait_durable`])
//! elects one waiting thread as the leader: it takes everything appended so
//! far, writes it with one `write` and one fsync, and wakes every thread
//! whose ticket that covered. Threads that arrive while a leader is syncing
//! wait for the next round, which then carries all of them: under load,
//! one fsync acknowledges many operations.
//!
//! An IO error while writing or syncing the log is final for this writer
//! (the file's state is unknown): every waiter and every later operation
//! gets [`Error::WalFailed`] (its cause kept: [`Error::is_disk_full`] still tells a full disk); reopening the index writer replays
//! whatever did reach the disk.

use super::record::{encode_header, file_name, RecordRef};
use super::Durability;
use crate::error::{Error, Result};
use crate::index::identity::IndexId;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use lucerna_store::{Directory, FileWrite};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Counters of the log, for [`WriterMetrics`](crate::WriterMetrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records appended.
    pub records: u64,
    /// Bytes written to log files (headers included).
    pub bytes: u64,
    /// Fsyncs of log data (each may acknowledge many records).
    pub syncs: u64,
    /// Log files started by this writer.
    pub files: u64,
}

struct LogState {
    file: Option<Box<dyn FileWrite>>,
    name: String,
    /// Encoded records not yet written to the file.
    pending: Vec<u8>,
    /// Tickets handed out so far.
    appended: u64,
    /// Every ticket up to this one is durable (written and synced).
    durable: u64,
    /// A leader is writing and syncing.
    syncing: bool,
    /// The first IO error; the log is unusable from then on.
    failed: Option<Arc<Error>>,
    stats: WalStats,
}

struct Shared {
    dir: Arc<dyn Directory>,
    /// The index every file of this log names.
    index_id: IndexId,
    state: Mutex<LogState>,
    /// Signalled when a sync round ends.
    round: Condvar,
}

/// Appends records to the write-ahead log of one index writer.
pub struct WalWriter {
    shared: Arc<Shared>,
    durability: Durability,
    /// The `Interval` mode's background syncer: a stop channel and its thread.
    syncer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for WalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalWriter")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

fn failed_error(cause: &Arc<Error>) -> Error {
    Error::WalFailed {
        cause: cause.clone(),
    }
}

/// Creates log file `wal-<first_lsn>.log` of index `index_id`, started
/// when `base_generation` is the newest commit, writes its header and
/// makes file and name durable.
fn start_file(
    dir: &dyn Directory,
    first_lsn: u64,
    index_id: IndexId,
    base_generation: u64,
) -> Result<(Box<dyn FileWrite>, String)> {
    let name = file_name(first_lsn);
    if dir.exists(&name)? {
        // A file of a session that acknowledged nothing past its header
        // (its records would have moved the next first lsn on).
        dir.delete(&name)?;
    }
    let mut f = dir.create(&name)?;
    f.write_all(&encode_header(first_lsn, index_id, base_generation))?;
    f.sync()?;
    dir.sync_dir()?;
    Ok((f, name))
}

impl WalWriter {
    /// Starts a new log file of index `index_id` whose records begin at
    /// `first_lsn`, when `base_generation` is the newest commit.
    /// `durability` must not be [`Durability::None`].
    pub fn create(
        dir: Arc<dyn Directory>,
        first_lsn: u64,
        durability: Durability,
        index_id: IndexId,
        base_generation: u64,
    ) -> Result<WalWriter> {
        let (file, name) = start_file(dir.as_ref(), first_lsn, index_id, base_generation)?;
        let shared = Arc::new(Shared {
            dir,
            index_id,
            state: Mutex::new(LogState {
                file: Some(file),
                name,
                pending: Vec::new(),
                appended: 0,
                durable: 0,
                syncing: false,
                failed: None,
                stats: WalStats {
                    bytes: super::record::HEADER_LEN as u64,
                    files: 1,
                    ..WalStats::default()
                },
            }),
            round: Condvar::new(),
        });
        let syncer = match durability {
            Durability::Interval(period) => {
                let (tx, rx) = bounded::<()>(1);
                let s = shared.clone();
                let h = std::thread::Builder::new()
                    .name("lucerna-wal-sync".into())
                    .spawn(move || interval_syncer(s, rx, period))
                    .map_err(|e| Error::Closed(format!("cannot start the log syncer: {e}")))?;
                Some((tx, h))
            }
            _ => None,
        };
        Ok(WalWriter {
            shared,
            durability,
            syncer: Mutex::new(syncer),
        })
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Fails when an earlier IO error made the log unusable.
    pub fn check(&self) -> Result<()> {
        match &self.shared.state.lock().failed {
            Some(m) => Err(failed_error(m)),
            None => Ok(()),
        }
    }

    /// Appends `rec` to the in-memory tail and returns its ticket for
    /// [`wait_durable`](Self::wait_durable). Never does IO.
    pub fn append(&self, rec: RecordRef<'_>) -> Result<u64> {
        // Encoded outside the lock: concurrent writers only queue bytes.
        let mut bytes = Vec::new();
        rec.encode_into(&mut bytes);
        let mut st = self.shared.state.lock();
        if let Some(m) = &st.failed {
            return Err(failed_error(m));
        }
        st.pending.extend_from_slice(&bytes);
        st.appended += 1;
        st.stats.records += 1;
        Ok(st.appended)
    }

    /// Blocks until the record with `ticket` (and every earlier one) is
    /// written and fsync'd, joining or leading a group commit.
    pub fn wait_durable(&self, ticket: u64) -> Result<()> {
        self.shared.wait_durable(ticket)
    }

    /// Makes every record appended so far durable.
    pub fn sync_all(&self) -> Result<()> {
        let t = self.shared.state.lock().appended;
        self.shared.wait_durable(t)
    }

    /// Finishes the current file and starts `wal-<first_lsn>.log`, naming
    /// `base_generation` as the newest commit. The caller guarantees that
    /// no append runs concurrently and that every later record has an
    /// lsn ≥ `first_lsn`.
    pub fn roll(&self, first_lsn: u64, base_generation: u64) -> Result<()> {
        self.sync_all()?;
        let mut st = self.shared.state.lock();
        if let Some(m) = &st.failed {
            return Err(failed_error(m));
        }
        let dir = self.shared.dir.as_ref();
        let result = (|| {
            if let Some(f) = st.file.take() {
                f.finish()?;
            }
            start_file(dir, first_lsn, self.shared.index_id, base_generation)
        })();
        match result {
            Ok((f, name)) => {
                st.file = Some(f);
                st.name = name;
                st.stats.files += 1;
                st.stats.bytes += super::record::HEADER_LEN as u64;
                Ok(())
            }
            Err(e) => {
                let cause = Arc::new(e);
                st.failed = Some(cause.clone());
                self.shared.round.notify_all();
                Err(failed_error(&cause))
            }
        }
    }

    /// Name of the file being appended to.
    pub fn current_file(&self) -> String {
        self.shared.state.lock().name.clone()
    }

    /// The log's counters.
    pub fn stats(&self) -> WalStats {
        self.shared.state.lock().stats
    }

    /// Syncs what was appended, finishes the file and stops the syncer.
    pub fn close(&self) -> Result<()> {
        if let Some((tx, h)) = self.syncer.lock().take() {
            drop(tx);
            let _ = h.join();
        }
        let synced = self.sync_all();
        let mut st = self.shared.state.lock();
        if let Some(f) = st.file.take() {
            f.finish()?;
        }
        synced
    }
}

impl Drop for WalWriter {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Shared {
    fn wait_durable(&self, ticket: u64) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.durable >= ticket {
                return Ok(());
            }
            if let Some(m) = &st.failed {
                return Err(failed_error(m));
            }
            if st.syncing {
                self.round.wait(&mut st);
                continue;
            }
            // Lead a round: everything appended so far goes in one write
            // and one fsync, outside the lock.
            st.syncing = true;
            let target = st.appended;
            let batch = std::mem::take(&mut st.pending);
            let Some(mut file) = st.file.take() else {
                st.syncing = false;
                st.failed = Some(Arc::new(Error::Closed("the log file is closed".into())));
                self.round.notify_all();
                continue;
            };
            drop(st);
            let written = file.write_all(&batch).and_then(|()| file.sync());
            st = self.state.lock();
            st.file = Some(file);
            st.syncing = false;
            match written {
                Ok(()) => {
                    st.durable = st.durable.max(target);
                    st.stats.bytes += batch.len() as u64;
                    st.stats.syncs += 1;
                }
                Err(e) => st.failed = Some(Arc::new(Error::Store(e))),
            }
            self.round.notify_all();
        }
    }
}

/// The `Interval` mode: syncs what was appended every `period` until the
/// stop channel closes.
fn interval_syncer(shared: Arc<Shared>, stop: Receiver<()>, period: Duration) {
    loop {
        match stop.recv_timeout(period) {
            Err(RecvTimeoutError::Timeout) => {
                let t = shared.state.lock().appended;
                if shared.wait_durable(t).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}
