//! The real `lucerna-server` binary as a child process on 127.0.0.1 with a
//! free port (it listens on port 0 and prints the address it took).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running server; killed when dropped.
pub struct Server {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the server on `data` with `flags`, its log appended to
    /// `log`; waits (up to 60 s) for it to listen.
    pub fn start(data: &Path, flags: &[&str], log: &Path) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the server log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lucerna-server"))
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start lucerna-server");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not print its address within 60 s");
            }
        };
        let v: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("first stdout line {line:?}: {e}"));
        let addr = v["listening"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server {
            child: Some(child),
            addr,
        }
    }

    /// Kills the server with SIGKILL (no shutdown of any kind).
    pub fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits (up to 60 s) for the server to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        for _ in 0..600 {
            if let Some(status) = c.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        panic!("the server did not exit within 60 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
