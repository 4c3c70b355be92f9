//! Two threads, one stream of batches: a producer fills batches on a
//! scoped thread of its own while the calling thread consumes them. A
//! flush decodes its buffer's terms this way while it encodes them, and a
//! merge reads its inputs' postings while it writes the merged ones.
//!
//! Batches go round between the two sides, so at most [`BATCHES`] are
//! ever held. Either side stopping (the producer's end or error, an error
//! of the consumer) releases the other, and the producer's thread is
//! joined before [`run`] returns. When no thread can be started, the
//! producer fills each batch in turn on the calling thread: the same
//! batches, in the same order.

use crate::error::{Error, Result};
use crossbeam_channel::bounded;

/// Batches a pipeline holds at most.
pub(crate) const BATCHES: usize = 3;

/// What fills the batches of a [`run`].
pub(crate) trait Producer: Send {
    /// The batches it fills.
    type Batch: Send;

    /// Empties `batch` and fills it with what comes next; `Ok(false)` when
    /// nothing is left after this batch.
    fn fill(&mut self, batch: &mut Self::Batch) -> Result<bool>;
}

/// Runs `producer` to its end, handing every batch it fills to `consume`
/// in order, and returns the producer (with whatever it gathered on the
/// way). With `threaded`, the producer runs on a thread of its own while
/// `consume` runs here; otherwise, or when no thread can be started, both
/// take turns here. The first error of either side is returned.
pub(crate) fn run<P: Producer>(
    producer: P,
    threaded: bool,
    new_batch: impl Fn() -> P::Batch,
    mut consume: impl FnMut(&P::Batch) -> Result<()>,
) -> Result<P> {
    let mut slot = Some(producer);
    if threaded {
        let helped = std::thread::scope(|s| -> Result<Option<P>> {
            // The producer goes to the helper once it has started, so that
            // it is still here when it could not be.
            let (producer_tx, producer_rx) = bounded::<P>(1);
            let (full_tx, full_rx) = bounded::<Result<P::Batch>>(BATCHES);
            let (empty_tx, empty_rx) = bounded::<P::Batch>(BATCHES);
            let helper = std::thread::Builder::new().spawn_scoped(s, move || -> Option<P> {
                let mut p = producer_rx.recv().ok()?;
                while let Ok(mut batch) = empty_rx.recv() {
                    match p.fill(&mut batch) {
                        Ok(more) => {
                            if full_tx.send(Ok(batch)).is_err() || !more {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            break;
                        }
                    }
                }
                Some(p)
            });
            let Ok(helper) = helper else {
                return Ok(None);
            };
            for _ in 0..BATCHES {
                let _ = empty_tx.send(new_batch());
            }
            if let Some(p) = slot.take() {
                let _ = producer_tx.send(p);
            }
            // Both channel ends are dropped at the end of this block, so a
            // helper waiting for an empty batch or to hand over a full one
            // is released before it is joined.
            let consumed = {
                let empty_tx = empty_tx;
                let mut consumed = Ok(());
                for batch in full_rx {
                    match batch.and_then(|b| consume(&b).map(|()| b)) {
                        Ok(b) => {
                            let _ = empty_tx.send(b);
                        }
                        Err(e) => {
                            consumed = Err(e);
                            break;
                        }
                    }
                }
                consumed
            };
            let p = helper
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            consumed?;
            p.map(Some).ok_or_else(|| {
                Error::Internal("batch pipeline: the producer never reached its thread".into())
            })
        })?;
        if let Some(p) = helped {
            return Ok(p);
        }
    }
    let mut producer = slot
        .take()
        .ok_or_else(|| Error::Internal("batch pipeline: the producer was lost".into()))?;
    let mut batch = new_batch();
    loop {
        let more = producer.fill(&mut batch)?;
        consume(&batch)?;
        if !more {
            return Ok(producer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts up to `end` in batches of `per` numbers; fails at `fail_at`.
    struct Counter {
        next: u32,
        end: u32,
        per: u32,
        fail_at: Option<u32>,
        filled: u32,
    }

    impl Producer for Counter {
        type Batch = Vec<u32>;
        fn fill(&mut self, batch: &mut Vec<u32>) -> Result<bool> {
            batch.clear();
            if self.fail_at.is_some_and(|f| f < self.next + self.per) {
                return Err(Error::Internal("producer failed".into()));
            }
            let stop = (self.next + self.per).min(self.end);
            batch.extend(self.next..stop);
            self.next = stop;
            self.filled += 1;
            Ok(self.next < self.end)
        }
    }

    fn counter(end: u32, fail_at: Option<u32>) -> Counter {
        Counter {
            next: 0,
            end,
            per: 7,
            fail_at,
            filled: 0,
        }
    }

    #[test]
    fn every_batch_arrives_in_order_threaded_or_not() {
        for threaded in [false, true] {
            let mut seen = Vec::new();
            let p = run(counter(100, None), threaded, Vec::new, |b| {
                seen.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, (0..100).collect::<Vec<_>>(), "threaded {threaded}");
            assert_eq!(p.filled, 15, "threaded {threaded}");
        }
    }

    #[test]
    fn an_error_of_either_side_is_returned_and_nothing_hangs() {
        for threaded in [false, true] {
            let e = run(counter(1000, Some(50)), threaded, Vec::new, |_| Ok(()));
            assert!(matches!(e, Err(Error::Internal(m)) if m == "producer failed"));
            // The consumer fails on its second batch while the producer
            // has more to give (it waits for an empty batch, or to hand
            // over a full one).
            let mut calls = 0;
            let e = run(counter(100_000, None), threaded, Vec::new, |_| {
                calls += 1;
                if calls == 2 {
                    return Err(Error::Internal("consumer failed".into()));
                }
                Ok(())
            });
            assert!(matches!(e, Err(Error::Internal(m)) if m == "consumer failed"));
            assert_eq!(calls, 2);
        }
    }
}
