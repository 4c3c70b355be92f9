//! Merge scheduler tests. No timing assertions: progress is controlled with
//! channels ("gates") and checked in counts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};
use lucerna_merge::{
    AutoThrottle, MergeError, MergeScheduler, MergeTask, RateLimiter, SchedulerConfig,
    ShutdownMode, MIB,
};

fn config(threads: usize) -> SchedulerConfig {
    SchedulerConfig {
        threads,
        max_pending_per_index: 1000,
        rate_limiter: Arc::new(RateLimiter::unlimited()),
        ..SchedulerConfig::default()
    }
}

fn scheduler(threads: usize) -> MergeScheduler {
    MergeScheduler::new(config(threads)).unwrap_or_else(|e| panic!("{e}"))
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A task that announces its start with `tag`, then waits for one permit.
fn gated(bytes: u64, tag: &str, started: &Sender<String>, permits: &Receiver<()>) -> MergeTask {
    let tag = tag.to_string();
    let started = started.clone();
    let permits = permits.clone();
    MergeTask::new(bytes, move |_| {
        let _ = started.send(tag);
        let _ = permits.recv();
        Ok(())
    })
}

fn recv<T>(rx: &Receiver<T>) -> T {
    // Generous timeout: a hang fails the test instead of blocking forever.
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("nothing received: {e}"))
}

#[test]
fn config_is_validated() {
    for c in [
        SchedulerConfig {
            threads: 0,
            ..config(1)
        },
        SchedulerConfig {
            threads: 100_000,
            ..config(1)
        },
        SchedulerConfig {
            max_pending_per_index: 0,
            ..config(1)
        },
        SchedulerConfig {
            quantum_bytes: 0,
            ..config(1)
        },
    ] {
        assert!(matches!(
            MergeScheduler::new(c),
            Err(MergeError::InvalidConfig { .. })
        ));
    }
    let s = scheduler(1);
    assert!(s.register_index_with_capacity(0).is_err());
    let d = lucerna_merge::default_threads();
    assert!((1..=4).contains(&d));
}

