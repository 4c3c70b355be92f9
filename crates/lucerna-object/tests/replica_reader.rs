//! Acceptance 1: a writer with a bucket replica commits; a reader that
//! shares nothing with it but the bucket opens the same generation and
//! answers a query set exactly as the writer's own searcher does, and
//! follows new commits.

mod common;

use lucerna::store::FsDirectory;
use lucerna::{Index, WriterConfig};
use lucerna_object::ObjectDirectory;
use std::sync::Arc;

#[test]
fn a_reader_sharing_only_the_bucket_answers_like_the_writer() {
    let name = common::fresh_bucket_name();
    let bucket = common::client(&name, "indexes/logs");
    let tmp = tempfile::tempdir().unwrap();
    let replica = ObjectDirectory::replica(bucket.clone(), &tmp.path().join("wcache")).unwrap();
    let index = Index::create(
        FsDirectory::open(tmp.path().join("local")).unwrap(),
        lucerna::schema::Schema::logs(),
    )
    .unwrap();
    let w = index
        .writer(
            WriterConfig::default()
                .max_buffered_docs(700)
                .replica(Arc::new(replica.clone())),
        )
        .unwrap();
    for i in 0..3000 {
        w.add_document(common::doc(index.schema(), i)).unwrap();
    }
    let g = w.commit().unwrap();
    let st = &w.replication()[0];
    assert_eq!(st.last_error, None, "replication failed");
    assert_eq!(st.generation, Some(g));
    assert_eq!(replica.published_count(), 1);

    // Another client, another cache: only the bucket is shared.
    let other = common::client(&name, "indexes/logs");
    let ro = ObjectDirectory::read_only(other, &tmp.path().join("rcache")).unwrap();
    let remote = Index::open(ro.clone()).unwrap();
    let reader = remote.reader().unwrap();
    let local = index.reader().unwrap();
    assert_eq!(reader.searcher().generation(), g);
    assert_eq!(reader.searcher().num_docs(), 3000);
    let expected = common::answers(&local.searcher());
    assert!(
        expected.iter().any(|(c, _)| *c > 100),
        "queries match documents"
    );
    assert_eq!(common::answers(&reader.searcher()), expected);

    // The reader follows the next commit (deletes included).
    for i in 3000..3500 {
        w.add_document(common::doc(index.schema(), i)).unwrap();
    }
    w.delete_by_id(index.schema().field("id").unwrap(), 7)
        .unwrap();
    let g2 = w.commit().unwrap();
    assert!(reader.reload().unwrap());
    assert_eq!(reader.searcher().generation(), g2);
    local.reload().unwrap();
    assert_eq!(reader.searcher().num_docs(), 3499);
    assert_eq!(
        common::answers(&reader.searcher()),
        common::answers(&local.searcher())
    );
}
