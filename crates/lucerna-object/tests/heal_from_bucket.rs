//! Automatic healing from a bucket (the library's healing, issue item 1,
//! with an `ObjectDirectory` as the replica): a bit flipped in a local
//! segment file is detected by the next reader or merge and the file is
//! restored from the bucket, verified; answers stay exact and the heal is
//! counted.

mod common;

use lucerna::index::HealSource;
use lucerna::store::FsDirectory;
use lucerna::{Durability, Index, WriterConfig};
use lucerna_object::ObjectDirectory;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

fn flip_in_place(path: &Path) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let at = f.metadata().unwrap().len() / 2;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    b[0] ^= 0x08;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&b).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn readers_and_merges_heal_a_flipped_bit_from_the_bucket() {
    let name = common::fresh_bucket_name();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    let replica =
        ObjectDirectory::replica(common::client(&name, "i"), &tmp.path().join("w")).unwrap();
    let index = Index::create(
        FsDirectory::open(&local).unwrap(),
        lucerna::schema::Schema::logs(),
    )
    .unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .no_merges()
                .max_buffered_docs(300)
                .durability(Durability::Sync)
                .replica(Arc::new(replica)),
        )
        .unwrap();
    for i in 0..900 {
        w.add_document(common::doc(index.schema(), i)).unwrap();
    }
    w.commit().unwrap();
    assert_eq!(w.replication()[0].last_error, None);
    let expected = common::answers(&index.reader().unwrap().searcher());

    // The running writer's merge meets a flipped file and heals it from
    // its bucket replica.
    flip_in_place(&local.join("seg_2.tdi"));
    assert!(w.force_merge(1).is_err());
    assert_eq!(w.heal_stats().files_healed, 1);
    w.force_merge(1).unwrap();
    w.commit().unwrap();
    assert_eq!(w.num_segments(), 1);
    assert_eq!(
        common::answers(&index.reader().unwrap().searcher()),
        expected
    );
    // A reader opened later, with the bucket as its replica, meets a
    // flipped bit in the merged segment.
    drop(w);
    let merged = format!("{}.doc", index.latest_commit().unwrap().segments[0].name);
    flip_in_place(&local.join(&merged));
    let bucket_replica =
        ObjectDirectory::read_only(common::client(&name, "i"), &tmp.path().join("r")).unwrap();
    let healing = Index::open(FsDirectory::open(&local).unwrap())
        .unwrap()
        .with_replicas(vec![Arc::new(bucket_replica)]);
    assert_eq!(
        common::answers(&healing.reader().unwrap().searcher()),
        expected
    );
    let st = healing.heal_stats();
    assert_eq!(st.files_healed, 1, "{st:?}");
    assert_eq!(st.recent[0].file, merged);
    assert_eq!(st.recent[0].source, HealSource::Replica(0));
}
