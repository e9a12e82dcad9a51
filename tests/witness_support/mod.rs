//! Real `tracing-audit witness` processes on loopback for the witness tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tracing_audit::tlog::submit::WitnessEndpoint;

const BIN: &str = env!("CARGO_BIN_EXE_tracing-audit");

/// A witness process with its key, state and request log (its stderr).
pub struct WitnessProc {
    child: Child,
    pub addr: String,
    pub vkey: String,
    key: PathBuf,
    state: PathBuf,
    log: PathBuf,
    origin: String,
    log_vkey: String,
}

impl WitnessProc {
    pub fn start(dir: &Path, name: &str, origin: &str, log_vkey: &str) -> WitnessProc {
        let key = dir.join(format!("{name}.key"));
        let out = Command::new(BIN)
            .args([
                "witness-keygen",
                "--name",
                &format!("witness.example/{name}"),
                "--key",
            ])
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vkey = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let state = dir.join(format!("{name}.state"));
        let log = dir.join(format!("{name}.requests"));
        let mut w = WitnessProc {
            child: Command::new("true").spawn().unwrap(),
            addr: "127.0.0.1:0".into(),
            vkey,
            key,
            state,
            log,
            origin: origin.to_owned(),
            log_vkey: log_vkey.to_owned(),
        };
        w.spawn();
        w
    }

    /// (Re)starts the process on its address (port 0 the first time).
    pub fn spawn(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(BIN)
            .args(["witness", "--listen", &self.addr, "--state"])
            .arg(&self.state)
            .arg("--key")
            .arg(&self.key)
            .args(["--log", &format!("{}={}", self.origin, self.log_vkey)])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        self.addr = first
            .trim()
            .strip_prefix("listening http://")
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        self.child = child;
    }

    pub fn sigkill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    pub fn endpoint(&self) -> WitnessEndpoint {
        WitnessEndpoint::new(&format!("http://{}", self.addr), &self.vkey).unwrap()
    }

    /// The `add-checkpoint` requests it logged so far.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("/add-checkpoint"))
            .map(str::to_owned)
            .collect()
    }

    /// Its latest cosigned checkpoint, from `GET /<origin hash>/checkpoint`.
    pub fn latest_size(&self) -> Option<u64> {
        let path = format!(
            "/{}/checkpoint",
            tracing_audit::tlog::witness::origin_hash(&self.origin)
        );
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        if !answer.starts_with("HTTP/1.1 200") {
            return None;
        }
        let body = answer.split("\r\n\r\n").nth(1)?;
        body.lines().nth(1)?.parse().ok()
    }
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WitnessProc {
    /// Writes its vkey to a file (what `verify --witness-key` reads) and returns the path.
    pub fn vkey_file(&self, dir: &Path) -> PathBuf {
        let name = self.vkey.split('+').next().unwrap().replace('/', "_");
        let path = dir.join(format!("{name}.vkey"));
        std::fs::write(&path, format!("{}\n", self.vkey)).unwrap();
        path
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
