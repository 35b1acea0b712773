//! Shared helpers for the node's process-level tests: a tiny blocking HTTP/1.1 client,
//! a guard that runs `quorate-node serve` and kills it on drop, attestation fixtures and
//! independent verification with quorate-proto.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use quorate_proto::attestation::{
    self, Attestation, Digest, Evidence, Reviewer, ReviewerKind, Scope, Verdict,
};
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
use quorate_proto::merkle::{self, Hash, MemoryLog, MerkleError};
use quorate_proto::note::{self, Ed25519Verifier};
use quorate_proto::tile::{self, Tile, TileHashReader, TileReader};

pub const BIN: &str = env!("CARGO_BIN_EXE_quorate-node");
pub const ORIGIN: &str = "test.example/quorate/log";

// ---------------------------------------------------------------------------------------
// HTTP

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: &[u8],
) -> std::io::Result<Resp> {
    request_with(addr, method, path, ctype, &[], body)
}

/// As [`request`], with more request headers (sent exactly as given).
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = ctype {
        head.push_str(&format!("Content-Type: {c}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // The server may answer (e.g. 413) before reading an oversized body; keep going.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Resp> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("head not utf-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("empty"))?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = quorate_node::fedbench::dechunk(&body).map_err(|e| bad(&e.to_string()))?;
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, None, b"").unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

pub fn post(addr: SocketAddr, ctype: &str, body: &[u8]) -> Resp {
    request(addr, "POST", "/v1/attestations", Some(ctype), body)
        .unwrap_or_else(|e| panic!("POST: {e}"))
}

// ---------------------------------------------------------------------------------------
// Processes

/// Runs a `quorate-node` subcommand to completion.
pub fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running quorate-node")
}

pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "quorate-node {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A data directory with an initialised log.
pub struct Log {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub vkey: String,
}

impl Log {
    pub fn init() -> Log {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let vkey = run_ok(&["init", "--data", dir.to_str().unwrap(), "--origin", ORIGIN])
            .trim()
            .to_owned();
        Log { tmp, dir, vkey }
    }

    pub fn data(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    pub fn add_reviewer(&self, k: &SigningKey) {
        run_ok(&["reviewers", "add", "--data", self.data(), &reviewer_vkey(k)]);
    }

    pub fn write_config(&self, toml: &str) -> PathBuf {
        let p = self.tmp.path().join("config.toml");
        std::fs::write(&p, toml).unwrap();
        p
    }

    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier::from_vkey(&self.vkey).unwrap()
    }

    pub fn start(&self, config: Option<&Path>) -> Node {
        Node::start(self, config)
    }
}

/// A running `quorate-node serve`; SIGKILLed and reaped on drop.
pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Node {
    pub fn start(log: &Log, config: Option<&Path>) -> Node {
        Node::start_with(log, config, &[], &[])
    }

    /// As [`Node::start`], with more `serve` flags.
    pub fn start_args(log: &Log, config: Option<&Path>, extra: &[&str]) -> Node {
        Node::start_with(log, config, extra, &[])
    }

    /// [`Node::start`] with extra `serve` arguments and environment variables.
    pub fn start_with(
        log: &Log,
        config: Option<&Path>,
        args: &[&str],
        env: &[(String, String)],
    ) -> Node {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log.tmp.path().join("node.log"))
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--data", log.data()]);
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.args(args);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawning quorate-node serve");
        let stdout = child.stdout.take().unwrap();
        let rx = quorate_node::fedbench::first_stdout_line(stdout);
        let mut node = Node {
            child,
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => panic!(
                "node did not start; log:\n{}",
                std::fs::read_to_string(log.tmp.path().join("node.log")).unwrap_or_default()
            ),
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log:\n{}",
                    std::fs::read_to_string(log.tmp.path().join("node.log")).unwrap_or_default()
                )
            });
        node.addr = addr.parse().unwrap();
        node
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "node did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures

pub fn reviewer_key(i: u64) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_be_bytes());
    seed[8] = 0xaa;
    SigningKey::from_bytes(&seed)
}

pub fn reviewer_vkey(k: &SigningKey) -> String {
    note::format_vkey("reviewer.example", 0x01, k.verifying_key().as_bytes()).unwrap()
}

/// A certify attestation; a scoped name (`@scope/pkg`) is an npm package, others cargo.
pub fn attestation_for(k: &SigningKey, package: &str, version: &str, notes: &str) -> Attestation {
    let ecosystem = if package.starts_with('@') {
        "npm"
    } else {
        "cargo"
    };
    Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: ecosystem.into(),
        package: package.into(),
        version: version.into(),
        digest: Digest::Sha256([0x11; 32]),
        delta_from: None,
        criteria: vec!["safe-to-run".into()],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: "R".into(),
            public_key: k.verifying_key().to_bytes(),
        },
        organisation: "Org".into(),
        time: 1_700_000_000,
        notes: notes.into(),
        links: vec![],
        supersedes: None,
    }
}

pub fn envelope(k: &SigningKey, package: &str, version: &str, notes: &str) -> Vec<u8> {
    attestation::sign(&attestation_for(k, package, version, notes), k).unwrap()
}

