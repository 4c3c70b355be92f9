//! The spike scenario runs with nothing but the repository: no corpus
//! given, it indexes synthetic log lines, says so in its report, and
//! finishes with every tenant's documents accounted for.

use std::process::Command;

#[test]
fn spike_runs_on_synthetic_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spike"))
        .current_dir(dir.path())
        .env_remove("LUCERNA_BENCH_CORPUS")
        .args([
            "--corpus",
            "synthetic",
            "--seconds",
            "4",
            "--rate",
            "500",
            "--json",
        ])
        .output()
        .expect("run spike");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "spike failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(last).expect("JSON report");
    let corpus = v["config"]["corpus"].as_str().unwrap_or_default();
    assert!(corpus.starts_with("synthetic"), "{corpus}");
    assert!(v["config"]["corpus_docs"].as_u64().unwrap_or(0) > 0);
    let tenants = v["tenants"].as_array().expect("tenants");
    assert_eq!(tenants.len(), 4);
    for t in tenants {
        assert!(t["acked_docs"].as_u64().unwrap_or(0) > 0, "{t}");
        assert_eq!(t["lost_docs"], 0, "{t}");
    }
}
