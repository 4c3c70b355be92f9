//! What the end-to-end tests share: an HTTP client, the server process,
//! a Prometheus text reader, seeded log lines.

#![allow(dead_code)]

pub mod http;
pub mod prom;
pub mod server;

/// SplitMix64: the seeded generator of every random choice of a test.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Words log lines are made of.
pub const WORDS: &[&str] = &[
    "connection",
    "refused",
    "timeout",
    "disk",
    "full",
    "user",
    "login",
    "failed",
    "accepted",
    "password",
    "root",
    "session",
    "opened",
    "closed",
    "kernel",
    "error",
    "warning",
    "retry",
    "upstream",
    "request",
    "response",
    "cache",
    "miss",
    "hit",
    "queue",
    "worker",
    "started",
    "stopped",
    "node",
    "cluster",
];

/// One NDJSON line: `id`, a timestamp, and a body of 8 to 20 words.
pub fn log_line(rng: &mut Rng, id: u64) -> String {
    let n = 8 + rng.below(13);
    let body: Vec<&str> = (0..n)
        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
        .collect();
    serde_json::json!({
        "id": id,
        "timestamp": 1_764_979_200_000u64 + id,
        "body": format!("{} pid={} host=h{}", body.join(" "), rng.below(65536), rng.below(16)),
    })
    .to_string()
}

/// Percent-encodes a query-string value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
