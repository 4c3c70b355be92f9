//! Reference counts of index files held by open readers, so that the
//! writer deletes a file only when no reader in this process uses it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Shared reference counts (one per index).
#[derive(Debug, Clone, Default)]
pub struct FileRefs {
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl FileRefs {
    /// Takes one reference on each of `files`, released when the guard drops.
    pub fn acquire(&self, files: Vec<String>) -> FileRefGuard {
        let mut c = self.counts.lock();
        for f in &files {
            *c.entry(f.clone()).or_insert(0) += 1;
        }
        FileRefGuard {
            refs: self.clone(),
            files,
        }
    }

    /// True when some reader holds `file`.
    pub fn is_referenced(&self, file: &str) -> bool {
        self.counts.lock().get(file).is_some_and(|&n| n > 0)
    }
}

/// Releases its references on drop.
#[derive(Debug)]
pub struct FileRefGuard {
    refs: FileRefs,
    files: Vec<String>,
}

impl Drop for FileRefGuard {
    fn drop(&mut self) {
        let mut c = self.refs.counts.lock();
        for f in &self.files {
            if let Some(n) = c.get_mut(f) {
                *n -= 1;
                if *n == 0 {
                    c.remove(f);
                }
            }
        }
    }
}
