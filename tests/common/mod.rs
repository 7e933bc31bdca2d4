//! Runs the real `gatehouse` binary: commands against a temp data dir, and `serve` on a
//! free loopback port.

#![allow(dead_code)]

pub mod commit;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// One data directory and the binary to run against it.
pub struct Gatehouse {
    pub dir: tempfile::TempDir,
}

impl Gatehouse {
    /// A private data directory, as Gatehouse makes its own.
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod 700");
        Gatehouse { dir }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A 0600 file `name` in the data directory holding `secret`, as a user would keep one
    /// for `--token-file` or `--secret-file`.
    pub fn secret_file(&self, name: &str, secret: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data_dir().join(name);
        std::fs::write(&path, format!("{secret}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    /// Connects the Appcircle account at `api` (a fake's address) with an API key, and reads
    /// it once.
    pub fn connect_appcircle(&self, api: std::net::SocketAddr, name: &str, secret: &str) {
        let key = self.secret_file("appcircle-key", secret);
        let url = format!("http://{api}");
        self.ok(&[
            "account",
            "connect",
            "--api-key",
            name,
            "--secret-file",
            key.to_str().expect("path"),
            "--api-host",
            &url,
            "--auth-host",
            &url,
        ]);
        self.ok(&["account", "sync"]);
    }

    /// Adds endpoints: each a name, its provider and its secret.
    pub fn add_endpoints(&self, endpoints: &[(&str, &str, &str)]) {
        for (name, provider, secret) in endpoints {
            let file = self.secret_file(&format!("{name}-secret"), secret);
            self.ok(&[
                "endpoint",
                "add",
                name,
                "--provider",
                provider,
                "--secret-file",
                file.to_str().expect("path"),
            ]);
        }
    }

    /// Runs `gatehouse ARGS` with `GATEHOUSE_DATA_DIR` pointing at our directory.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("GATEHOUSE_DATA_DIR", self.dir.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("gatehouse runs")
    }

    /// Runs and expects exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "gatehouse {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?} printed invalid JSON ({e}): {text}"))
    }

    pub fn serve(&self, extra: &[&str]) -> Server {
        Server::start(self.dir.path(), extra)
    }
}

/// `gatehouse serve` on 127.0.0.1 with a port the OS picked; stopped with SIGTERM on drop.
pub struct Server {
    child: Child,
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(listen)
            .args(extra)
            .env("GATEHOUSE_DATA_DIR", data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http") {
                    let url = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default();
                    let _ = tx.send(url.to_owned());
                }
                sink.lock().expect("log").push(line);
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "serve did not report its address: {:?}",
                    log.lock().map(|l| l.clone())
                )
            });
        Server { child, base, log }
    }

    pub fn hook(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.base)
    }

    /// The server's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        self.memory_kib("VmRSS")
    }

    /// One of the server's memory figures from /proc/PID/status, in KiB (Linux): `VmRSS`
    /// (resident now), `VmHWM` (the most it was ever resident); 0 if it cannot be read.
    pub fn memory_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| {
                        l.strip_prefix(field)
                            .is_some_and(|rest| rest.starts_with(':'))
                    })
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0)
    }

    /// How many sockets the server holds open (its listener and its connections; Linux).
    pub fn open_sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|fds| {
                fds.filter_map(Result::ok)
                    .filter(|fd| {
                        std::fs::read_link(fd.path())
                            .is_ok_and(|to| to.to_string_lossy().starts_with("socket:"))
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// SIGKILL: gone at once, with no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits; returns whether it exited cleanly.
    pub fn stop(mut self) -> bool {
        self.terminate()
    }

    fn terminate(&mut self) -> bool {
        // SAFETY: signalling our own child process by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A raw POST; returns status and the JSON (or Null) body.
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut req = ureq::post(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("could not reach {url}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn vector() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/core/tests/vectors/appcircle-build-started.json")
}
