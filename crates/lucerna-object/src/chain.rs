//! [`Chain`]: which manifests in the bucket count.
//!
//! Generations are created if absent, so each has one manifest; epochs
//! order writers. A manifest counts (is *valid*) when its writer epoch is
//! at least the epoch of every manifest of a lower generation: a manifest
//! published by a writer after a newer writer had already taken over (a
//! fenced writer racing its own fencing) is ignored by every reader, and
//! its writer is told it was fenced. The newest valid manifest is the
//! index's state.

use crate::manifest::Manifest;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The manifests of a bucket prefix, as listed at one moment.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// Readable manifests by generation.
    pub manifests: BTreeMap<u64, Arc<Manifest>>,
    /// Manifests that could not be read or verified (generation, error).
    pub unreadable: Vec<(u64, String)>,
    valid: Vec<u64>,
}

impl Chain {
    /// The chain of `manifests` (and the unreadable ones).
    pub fn new(manifests: BTreeMap<u64, Arc<Manifest>>, unreadable: Vec<(u64, String)>) -> Chain {
        let mut valid = Vec::new();
        let mut floor = 0u64;
        let mut index = None;
        for (g, m) in &manifests {
            // One index per prefix: the first manifest names it.
            let id = *index.get_or_insert(m.index_id());
            if m.epoch >= floor && id.accepts(m.index_id()) {
                valid.push(*g);
                floor = m.epoch;
            }
        }
        Chain {
            manifests,
            unreadable,
            valid,
        }
    }

    /// Generations of the valid manifests, ascending.
    pub fn valid(&self) -> &[u64] {
        &self.valid
    }

    /// True when generation `g`'s manifest exists and counts.
    pub fn is_valid(&self, g: u64) -> bool {
        self.valid.binary_search(&g).is_ok()
    }

    /// The newest valid manifest.
    pub fn newest(&self) -> Option<&Arc<Manifest>> {
        self.valid.last().and_then(|g| self.manifests.get(g))
    }

    /// The newest valid generation.
    pub fn newest_generation(&self) -> Option<u64> {
        self.valid.last().copied()
    }

    /// The highest writer epoch of any manifest (0 when there is none).
    pub fn max_epoch(&self) -> u64 {
        self.manifests.values().map(|m| m.epoch).max().unwrap_or(0)
    }

    /// The highest generation of any manifest, readable or not.
    pub fn max_generation(&self) -> Option<u64> {
        let r = self.manifests.keys().next_back().copied();
        let u = self.unreadable.iter().map(|u| u.0).max();
        r.max(u)
    }
}