#[test]
fn never_more_running_merges_than_threads() {
    let threads = 3;
    let s = scheduler(threads);
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let indexes: Vec<_> = (0..4).map(|_| ok(s.register_index())).collect();
    for round in 0..40u64 {
        for (k, ix) in indexes.iter().enumerate() {
            let (running, max_seen, done) = (running.clone(), max_seen.clone(), done.clone());
            let task = MergeTask::new(1 + round * 1000 + k as u64, move |_| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(now, Ordering::SeqCst);
                // Some work, so merges overlap.
                std::thread::sleep(Duration::from_micros(200));
                let mut x = 0u64;
                for i in 0..2000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::hint::black_box(x);
                running.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
            ok(s.submit(*ix, task).map_err(|e| e.error));
        }
    }
    for ix in &indexes {
        let m = ok(s.wait_until_idle(*ix));
        assert_eq!(m.completed_merges, 40);
        assert_eq!((m.pending_merges, m.running_merges), (0, 0));
    }
    assert_eq!(done.load(Ordering::SeqCst), 160);
    let max = max_seen.load(Ordering::SeqCst);
    assert!(
        max <= threads,
        "{max} merges ran at once with {threads} threads"
    );
    assert!(s.stats().peak_running <= threads);
    s.shutdown(ShutdownMode::Finish);
}

/// Index A floods 100 merges; index B submits one while A's first runs.
/// Deficit round robin starts at most one more merge of A before B's.
#[test]
fn flooded_index_cannot_starve_another() {
    let s = scheduler(1);
    let a = ok(s.register_index());
    let b = ok(s.register_index());
    let (started_tx, started) = unbounded::<String>();
    let (permit, permits) = unbounded::<()>();
    for i in 0..100 {
        ok(
            s.submit(a, gated(MIB, &format!("a{i}"), &started_tx, &permits))
                .map_err(|e| e.error),
        );
    }
    assert_eq!(recv(&started), "a0");
    ok(s.submit(b, gated(MIB, "b", &started_tx, &permits))
        .map_err(|e| e.error));
    let mut a_before_b = 0;
    loop {
        ok(permit.send(()));
        let tag = recv(&started);
        if tag == "b" {
            break;
        }
        a_before_b += 1;
        assert!(a_before_b <= 100);
    }
    println!("merges of the flooding index started before the other's: {a_before_b}");
    assert!(
        a_before_b <= 1,
        "{a_before_b} merges of A started before B's"
    );
    // B's merge started after at most 2 completions (A's running one and
    // at most one more).
    assert!(ok(s.metrics(a).ok_or("no metrics")).completed_merges <= 2);
    drop(permit);
    s.shutdown(ShutdownMode::Abort);
}

/// Three indexes with backlogs: starts interleave, no index gets two turns
/// in a row while the others wait.
#[test]
fn round_robin_across_indexes() {
    let s = scheduler(1);
    let ix: Vec<_> = (0..3).map(|_| ok(s.register_index())).collect();
    let (started_tx, started) = unbounded::<String>();
    let (permit, permits) = unbounded::<()>();
    // A blocker so every queue fills before anything else starts.
    let blocker = ok(s.register_index());
    ok(s.submit(blocker, gated(1, "x", &started_tx, &permits))
        .map_err(|e| e.error));
    assert_eq!(recv(&started), "x");
    for (k, h) in ix.iter().enumerate() {
        for i in 0..5 {
            ok(
                s.submit(*h, gated(MIB, &format!("{k}-{i}"), &started_tx, &permits))
                    .map_err(|e| e.error),
            );
        }
    }
    let mut order = Vec::new();
    for _ in 0..15 {
        ok(permit.send(()));
        order.push(recv(&started));
    }
    let owners: Vec<char> = order.iter().filter_map(|t| t.chars().next()).collect();
    for w in owners.windows(2) {
        assert_ne!(w[0], w[1], "same index twice in a row: {order:?}");
    }
    ok(permit.send(()));
    for h in &ix {
        assert_eq!(ok(s.wait_until_idle(*h)).completed_merges, 5);
    }
    s.shutdown(ShutdownMode::Finish);
}

#[test]
fn smallest_merges_first_within_an_index() {
    let s = scheduler(1);
    let h = ok(s.register_index());
    let (started_tx, started) = unbounded::<String>();
    let (permit, permits) = unbounded::<()>();
    ok(s.submit(h, gated(1, "first", &started_tx, &permits))
        .map_err(|e| e.error));
    assert_eq!(recv(&started), "first");
    for size in [50u64, 10, 30, 20, 10] {
        ok(s.submit(
            h,
            gated(size * MIB, &size.to_string(), &started_tx, &permits),
        )
        .map_err(|e| e.error));
    }
    let mut order = Vec::new();
    for _ in 0..5 {
        ok(permit.send(()));
        order.push(recv(&started));
    }
    assert_eq!(order, ["10", "10", "20", "30", "50"]);
    ok(permit.send(()));
    assert_eq!(ok(s.wait_until_idle(h)).completed_merges, 6);
}

#[test]
fn full_queue_rejects_and_returns_the_task() {
    let s = scheduler(1);
    let h = ok(s.register_index_with_capacity(2));
    let (started_tx, started) = unbounded::<String>();
    let (permit, permits) = unbounded::<()>();
    ok(s.submit(h, gated(1, "run", &started_tx, &permits))
        .map_err(|e| e.error));
    assert_eq!(recv(&started), "run");
    ok(s.submit(h, gated(5, "q1", &started_tx, &permits))
        .map_err(|e| e.error));
    ok(s.submit(h, gated(7, "q2", &started_tx, &permits))
        .map_err(|e| e.error));
    let err = match s.submit(h, gated(9, "q3", &started_tx, &permits)) {
        Ok(_) => panic!("queue should be full"),
        Err(e) => e,
    };
    assert_eq!(
        err.error,
        MergeError::QueueFull {
            index: h.id(),
            pending: 2,
            pending_bytes: 12,
            capacity: 2
        }
    );
    assert_eq!(err.task.bytes, 9);
    assert!(err.to_string().contains("full"));
    let m = ok(s.metrics(h).ok_or("no metrics"));
    assert_eq!(
        (
            m.pending_merges,
            m.pending_bytes,
            m.running_merges,
            m.rejected_submissions
        ),
        (2, 12, 1, 1)
    );
    assert_eq!(m.backlog_bytes(), 13);
    // Once there is room, the returned task can be resubmitted.
    ok(permit.send(()));
    assert_eq!(recv(&started), "q1");
    ok(s.submit(h, err.task).map_err(|e| e.error));
    for _ in 0..3 {
        ok(permit.send(()));
    }
    assert_eq!(ok(s.wait_until_idle(h)).completed_merges, 4);
}

#[test]
fn failing_merge_reports_error_and_later_merges_continue() {
    let s = scheduler(1);
    let h = ok(s.register_index());
    let done = Arc::new(AtomicUsize::new(0));
    ok(
        s.submit(h, MergeTask::new(10, |_| Err("disk on fire".to_string())))
            .map_err(|e| e.error),
    );
    ok(s.submit(h, MergeTask::new(20, |_| panic!("codec bug")))
        .map_err(|e| e.error));
    let d = done.clone();
    ok(s.submit(
        h,
        MergeTask::new(30, move |_| {
            d.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }),
    )
    .map_err(|e| e.error));
    let m = ok(s.wait_until_idle(h));
    assert_eq!(m.failed_merges, 2);
    assert_eq!(m.completed_merges, 1);
    assert_eq!(m.bytes_merged, 30);
    assert_eq!(done.load(Ordering::SeqCst), 1);
    // Smallest first: the error (10 bytes) ran, then the panic (20 bytes).
    let last = m.last_error.unwrap_or_default();
    assert!(last.contains("codec bug"), "{last}");
    // Still works afterwards.
    ok(s.submit(h, MergeTask::new(1, |_| Err("again".into())))
        .map_err(|e| e.error));
    let m = ok(s.wait_until_idle(h));
    assert_eq!(m.last_error.as_deref(), Some("again"));
    assert_eq!(m.failed_merges, 3);
}

#[test]
fn shutdown_finish_runs_every_queued_merge() {
    let s = scheduler(2);
    let h = ok(s.register_index());
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..30u64 {
        let d = done.clone();
        ok(s.submit(
            h,
            MergeTask::new(i, move |ctx| {
                assert!(!ctx.is_aborted());
                d.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
        )
        .map_err(|e| e.error));
    }
    s.shutdown(ShutdownMode::Finish);
    assert_eq!(done.load(Ordering::SeqCst), 30);
    let m = ok(s.metrics(h).ok_or("no metrics"));
    assert_eq!(m.completed_merges, 30);
    assert!(s.stats().shut_down);
    // Refused afterwards, task handed back.
    let e = match s.submit(h, MergeTask::new(1, |_| Ok(()))) {
        Ok(_) => panic!("accepted after shutdown"),
        Err(e) => e,
    };
    assert_eq!(e.error, MergeError::ShutDown);
    assert!(matches!(s.register_index(), Err(MergeError::ShutDown)));
    // Idempotent.
    s.shutdown(ShutdownMode::Finish);
}

#[test]
fn shutdown_abort_drops_queue_and_aborts_running() {
    let s = scheduler(1);
    let h = ok(s.register_index());
    let (started_tx, started) = unbounded::<String>();
    ok(s.submit(
        h,
        MergeTask::new(100, move |ctx| {
            let _ = started_tx.send("long".into());
            // A long merge, checking the abort flag between chunks.
            for _ in 0..1_000_000 {
                ctx.check_abort().map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        }),
    )
    .map_err(|e| e.error));
    assert_eq!(recv(&started), "long");
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let r = ran.clone();
        ok(s.submit(
            h,
            MergeTask::new(1, move |_| {
                r.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
        )
        .map_err(|e| e.error));
    }
    s.shutdown(ShutdownMode::Abort);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let m = ok(s.metrics(h).ok_or("no metrics"));
    assert_eq!(m.aborted_merges, 11);
    assert_eq!((m.completed_merges, m.failed_merges), (0, 0));
    assert_eq!((m.pending_merges, m.running_merges), (0, 0));
}

#[test]
fn unregistering_an_index_drops_its_merges_only() {
    let s = scheduler(1);
    let a = ok(s.register_index());
    let b = ok(s.register_index());
    let (started_tx, started) = unbounded::<String>();
    let (permit, permits) = unbounded::<()>();
    ok(s.submit(b, gated(1, "b0", &started_tx, &permits))
        .map_err(|e| e.error));
    assert_eq!(recv(&started), "b0");
    for i in 0..5 {
        ok(
            s.submit(a, gated(1, &format!("a{i}"), &started_tx, &permits))
                .map_err(|e| e.error),
        );
    }
    ok(s.submit(b, gated(1, "b1", &started_tx, &permits))
        .map_err(|e| e.error));
    let m = ok(s.unregister_index(a));
    assert_eq!(m.aborted_merges, 5);
    assert!(s.metrics(a).is_none());
    assert!(matches!(
        s.unregister_index(a),
        Err(MergeError::UnknownIndex(_))
    ));
    let e = match s.submit(a, MergeTask::new(1, |_| Ok(()))) {
        Ok(_) => panic!("accepted for an unregistered index"),
        Err(e) => e,
    };
    assert_eq!(e.error, MergeError::UnknownIndex(a.id()));
    ok(permit.send(()));
    assert_eq!(recv(&started), "b1");
    ok(permit.send(()));
    assert_eq!(ok(s.wait_until_idle(b)).completed_merges, 2);
    assert_eq!(s.stats().indexes, 1);
}

#[test]
fn auto_throttle_rises_when_merges_back_up() {
    let limiter = Arc::new(ok(RateLimiter::auto(AutoThrottle::default())));
    let s = ok(MergeScheduler::new(SchedulerConfig {
        threads: 1,
        rate_limiter: limiter.clone(),
        ..SchedulerConfig::default()
    }));
    let h = ok(s.register_index());
    let (started_tx, started) = unbounded::<String>();
    let (permit, permits) = unbounded::<()>();
    // Nothing running, nothing queued: no backlog, the rate goes down.
    ok(s.submit(h, gated(1, "0", &started_tx, &permits))
        .map_err(|e| e.error));
    assert!((limiter.mib_per_s() - 18.0).abs() < 1e-9);
    assert_eq!(recv(&started), "0");
    // The thread is busy: each new merge must wait, the rate goes up.
    for i in 1..=5 {
        ok(s.submit(h, gated(1, &i.to_string(), &started_tx, &permits))
            .map_err(|e| e.error));
    }
    let expected = 18.0 * 1.2f64.powi(5);
    assert!(
        (limiter.mib_per_s() - expected).abs() < 1e-6,
        "{}",
        limiter.mib_per_s()
    );
    for _ in 0..6 {
        ok(permit.send(()));
    }
    assert_eq!(ok(s.wait_until_idle(h)).completed_merges, 6);
    assert_eq!(s.stats().threads, 1);
}

#[test]
fn merge_context_throttles_big_merges_only() {
    let s = ok(MergeScheduler::new(SchedulerConfig {
        threads: 1,
        rate_limiter: Arc::new(ok(RateLimiter::fixed(1e9))),
        min_throttled_merge_bytes: 100,
        ..SchedulerConfig::default()
    }));
    let h = ok(s.register_index());
    let (tx, rx) = unbounded::<(u64, bool)>();
    for bytes in [10u64, 1000] {
        let tx = tx.clone();
        ok(s.submit(
            h,
            MergeTask::new(bytes, move |ctx| {
                ctx.throttle(10).map_err(|e| e.to_string())?;
                let _ = tx.send((ctx.bytes(), ctx.is_throttled()));
                assert_eq!(ctx.rate_limiter().mib_per_s(), 1e9);
                Ok(())
            }),
        )
        .map_err(|e| e.error));
    }
    let mut seen = vec![recv(&rx), recv(&rx)];
    seen.sort();
    assert_eq!(seen, [(10, false), (1000, true)]);
    assert_eq!(ok(s.wait_until_idle(h)).completed_merges, 2);
    // Only the throttled merge's bytes went through the limiter.
    assert_eq!(s.rate_limiter().stats().bytes, 10);
}
