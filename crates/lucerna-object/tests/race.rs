//! Acceptance 2: K writers race to publish the same next generation:
//! exactly one wins, the others are told (and never publish again), and
//! none loses an acknowledged document; the bucket holds exactly the
//! winner's commit.

mod common;

use lucerna::index::replica::replicate;
use lucerna::internals::SearcherInternals;
use lucerna::store::FsDirectory;
use lucerna::{Index, WriterConfig};
use lucerna_object::ObjectDirectory;
use std::sync::{Arc, Barrier};

const K: u64 = 4;

#[test]
fn exactly_one_of_k_racing_writers_wins_a_generation() {
    let name = common::fresh_bucket_name();
    let tmp = tempfile::tempdir().unwrap();
    // A base commit in the bucket.
    {
        let replica =
            ObjectDirectory::replica(common::client(&name, "i"), &tmp.path().join("c0")).unwrap();
        let index = Index::create(
            FsDirectory::open(tmp.path().join("base")).unwrap(),
            lucerna::schema::Schema::logs(),
        )
        .unwrap();
        let w = index
            .writer(WriterConfig::default().replica(Arc::new(replica)))
            .unwrap();
        for i in 0..100 {
            w.add_document(common::doc(index.schema(), i)).unwrap();
        }
        w.commit().unwrap();
        assert_eq!(w.replication()[0].last_error, None);
    }
    let base_dir =
        ObjectDirectory::read_only(common::client(&name, "i"), &tmp.path().join("rb")).unwrap();
    let base = Index::open(base_dir.clone())
        .unwrap()
        .latest_commit()
        .unwrap();

    // K writers, each on its own copy of the base, each with its own
    // client of the bucket.
    let barrier = Arc::new(Barrier::new(K as usize));
    let handles: Vec<_> = (0..K)
        .map(|k| {
            let (name, root, barrier, base, base_dir) = (
                name.clone(),
                tmp.path().to_path_buf(),
                barrier.clone(),
                base.clone(),
                base_dir.clone(),
            );
            std::thread::spawn(move || {
                let local = FsDirectory::open(root.join(format!("w{k}"))).unwrap();
                replicate(&base_dir, &local, &base).unwrap();
                let replica = ObjectDirectory::replica(
                    common::client(&name, "i"),
                    &root.join(format!("c{}", k + 1)),
                )
                .unwrap();
                let index = Index::open(local).unwrap();
                let w = index
                    .writer(WriterConfig::default().replica(Arc::new(replica.clone())))
                    .unwrap();
                let ours: Vec<u64> = (0..25).map(|j| 1000 * (k + 1) + j).collect();
                for &i in &ours {
                    // Acknowledged: logged and fsync'd locally.
                    w.add_document(common::doc(index.schema(), i)).unwrap();
                }
                barrier.wait();
                let g = w.commit().unwrap();
                let status = w.replication()[0].clone();
                let local_docs = index.reader().unwrap().searcher().num_docs();
                (k, g, status.last_error, replica.fenced(), local_docs, ours)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter(|r| r.2.is_none()).collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    let winner = winners[0];
    for r in &results {
        assert_eq!(
            r.1,
            base.generation + 1,
            "every writer committed the same generation locally"
        );
        // Nobody lost an acknowledged document: each holds base + its own.
        assert_eq!(r.4, 100 + 25);
        if r.0 != winner.0 {
            // The writer's replica status says the publish failed; the
            // bucket handle says why.
            assert!(r.2.as_deref().unwrap().contains("commit-"), "{:?}", r.2);
            let why = r.3.as_deref().unwrap_or("");
            assert!(
                why.contains("lost the race"),
                "loser {} was told: {why}",
                r.0
            );
            assert!(r.3.is_some(), "a loser never publishes again");
        }
    }
    // The bucket holds exactly the winner's commit at that generation.
    let ro =
        ObjectDirectory::read_only(common::client(&name, "i"), &tmp.path().join("rr")).unwrap();
    let index = Index::open(ro).unwrap();
    let s = index.reader().unwrap().searcher();
    assert_eq!((s.generation(), s.num_docs()), (base.generation + 1, 125));
    let id = index.schema().field("id").unwrap();
    let mut held: Vec<u64> = Vec::new();
    for seg in s.segments() {
        for d in 0..seg.max_doc() {
            if seg.is_live(d) {
                held.push(seg.column_value(id, d).unwrap());
            }
        }
    }
    held.sort_unstable();
    let mut want: Vec<u64> = (0..100).chain(winner.5.iter().copied()).collect();
    want.sort_unstable();
    assert_eq!(held, want);
}
