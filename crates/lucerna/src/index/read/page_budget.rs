//! [`PageBudget`]: a cap on the process's resident memory-mapped pages.
//!
//! Segment files are memory-mapped, and every page a search reads stays in
//! the process's resident set (RSS) for as long as the segment is open: the
//! kernel maps pages around each one read (64 KiB by default), so a few
//! term lookups per segment keep a large share of a small segment's files
//! resident. That memory is page cache the kernel can reclaim at any time,
//! but it counts in RSS, and some deployments limit or alert on RSS.
//!
//! Merges, verification and segment opens already give their pages back as
//! they go (see `FileSlice::release_pages`). A `PageBudget` bounds what
//! searches leave behind: after each query and each stored-document fetch
//! (`Searcher::doc`; not after single column reads), a searcher that has
//! one reads the process's resident file-backed and shared memory (the
//! `shared` field of `/proc/self/statm`, about a microsecond to read) and,
//! when it is over the budget, releases the pages of every file of its
//! segments. The next query faults back in what it reads, from the page
//! cache (no disk read while the kernel keeps the pages cached): a search
//! under a tight budget pays those page faults.
//!
//! The figure is process-wide and counts every file-backed page, the
//! program's own code included: set the budget above the process's
//! file-backed baseline. Each searcher releases only its own segments; with
//! several indexes, each one's searches keep it within the budget. On
//! systems other than Linux the resident figure is unknown and the budget
//! does nothing.

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

/// A cap on the process's resident file-backed memory, enforced after each
/// query by the searchers that share it (see the [module docs](self)).
///
/// ```
/// use lucerna::index::PageBudget;
/// use lucerna::{schema::Schema, store::RamDirectory, Index};
/// # fn main() -> lucerna::Result<()> {
/// let budget = PageBudget::new(64 << 20);
/// let index = Index::create(RamDirectory::new(), Schema::logs())?
///     .with_page_budget(budget.clone());
/// let searcher = index.reader()?.searcher();
/// assert!(searcher.page_budget().is_some());
/// assert_eq!(budget.limit_bytes(), 64 << 20);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PageBudget {
    limit: u64,
    /// `/proc/self/statm`, kept open and re-read from offset 0 (with
    /// `pread`, so concurrent searchers need no lock).
    statm: Option<File>,
    page_size: u64,
    checks: AtomicU64,
    releases: AtomicU64,
}

impl PageBudget {
    /// A budget of `limit_bytes` of resident file-backed memory, to share
    /// between indexes with [`Index::with_page_budget`](crate::Index::with_page_budget).
    pub fn new(limit_bytes: u64) -> std::sync::Arc<PageBudget> {
        std::sync::Arc::new(PageBudget {
            limit: limit_bytes,
            statm: File::open("/proc/self/statm").ok(),
            page_size: page_size(),
            checks: AtomicU64::new(0),
            releases: AtomicU64::new(0),
        })
    }

    /// The budget, in bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.limit
    }

    /// The process's resident file-backed (and shared) memory now, or
    /// `None` where the system does not report it.
    pub fn resident_file_bytes(&self) -> Option<u64> {
        let mut buf = [0u8; 256];
        let text = read_from_start(self.statm.as_ref()?, &mut buf)?;
        let pages = parse_statm_shared(text)?;
        Some(pages * self.page_size)
    }

    /// Queries that checked the budget.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// Checks that found the process over budget and released pages.
    pub fn releases(&self) -> u64 {
        self.releases.load(Ordering::Relaxed)
    }

    /// After a query: when the process is over budget, runs `release`
    /// (which gives back the searcher's pages) and returns true.
    pub(crate) fn enforce(&self, release: impl FnOnce()) -> bool {
        self.checks.fetch_add(1, Ordering::Relaxed);
        match self.resident_file_bytes() {
            Some(resident) if resident > self.limit => {
                release();
                self.releases.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }
}

/// Reads `file` from offset 0 into `buf` (one positioned read, no shared
/// cursor); `None` where positioned reads are not available.
#[cfg(unix)]
fn read_from_start<'a>(file: &File, buf: &'a mut [u8]) -> Option<&'a str> {
    use std::os::unix::fs::FileExt;
    let n = file.read_at(buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()
}

#[cfg(not(unix))]
fn read_from_start<'a>(_: &File, _: &'a mut [u8]) -> Option<&'a str> {
    None
}

/// The third field of `/proc/<pid>/statm`: resident file-backed and
/// shared pages.
fn parse_statm_shared(statm: &str) -> Option<u64> {
    statm.split_whitespace().nth(2)?.parse().ok()
}

/// The kernel's page size, from the first mapping's `KernelPageSize` in
/// `/proc/self/smaps` (4 KiB when it cannot be read).
fn page_size() -> u64 {
    let mut head = [0u8; 4096];
    let n = File::open("/proc/self/smaps")
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    std::str::from_utf8(&head[..n])
        .ok()
        .and_then(parse_kernel_page_size)
        .unwrap_or(4096)
}

/// The first `KernelPageSize:` line of an smaps text, in bytes.
fn parse_kernel_page_size(smaps: &str) -> Option<u64> {
    let kib: u64 = smaps
        .lines()
        .find_map(|l| l.strip_prefix("KernelPageSize:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(parse_statm_shared("744 491 460 68 0 93 0\n"), Some(460));
        assert_eq!(parse_statm_shared("744 491\n"), None);
        assert_eq!(parse_statm_shared("1 2 x\n"), None);
        let smaps = "55d0-55d1 r--p 0 08:01 1 /bin/x\nSize:  4 kB\nKernelPageSize:  16 kB\n";
        assert_eq!(parse_kernel_page_size(smaps), Some(16 << 10));
        assert_eq!(parse_kernel_page_size("Size: 4 kB\n"), None);
    }

    #[test]
    fn enforces_only_over_budget() {
        let zero = PageBudget::new(0);
        let huge = PageBudget::new(u64::MAX);
        let known = zero.resident_file_bytes().is_some();
        let mut ran = false;
        assert_eq!(zero.enforce(|| ran = true), known);
        assert_eq!(ran, known);
        assert_eq!((zero.checks(), zero.releases()), (1, u64::from(known)));
        assert!(!huge.enforce(|| panic!("under budget: nothing to release")));
        assert_eq!((huge.checks(), huge.releases()), (1, 0));
    }
}