pub fn batch_body(envs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in envs {
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

pub fn b64d(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

pub fn b64e(b: &[u8]) -> String {
    B64.encode(b)
}

pub fn hashes(v: &serde_json::Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| b64d(h.as_str().unwrap()).try_into().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Verification

/// Verifies a checkpoint note with the log's vkey; returns (size, root).
pub fn open_checkpoint(log: &Log, note: &str) -> (u64, Hash) {
    let v = verify_checkpoint(note.as_bytes(), &log.verifier(), &[])
        .unwrap_or_else(|e| panic!("checkpoint does not verify: {e}\n{note}"));
    let cp: &Checkpoint = v.checkpoint();
    assert_eq!(cp.origin(), ORIGIN);
    (cp.size(), *cp.root_hash())
}

pub fn latest(log: &Log, addr: SocketAddr) -> (u64, Hash, String) {
    let r = get(addr, "/checkpoint");
    assert_eq!(r.status, 200);
    let note = r.text();
    let (size, root) = open_checkpoint(log, &note);
    (size, root, note)
}

/// Tiles fetched over HTTP.
pub struct HttpTiles(pub SocketAddr);

impl TileReader for HttpTiles {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        HttpTilesAt(self.0, String::new()).read_tiles(tiles)
    }
}

/// Tiles fetched over HTTP under a path prefix (e.g. `/bucket/log` of an S3 server).
pub struct HttpTilesAt(pub SocketAddr, pub String);

impl TileReader for HttpTilesAt {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        tiles
            .iter()
            .map(|t| {
                let r = get(self.0, &format!("{}/{}", self.1, t.path()));
                if r.status != 200 {
                    return Err(MerkleError::Storage(format!("{}: {}", t.path(), r.status)));
                }
                Ok(r.body)
            })
            .collect()
    }
}

/// What an independent tlog-tiles client does: fetch every tile and entry bundle of the
/// tree of `size`, check the bundles against the level-0 tiles, recompute every tile and
/// the root from the entries, and check the root through the authenticating tile reader.
/// Returns the entries.
pub fn verify_tiles(addr: SocketAddr, size: u64, root: &Hash) -> Vec<Vec<u8>> {
    verify_tiles_at(addr, "", size, root)
}

/// [`verify_tiles`] for a server holding the log's paths under `prefix` (`/bucket/log`).
pub fn verify_tiles_at(addr: SocketAddr, prefix: &str, size: u64, root: &Hash) -> Vec<Vec<u8>> {
    let mut entries: Vec<Vec<u8>> = Vec::with_capacity(size as usize);
    let mut mem = MemoryLog::new();
    let level0: Vec<Tile> = tile::tiles_for_size(size)
        .filter(|t| t.level() == 0)
        .collect();
    for t in &level0 {
        let data = get(addr, &format!("{prefix}/{}", t.path()));
        assert_eq!(data.status, 200, "{}", t.path());
        let bundle = get(addr, &format!("{prefix}/{}", t.entries_path()));
        assert_eq!(bundle.status, 200, "{}", t.entries_path());
        let es = tile::check_entry_bundle(t, &bundle.body, &data.body)
            .unwrap_or_else(|e| panic!("{}: {e}", t.entries_path()));
        for e in es {
            mem.append(e);
            entries.push(e.to_vec());
        }
    }
    assert_eq!(entries.len() as u64, size);
    assert_eq!(&mem.root(), root, "entries do not reproduce the root");
    for t in tile::tiles_for_size(size) {
        let r = get(addr, &format!("{prefix}/{}", t.path()));
        assert_eq!(r.status, 200, "{}", t.path());
        let want = tile::read_tile_data(&t, &mem).unwrap();
        assert_eq!(
            r.body,
            want,
            "tile {} differs from the recomputed one",
            t.path()
        );
        let cc = r.header("cache-control").unwrap_or_default().to_owned();
        if t.is_full() {
            assert!(cc.contains("immutable"), "{}: {cc}", t.path());
        } else {
            assert!(!cc.contains("immutable"), "{}: {cc}", t.path());
        }
    }
    if size > 0 {
        let reader = TileHashReader::new(size, *root, HttpTilesAt(addr, prefix.to_owned()));
        assert_eq!(&merkle::tree_hash(size, &reader).unwrap(), root);
    }
    entries
}

/// Checks a submission/lookup result's inclusion proof against its checkpoint.
pub fn check_inclusion(log: &Log, note: &str, index: u64, leaf: &Hash, proof: &[Hash]) {
    let (size, root) = open_checkpoint(log, note);
    merkle::check_record(proof, size, &root, index, leaf)
        .unwrap_or_else(|e| panic!("inclusion of {index} in {size}: {e}"));
}

/// Parses a C2SP tlog-proof (no extra line expected): (index, proof, checkpoint note).
pub fn parse_tlog_proof(text: &str) -> (u64, Vec<Hash>, String) {
    let (head, cp) = text.split_once("\n\n").expect("blank line");
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("c2sp.org/tlog-proof@v1"));
    let index: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("index "))
        .expect("index line")
        .parse()
        .unwrap();
    let proof = lines
        .map(|l| b64d(l).try_into().expect("32-byte hash"))
        .collect();
    (index, proof, cp.to_owned())
}

pub fn rejected(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        r.status,
        status,
        "expected {status} {code}, got {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let j = r.json();
    assert_eq!(j["error"], code, "{j}");
    assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()), "{j}");
}

pub type Acks = BTreeMap<u64, Vec<u8>>;
