//! A real S3-compatible server for the tests: moto in server mode on
//! 127.0.0.1, started once per test binary.
//!
//! The server runs in a Python child whose standard input is a pipe from
//! this process: it stops when that pipe closes, i.e. when the test binary
//! exits however it exits (a static is never dropped, so this is the
//! guard), and [`MotoGuard`]'s `Drop` kills it too. Each test gets a bucket
//! of its own. A test that needs the server fails with a clear message if
//! it cannot start, and the first use checks that the server refuses a
//! duplicate put-if-absent (HTTP 412), so a server ignoring conditions
//! cannot pass.

#![allow(dead_code)]

use lucerna_object::{Bucket, Created, ObjectError, S3Options};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The moto version `.ci/run` installs.
pub const MOTO_VERSION: &str = "5.2.1";

/// The running server; kills it when dropped.
pub struct MotoGuard {
    child: Mutex<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for MotoGuard {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl MotoGuard {
    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Client settings for this server.
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            allow_http: true,
        }
    }

    /// The environment variables a process (the CLI) needs to reach this
    /// server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Creates bucket `name` (an S3 `CreateBucket`).
    pub fn create_bucket(&self, name: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            s,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send CreateBucket");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        assert!(
            resp.starts_with("HTTP/1.1 200"),
            "moto did not create bucket {name}: {}",
            resp.lines().next().unwrap_or("")
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

const SERVER: &str = "import sys\n\
from moto.server import ThreadedMotoServer\n\
s = ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False)\n\
s.start()\n\
print('ready', flush=True)\n\
sys.stdin.read()\n\
s.stop()\n";

fn start() -> MotoGuard {
    let port = free_port();
    // The server logs every request: to a file, never to a pipe nobody
    // drains (a full pipe would block the server).
    let log_path = std::env::temp_dir().join(format!("lucerna-moto-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("moto log file");
    let child = Command::new("python3")
        .args(["-c", SERVER, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start the moto S3 server (python3): {e}; install it with \
                 `pip install 'moto[server]=={MOTO_VERSION}'`"
            )
        });
    let guard = MotoGuard {
        child: Mutex::new(child),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = guard.child.lock().unwrap().try_wait().ok().flatten() {
            let err = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "the moto S3 server exited ({status}) before answering: {}\ninstall it with \
                 `pip install 'moto[server]=={MOTO_VERSION}'`",
                err.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            );
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the moto S3 server did not answer on 127.0.0.1:{port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    check_conditional_put(&guard);
    // Needed only to explain a failed start; the server keeps its handle.
    let _ = std::fs::remove_file(&log_path);
    guard
}

/// The server must refuse a second put-if-absent of the same key (412):
/// a store ignoring conditions would make every race test meaningless.
fn check_conditional_put(m: &MotoGuard) {
    m.create_bucket("precondition-check");
    let b = Bucket::s3("precondition-check", "", &m.options()).expect("S3 client");
    b.put_create("probe", b"first")
        .expect("first put-if-absent");
    match b.put_create("probe", b"second") {
        Err(ObjectError::Conflict { .. }) => {}
        other => panic!(
            "the S3 server accepted a duplicate put-if-absent (If-None-Match: *): {other:?}; \
             it must answer 412 (moto {MOTO_VERSION} does)"
        ),
    }
    assert_eq!(b.get("probe").unwrap(), b"first");
    assert_eq!(b.create("probe", b"first").unwrap(), Created::Identical);
}

static SERVER_GUARD: OnceLock<MotoGuard> = OnceLock::new();

/// The shared server of this test binary.
pub fn moto() -> &'static MotoGuard {
    SERVER_GUARD.get_or_init(start)
}

/// The name of a fresh, empty bucket on the shared server.
pub fn fresh_bucket_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    moto().create_bucket(&name);
    name
}

/// A fresh bucket on the shared server, under prefix `prefix`.
pub fn fresh_bucket(prefix: &str) -> Bucket {
    client(&fresh_bucket_name(), prefix)
}

/// A new client (its own runtime and connections) of bucket `name`.
pub fn client(name: &str, prefix: &str) -> Bucket {
    Bucket::s3(name, prefix, &moto().options()).expect("S3 client")
}
