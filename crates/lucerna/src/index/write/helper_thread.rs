//! Work a flush or a merge hands to a scoped thread of its own when one
//! can be started, and otherwise does itself when it needs the result:
//! starting a thread can fail (the system's limit), and a flush or merge
//! must then still finish, not panic.

use std::thread::{Scope, ScopedJoinHandle};

/// Work started on a scoped thread, or kept to be done by [`join`](Self::join).
pub(crate) enum Helper<'scope, T, F> {
    Running(ScopedJoinHandle<'scope, T>),
    Deferred(F),
}

impl<'scope, T: Send + 'scope, F: FnOnce() -> T + Send + Copy + 'scope> Helper<'scope, T, F> {
    /// Starts `f` on a thread of scope `s`; keeps it for
    /// [`join`](Self::join) when no thread can be started. `f` is `Copy`
    /// (it holds only references), so a failed start leaves it here.
    pub fn start<'env>(s: &'scope Scope<'scope, 'env>, f: F) -> Self {
        match std::thread::Builder::new().spawn_scoped(s, f) {
            Ok(h) => Helper::Running(h),
            Err(_) => Helper::Deferred(f),
        }
    }

    /// The work's result: waits for the thread, or does the work now. A
    /// panic on the thread (a bug) goes on here.
    pub fn join(self) -> T {
        match self {
            Helper::Running(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Helper::Deferred(f) => f(),
        }
    }
}

/// Runs `main` here and, with `threaded`, `beside` on a scoped thread
/// meanwhile; without `threaded`, or when no thread can be started,
/// `beside` runs here after `main`. Returns both results.
pub(crate) fn alongside<A, B, F>(threaded: bool, beside: F, main: impl FnOnce() -> A) -> (A, B)
where
    B: Send,
    F: FnOnce() -> B + Send + Copy,
{
    std::thread::scope(|s| {
        let helper = threaded.then(|| Helper::start(s, beside));
        let a = main();
        (a, helper.map_or_else(beside, Helper::join))
    })
}
