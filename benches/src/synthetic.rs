//! Synthetic log lines: what the benchmarks index when the real corpus
//! (`../shared/peers/corpus/prepare.sh`) is not there, so that a fresh
//! clone of the repository alone runs them.
//!
//! The lines are **synthetic**, not real logs: a dozen templates in the
//! shape of sshd, HTTP access, kernel, HDFS, scheduler and application
//! logs, filled from Zipf-skewed pools of users, hosts, paths and
//! components, with numbers (pids, ports, block ids, sizes, durations)
//! drawn at random. Every figure measured on them says so (the spike's
//! report names its corpus `synthetic`); compare engines on the real
//! corpus.
//!
//! The stream is a pure function of the seed: the same seed gives the same
//! lines on every machine.
//!
//! ```
//! let lines = lucerna_benches::synthetic::log_lines(1_000, 7);
//! assert_eq!(lines.len(), 1_000);
//! assert_eq!(lines, lucerna_benches::synthetic::log_lines(1_000, 7));
//! assert!(lines.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
//! ```

use lucerna_store::rng::SplitMix64;

/// One generated log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch, non-decreasing along the stream.
    pub timestamp: u64,
    /// The line's text.
    pub body: String,
}

/// The first timestamp of every stream (2026-01-01T00:00:00Z).
const START_MS: u64 = 1_767_225_600_000;

const USERS: [&str; 16] = [
    "root", "admin", "deploy", "ubuntu", "git", "postgres", "oracle", "test", "guest", "backup",
    "www-data", "jenkins", "nagios", "ftpuser", "mysql", "support",
];
const HOSTS: [&str; 12] = [
    "node-1",
    "node-2",
    "node-3",
    "node-7",
    "db-primary",
    "db-replica",
    "edge-a",
    "edge-b",
    "cache-01",
    "cache-02",
    "batch-04",
    "ingest-9",
];
const PATHS: [&str; 14] = [
    "/",
    "/index.html",
    "/api/v1/search",
    "/api/v1/ingest",
    "/login",
    "/static/app.js",
    "/static/style.css",
    "/favicon.ico",
    "/health",
    "/metrics",
    "/api/v1/users",
    "/admin",
    "/robots.txt",
    "/api/v2/query",
];
const COMPONENTS: [&str; 10] = [
    "scheduler",
    "compactor",
    "replicator",
    "gateway",
    "indexer",
    "auth",
    "storage",
    "dfs.DataNode",
    "zookeeper.ClientCnxn",
    "executor",
];
const STATUSES: [u32; 8] = [200, 200, 200, 304, 404, 200, 500, 503];
const DEVICES: [&str; 6] = ["eth0", "eth1", "sda1", "sdb2", "nvme0n1", "bond0"];
/// Syllables of the pseudo-words in free-text messages.
const SYLLABLES: [&str; 24] = [
    "ka", "ro", "mi", "te", "su", "lan", "dor", "vi", "en", "pa", "qu", "is", "tor", "ne", "bal",
    "ri", "so", "gem", "ul", "fa", "cho", "ver", "da", "mar",
];
/// Distinct pseudo-words (a long tail, as identifiers and messages give
/// real logs).
const WORDS: u64 = 5_000;

/// `n` synthetic log lines from `seed` (see the module docs).
pub fn log_lines(n: usize, seed: u64) -> Vec<LogLine> {
    let mut g = Generator {
        rng: SplitMix64::new(seed ^ 0x5EED_1065),
        now: START_MS,
    };
    (0..n).map(|_| g.line()).collect()
}

struct Generator {
    rng: SplitMix64,
    now: u64,
}

