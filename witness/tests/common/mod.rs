//! Shared test helpers: a real log (proto MemoryLog + signed checkpoints), temp dirs,
//! and a raw HTTP/1.1 exchange so status lines and headers are checked on the wire.
#![allow(dead_code)]

pub mod proc;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::merkle::{Hash, MemoryLog, prove_tree};
use quorate_proto::note::{self, Signer};

pub const NOW: u64 = 1_700_000_000;

/// A log: its key and its tree.
pub struct TestLog {
    pub signer: Signer,
    pub tree: MemoryLog,
}

impl TestLog {
    pub fn new(origin: &str, seed: u8) -> TestLog {
        TestLog {
            signer: Signer::generate(origin, [seed; 32]).unwrap(),
            tree: MemoryLog::new(),
        }
    }

    /// Same key, independent tree: a fork when the two diverge.
    pub fn fork_of(other: &TestLog, seed: u8) -> TestLog {
        TestLog {
            signer: Signer::generate(other.signer.name(), [seed; 32]).unwrap(),
            tree: other.tree.clone(),
        }
    }

    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    pub fn vkey(&self) -> String {
        self.signer.vkey()
    }

    pub fn grow(&mut self, n: usize, tag: &str) {
        for i in 0..n {
            self.tree
                .append(format!("{tag} {}", self.tree.size() + i as u64).as_bytes());
        }
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The signed checkpoint of the current tree.
    pub fn checkpoint(&self) -> Vec<u8> {
        self.checkpoint_signed_by(&self.signer)
    }

    pub fn checkpoint_signed_by(&self, s: &Signer) -> Vec<u8> {
        let text = Checkpoint::new(self.origin(), self.size(), self.tree.root(), vec![])
            .unwrap()
            .to_text();
        note::sign(&text, &[s]).unwrap().into_bytes()
    }

    pub fn proof_from(&self, old: u64) -> Vec<Hash> {
        if old == 0 {
            vec![]
        } else {
            prove_tree(self.size(), old, &self.tree).unwrap()
        }
    }

    /// The add-checkpoint body from `old` to the current tree.
    pub fn body_from(&self, old: u64) -> Vec<u8> {
        body(old, &self.proof_from(old), &self.checkpoint())
    }
}

pub fn body(old: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    let mut b = format!("old {old}\n").into_bytes();
    for h in proof {
        b.extend_from_slice(B64.encode(h).as_bytes());
        b.push(b'\n');
    }
    b.push(b'\n');
    b.extend_from_slice(note);
    b
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let d = std::env::temp_dir().join(format!(
            "quorate-witness-test-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> RawResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before reading an oversized body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let i = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
}
