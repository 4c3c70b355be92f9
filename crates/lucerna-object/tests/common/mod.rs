//! Test support: the moto server ([`moto`]), a fault-injecting store
//! ([`faulty`]) and a synthetic corpus with a query set.

#![allow(dead_code)]

pub mod faulty;
mod moto;

pub use moto::*;

use lucerna_object::Bucket;

/// A client of bucket `name` whose requests go through a fault injector.
pub fn faulty_client(name: &str, prefix: &str) -> (Bucket, std::sync::Arc<faulty::Faults>) {
    let inner = lucerna_object::s3_store(name, &moto().options()).expect("S3 client");
    let f = faulty::FaultyStore::new(inner);
    let faults = f.faults.clone();
    let b = Bucket::new(
        std::sync::Arc::new(f),
        prefix,
        &format!("s3://{name}/{prefix}"),
    )
    .expect("bucket");
    (b, faults)
}

/// Words of the synthetic corpus.
const WORDS: &[&str] = &[
    "failed",
    "password",
    "root",
    "error",
    "disk",
    "full",
    "connection",
    "reset",
    "timeout",
    "user",
    "login",
    "accepted",
    "kernel",
    "panic",
    "memory",
    "cpu",
    "warning",
    "restart",
    "service",
    "started",
    "stopped",
    "nginx",
    "sshd",
    "cron",
    "backup",
    "segment",
    "merge",
];

/// Document `i` of the synthetic corpus (deterministic).
pub fn doc(schema: &lucerna::schema::Schema, i: u64) -> lucerna::Document {
    let (id, ts, body) = (
        schema.field("id").unwrap(),
        schema.field("timestamp").unwrap(),
        schema.field("body").unwrap(),
    );
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
    let mut text = String::new();
    for _ in 0..(6 + i % 9) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
        text.push(' ');
    }
    text.push_str(&format!("host{}", i % 17));
    let mut d = lucerna::Document::new();
    d.add_u64(id, i).add_i64(ts, i as i64).add_text(body, &text);
    d
}

/// The query set the equivalence tests run.
pub const QUERIES: &[&str] = &[
    "failed",
    "failed AND root",
    "disk OR memory",
    "\"connection reset\"",
    "host3",
    "kernel AND panic AND NOT cron",
    "nginx OR sshd OR cron",
    "backup",
    "segment AND merge",
    "timeout",
];

/// (count, top-10 ids) of every query of [`QUERIES`].
pub fn answers(searcher: &lucerna::Searcher) -> Vec<(u64, Vec<u64>)> {
    let id = searcher.schema().field("id").unwrap();
    QUERIES
        .iter()
        .map(|q| {
            let query = searcher.parse_query(q).unwrap();
            let r = searcher
                .search(&query, lucerna::Collect::CountAndTopK(10))
                .unwrap();
            let ids = r
                .hits
                .iter()
                .map(|h| searcher.column_value(h.address, id).unwrap())
                .collect();
            (r.count.unwrap(), ids)
        })
        .collect()
}