impl Generator {
    /// A Zipf-skewed pick from `pool`: the first entries are the most
    /// frequent, as users, hosts and paths are in real logs.
    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        let a = self.rng.below(pool.len() as u64);
        let b = self.rng.below(pool.len() as u64);
        pool[a.min(b) as usize]
    }

    fn ip(&mut self) -> String {
        // A few busy subnets and a long tail of addresses.
        let subnet = self.rng.below(4);
        format!(
            "10.{}.{}.{}",
            subnet,
            self.rng.below(8),
            1 + self.rng.below(254)
        )
    }

    /// A pseudo-word, Zipf-like: word `i` of [`WORDS`] is drawn with a
    /// probability falling with `i`.
    fn word(&mut self) -> String {
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut i = (u * u * u * WORDS as f64) as u64;
        let mut w = String::new();
        loop {
            w.push_str(SYLLABLES[(i % SYLLABLES.len() as u64) as usize]);
            i /= SYLLABLES.len() as u64;
            if i == 0 && w.len() >= 3 {
                break w;
            }
        }
    }

    fn line(&mut self) -> LogLine {
        self.now += self.rng.below(40);
        let host = self.pick(&HOSTS);
        let pid = 1000 + self.rng.below(30_000);
        let body = match self.rng.below(100) {
            0..=21 => format!(
                "{host} sshd[{pid}]: Failed password for {}{} from {} port {} ssh2",
                if self.rng.chance(0.3) {
                    "invalid user "
                } else {
                    ""
                },
                self.pick(&USERS),
                self.ip(),
                1024 + self.rng.below(64_000)
            ),
            22..=29 => format!(
                "{host} sshd[{pid}]: Accepted publickey for {} from {} port {} ssh2",
                self.pick(&USERS),
                self.ip(),
                1024 + self.rng.below(64_000)
            ),
            30..=51 => {
                let status = STATUSES[self.rng.below(STATUSES.len() as u64) as usize];
                format!(
                    "{} - - \"{} {} HTTP/1.1\" {status} {}",
                    self.ip(),
                    if self.rng.chance(0.8) { "GET" } else { "POST" },
                    self.pick(&PATHS),
                    self.rng.below(60_000)
                )
            }
            52..=63 => format!(
                "INFO {}: Receiving block blk_{} src: /{}:50010 dest: /{}:50010 of size {}",
                COMPONENTS[7],
                self.rng.next_u64() >> 1,
                self.ip(),
                self.ip(),
                self.rng.below(67_108_864)
            ),
            64..=71 => format!(
                "{host} kernel: [{}.{:06}] {}: link is {}",
                self.rng.below(900_000),
                self.rng.below(1_000_000),
                self.pick(&DEVICES),
                if self.rng.chance(0.5) { "up" } else { "down" }
            ),
            72..=80 => format!(
                "WARN {}: connection to {} timed out after {} ms (attempt {})",
                self.pick(&COMPONENTS),
                self.pick(&HOSTS),
                100 + self.rng.below(30_000),
                1 + self.rng.below(5)
            ),
            81..=86 => format!(
                "ERROR {}: write failed on {host}: disk full ({} bytes free on /dev/{})",
                self.pick(&COMPONENTS),
                self.rng.below(4096),
                self.pick(&DEVICES)
            ),
            87..=93 => format!(
                "{host} systemd-logind[{pid}]: session {} opened for user {} by (uid={})",
                self.rng.below(100_000),
                self.pick(&USERS),
                self.rng.below(2000)
            ),
            94..=96 => format!(
                "DEBUG {}: {} {} {} while {} {} (request {})",
                self.pick(&COMPONENTS),
                self.word(),
                self.word(),
                self.word(),
                self.word(),
                self.word(),
                self.rng.next_u64() >> 20
            ),
            _ => format!(
                "INFO {}: task {} of job {} finished in {} ms on {host}",
                self.pick(&COMPONENTS),
                self.rng.below(10_000),
                self.rng.below(500),
                self.rng.below(120_000)
            ),
        };
        LogLine {
            timestamp: self.now,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_and_templates_mix() {
        let a = log_lines(2_000, 1);
        let b = log_lines(2_000, 2);
        assert_ne!(a, b);
        for needle in ["Failed password", "HTTP/1.1", "blk_", "kernel", "disk full"] {
            assert!(a.iter().any(|l| l.body.contains(needle)), "{needle}");
        }
    }
}
