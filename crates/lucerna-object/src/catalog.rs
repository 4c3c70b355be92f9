//! [`Catalog`]: the manifests of one bucket prefix, read once each, and
//! the commit protocol that publishes a new one.
//!
//! Publishing generation `g` (see `docs/object-storage.md`):
//!
//! 1. list the manifests; if any has a higher writer epoch than ours we
//!    are **fenced**; if the newest valid one is not the one we built on
//!    (our *parent*), another writer published meanwhile: we **lost the
//!    race** (nothing of ours is published);
//! 2. create `manifests/<g>` if absent. The create *is* the commit. When it
//!    already exists, it is read back: our own bytes mean an earlier
//!    attempt of ours succeeded and its answer was lost (success, not a
//!    lost race); other bytes mean another writer won `g`;
//! 3. list again: if our manifest does not count (a writer with a higher
//!    epoch published a lower generation meanwhile), we were fenced while
//!    publishing and readers ignore our manifest.

use crate::bucket::{Bucket, Created};
use crate::chain::Chain;
use crate::error::{ObjectError, Result};
use crate::keys::{manifest_key, parse_manifest_key, MANIFESTS};
use crate::manifest::Manifest;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a publish went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Our create made the manifest.
    Created,
    /// The manifest already held our bytes: an earlier attempt whose
    /// answer was lost (or a rerun of the same commit).
    AlreadyOurs,
}

/// The manifests of a bucket prefix (each read and verified once: they
/// never change).
#[derive(Debug)]
pub struct Catalog {
    bucket: Bucket,
    read: Mutex<BTreeMap<u64, Arc<Manifest>>>,
}

impl Catalog {
    /// The catalog of `bucket`.
    pub fn new(bucket: Bucket) -> Catalog {
        Catalog {
            bucket,
            read: Mutex::new(BTreeMap::new()),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Lists the manifests and reads the ones not read before.
    pub fn chain(&self) -> Result<Chain> {
        let listed = self.bucket.list(MANIFESTS)?;
        let mut out = BTreeMap::new();
        let mut unreadable = Vec::new();
        for l in listed {
            let Some(g) = parse_manifest_key(&l.key) else {
                continue;
            };
            if let Some(m) = self.read.lock().get(&g) {
                out.insert(g, m.clone());
                continue;
            }
            match self.fetch(g) {
                Ok(m) => {
                    out.insert(g, m);
                }
                Err(ObjectError::NotFound { .. }) => {}
                Err(e @ ObjectError::Corrupt { .. }) => unreadable.push((g, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok(Chain::new(out, unreadable))
    }

    /// Manifest `g`, read and verified (once).
    pub fn manifest(&self, g: u64) -> Result<Arc<Manifest>> {
        if let Some(m) = self.read.lock().get(&g) {
            return Ok(m.clone());
        }
        self.fetch(g)
    }

    fn fetch(&self, g: u64) -> Result<Arc<Manifest>> {
        let key = manifest_key(g);
        let bytes = self.bucket.get(&key)?;
        let m = Arc::new(Manifest::decode(&key, g, &bytes)?);
        self.read.lock().insert(g, m.clone());
        Ok(m)
    }

    /// Publishes `m`, built on generation `parent` (`None`: on an empty
    /// prefix), by the protocol in the module docs.
    pub fn publish(&self, m: &Manifest, parent: Option<u64>) -> Result<Publish> {
        let ours = m.encode();
        let before = self.chain()?;
        let max_epoch = before.max_epoch();
        if let Some(existing) = before.manifests.get(&m.generation) {
            return if existing.encode() == ours {
                self.confirm(m, Publish::AlreadyOurs)
            } else {
                Err(ObjectError::LostRace {
                    generation: m.generation,
                    winner_epoch: existing.epoch,
                    our_epoch: m.epoch,
                })
            };
        }
        if max_epoch > m.epoch {
            return Err(ObjectError::Fenced {
                our_epoch: m.epoch,
                newest_epoch: max_epoch,
            });
        }
        let newest = before.newest();
        if newest.map(|n| n.generation) != parent {
            let n = newest.map_or((0, 0), |n| (n.generation, n.epoch));
            return Err(ObjectError::LostRace {
                generation: n.0,
                winner_epoch: n.1,
                our_epoch: m.epoch,
            });
        }
        if newest.is_some_and(|n| n.generation >= m.generation) {
            return Err(ObjectError::LostRace {
                generation: m.generation,
                winner_epoch: newest.map_or(0, |n| n.epoch),
                our_epoch: m.epoch,
            });
        }
        let key = manifest_key(m.generation);
        let outcome = match self.bucket.create(&key, &ours) {
            Ok(Created::New) => Publish::Created,
            Ok(Created::Identical) => Publish::AlreadyOurs,
            Err(ObjectError::Conflict { .. }) => {
                let theirs = self.fetch(m.generation)?;
                return Err(ObjectError::LostRace {
                    generation: m.generation,
                    winner_epoch: theirs.epoch,
                    our_epoch: m.epoch,
                });
            }
            Err(e) => return Err(e),
        };
        self.read.lock().insert(m.generation, Arc::new(m.clone()));
        self.confirm(m, outcome)
    }

    /// Step 3: our manifest must count.
    fn confirm(&self, m: &Manifest, outcome: Publish) -> Result<Publish> {
        let after = self.chain()?;
        if !after.is_valid(m.generation) {
            return Err(ObjectError::Fenced {
                our_epoch: m.epoch,
                newest_epoch: after.max_epoch(),
            });
        }
        Ok(outcome)
    }
}
