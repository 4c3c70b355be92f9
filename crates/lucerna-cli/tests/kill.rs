//! The kill test: `lucerna add` ingests in `sync` durability and prints
//! each acknowledged id; it is SIGKILLed at a seeded random moment, 200
//! times over one index. After every kill, the reopened index holds every
//! acknowledged id exactly once, no partial document, no id that was never
//! sent, and passes a full check.

use lucerna::index::check::check_index;
use lucerna::store::rng::SplitMix64;
use lucerna::store::{Directory, FsDirectory};
use lucerna::{Index, Query, WriterConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

const ROUNDS: u64 = 200;
const DOCS_PER_ROUND: u64 = 40;
const SEED: u64 = 0x6b69_6c6c;

fn body(id: u64) -> String {
    format!("acknowledged line {id} with several words to index")
}

fn lucerna() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lucerna"))
}

#[test]
fn sigkill_200_times_loses_no_acknowledged_document() {
    let tmp = tempfile::tempdir().unwrap();
    let index_dir = tmp.path().join("index");
    // An empty index with a stored body (to check documents are whole).
    let seed_file = tmp.path().join("seed.jsonl");
    std::fs::write(
        &seed_file,
        "{\"id\": 0, \"timestamp\": 0, \"body\": \"first\"}\n",
    )
    .unwrap();
    let st = lucerna()
        .args(["index", "--store-body", "--threads", "1", "--input"])
        .arg(&seed_file)
        .arg("--index")
        .arg(&index_dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());

    let mut rng = SplitMix64::new(SEED);
    let mut acked: BTreeSet<u64> = BTreeSet::from([0]);
    let mut sent_max = 0u64;
    let mut total_acks = 0u64;
    for round in 0..ROUNDS {
        let what = format!("seed {SEED:#x}, round {round}");
        let first = sent_max + 1;
        let input = tmp.path().join("round.jsonl");
        {
            let mut f = std::fs::File::create(&input).unwrap();
            for id in first..first + DOCS_PER_ROUND {
                writeln!(
                    f,
                    "{{\"id\": {id}, \"timestamp\": {id}, \"body\": \"{}\"}}",
                    body(id)
                )
                .unwrap();
            }
        }
        sent_max = first + DOCS_PER_ROUND - 1;
        // Kill after this many acknowledgements (0: as soon as it starts).
        let kill_after = rng.below(DOCS_PER_ROUND);
        let threads = 1 + rng.below(3);
        let commit_every = 5 + rng.below(20);
        let mut child = lucerna()
            .args(["add", "--ack", "--durability", "sync"])
            .args(["--threads", &threads.to_string()])
            .args(["--commit-every", &commit_every.to_string()])
            .arg("--input")
            .arg(&input)
            .arg("--index")
            .arg(&index_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut seen = 0;
        while seen < kill_after {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break; // the child finished (or died) first
            }
            if let Some(id) = line.trim().strip_prefix("ack ") {
                acked.insert(id.parse().unwrap());
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements printed before the kill are still in the pipe.
        for l in out.lines() {
            if let Some(id) = l.unwrap().trim().strip_prefix("ack ") {
                acked.insert(id.parse().unwrap());
            }
        }
        total_acks = acked.len() as u64;

        // Restart: a writer replays the log and commits.
        let dir: Arc<dyn Directory> = Arc::new(FsDirectory::open(&index_dir).unwrap());
        let index = Index::open(dir.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let w = index
            .writer(WriterConfig::default())
            .unwrap_or_else(|e| panic!("{what}: writer: {e}"));
        w.commit().unwrap_or_else(|e| panic!("{what}: commit: {e}"));
        drop(w);
        let report = check_index(&dir, true).unwrap();
        assert!(report.healthy(), "{what}: {:?}", report.problems);

        let s = index.reader().unwrap().searcher();
        let (id_f, body_f) = (
            index.schema().field("id").unwrap(),
            index.schema().field("body").unwrap(),
        );
        let all = s
            .top_k(&Query::MatchAll, s.num_docs() as usize + 1)
            .unwrap();
        let mut found: BTreeMap<u64, u32> = BTreeMap::new();
        for hit in &all.hits {
            let d = s.doc(hit.address).unwrap();
            let id = d.get_first(id_f).and_then(|v| v.as_u64()).unwrap();
            *found.entry(id).or_default() += 1;
            let text = d.get_first(body_f).and_then(|v| v.as_str()).unwrap();
            if id > 0 {
                assert_eq!(text, body(id), "{what}: partial document {id}");
            }
        }
        for id in &acked {
            assert_eq!(found.get(id), Some(&1), "{what}: acknowledged id {id}");
        }
        for (id, n) in &found {
            assert_eq!(*n, 1, "{what}: id {id} appears {n} times");
            assert!(*id <= sent_max, "{what}: id {id} was never sent");
        }
    }
    println!("{ROUNDS} kills, {total_acks} acknowledged documents, none lost");
}
