//! Real `quorate-node` processes for the client's end-to-end tests.
//!
//! The client crate does not depend on the node (not even as a dev-dependency), and
//! Cargo's `CARGO_BIN_EXE_*` only names binaries of the crate under test. So
//! [`node_bin`] looks for `quorate-node` beside the `quorate` binary under test
//! (`target/<profile>/`), and if it is missing runs `cargo build -p quorate-node` once
//! (same profile and target directory) before the first node starts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub const QUORATE: &str = env!("CARGO_BIN_EXE_quorate");

/// The `quorate-node` binary, built on first use if absent.
pub fn node_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("quorate-node")).clone()
}

/// The `quorate-witness` binary (the standalone C2SP witness), built on first use if absent.
pub fn witness_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("quorate-witness")).clone()
}

/// The `quorate-testnet` binary, built on first use if absent.
pub fn testnet_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("quorate-testnet")).clone()
}

/// Binary `name` of the workspace package of the same name, beside `quorate`; built with
/// `cargo build -p NAME` (same profile and target directory) when missing.
fn workspace_bin(name: &str) -> PathBuf {
    let dir = Path::new(QUORATE).parent().unwrap().to_path_buf();
    let bin = dir.join(name);
    if !bin.is_file() {
        let target = dir.parent().unwrap();
        let profile = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-q", "-p", name, "--bin", name])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile == "release" {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("running cargo build");
        assert!(st.success(), "cargo build -p {name} failed");
    }
    assert!(bin.is_file(), "{} missing after build", bin.display());
    bin
}

pub fn run(bin: &Path, args: &[&str], cwd: Option<&Path>) -> Output {
    let mut c = Command::new(bin);
    c.args(args).stdin(Stdio::null());
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output().expect("spawn")
}

/// Runs `quorate`.
pub fn q(args: &[&str]) -> Output {
    run(Path::new(QUORATE), args, None)
}

pub fn q_in(dir: &Path, args: &[&str]) -> Output {
    run(Path::new(QUORATE), args, Some(dir))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts exit code `code` and that stdout or stderr mentions `want`.
pub fn exits(o: &Output, code: i32, want: &str) {
    let all = format!("{}{}", stdout(o), stderr(o));
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}; output:\n{all}"
    );
    assert!(
        all.contains(want),
        "output does not mention {want:?}:\n{all}"
    );
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One institute: a data dir with an initialised log, and a running node.
pub struct Institute {
    pub jurisdiction: String,
    pub origin: String,
    pub data: PathBuf,
    pub vkey: String,
    pub child: Child,
    pub url: String,
}

/// An initialised (not yet serving) institute: its data dir and log key.
pub struct Inited {
    pub jurisdiction: String,
    pub origin: String,
    pub data: PathBuf,
    pub vkey: String,
}

impl Inited {
    /// `quorate-node serve --listen 127.0.0.1:0`, with `config` (TOML text) if given.
    pub fn serve(self, config: Option<&str>) -> Institute {
        self.serve_env(config, &[])
    }

    /// [`Inited::serve`] with extra environment variables for the node.
    pub fn serve_env(self, config: Option<&str>, env: &[(String, String)]) -> Institute {
        let cfg = config.map(|c| {
            let p = self.data.with_extension("toml");
            std::fs::write(&p, c).unwrap();
            p
        });
        let (child, url) = serve(&self.data, cfg.as_deref(), env);
        Institute {
            jurisdiction: self.jurisdiction,
            origin: self.origin,
            data: self.data,
            vkey: self.vkey,
            child,
            url,
        }
    }
}

impl Institute {
    /// `quorate-node init` + `serve --listen 127.0.0.1:0`; `reviewers` are .pub files.
    pub fn start(root: &Path, jurisdiction: &str, reviewers: &[&Path]) -> Institute {
        Self::init(root, jurisdiction, reviewers).serve(None)
    }

    /// `quorate-node init` and the reviewers, without serving yet.
    pub fn init(root: &Path, jurisdiction: &str, reviewers: &[&Path]) -> Inited {
        let origin = format!("{}.test/quorate/log", jurisdiction.to_lowercase());
        let data = root.join(format!("node-{jurisdiction}"));
        let bin = node_bin();
        let out = run(
            &bin,
            &["init", "--data", s(&data), "--origin", &origin],
            None,
        );
        let vkey = ok(&out).trim().to_owned();
        for r in reviewers {
            ok(&run(
                &bin,
                &["reviewers", "add", "--data", s(&data), s(r)],
                None,
            ));
        }
        Inited {
            jurisdiction: jurisdiction.into(),
            origin,
            data,
            vkey,
        }
    }

    pub fn add_reviewer(&self, pubfile: &Path) {
        ok(&run(
            &node_bin(),
            &["reviewers", "add", "--data", s(&self.data), s(pubfile)],
            None,
        ));
    }

    pub fn policy_line(&self) -> String {
        format!(
            "review-log {} {} {}\n",
            self.jurisdiction, self.vkey, self.url
        )
    }
}

fn serve(data: &Path, config: Option<&Path>, env: &[(String, String)]) -> (Child, String) {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let mut cmd = Command::new(node_bin());
    cmd.args(["serve", "--data", s(data), "--listen", "127.0.0.1:0"]);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(c) = config {
        cmd.args(["--config", s(c)]);
    }
    spawn_listening(cmd, log, "quorate-node serve")
}

/// `quorate-node mirror` following `from` (a log with `vkey`), data in `data`, on a free
/// port; returns it and its `http://ADDR`.
pub fn start_mirror(from: &str, data: &Path, vkey: &str) -> (Child, String) {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let mut cmd = Command::new(node_bin());
    cmd.args(["mirror", "--from", from, "--data", s(data)])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-vkey",
            vkey,
            "--poll-ms",
            "100",
        ]);
    spawn_listening(cmd, log, "quorate-node mirror")
}

/// Spawns a server that prints `listening on ADDR` first on stdout; returns it and
/// `http://ADDR`. The rest of its stdout is drained; stderr goes to `log`.
fn spawn_listening(mut cmd: Command, log: std::fs::File, what: &str) -> (Child, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = Vec::new();
        let _ = r.read_to_end(&mut sink);
    });
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not start");
        }
    };
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?} from {what}"))
        .to_owned();
    (child, format!("http://{addr}"))
}

/// A standalone `quorate-witness` process witnessing the logs with `log_vkeys`.
pub struct WitnessProc {
    pub child: Child,
    pub url: String,
    pub vkey: String,
    pub data: PathBuf,
}

impl WitnessProc {
    pub fn start(root: &Path, name: &str, log_vkeys: &[&str]) -> WitnessProc {
        let data = root.join(format!("witness-{}", name.replace('/', "_")));
        let vkey = ok(&run(
            &witness_bin(),
            &["init", "--data", s(&data), "--name", name],
            None,
        ))
        .trim()
        .to_owned();
        let mut cmd = Command::new(witness_bin());
        cmd.args(["serve", "--data", s(&data), "--listen", "127.0.0.1:0"]);
        for k in log_vkeys {
            cmd.args(["--log", k]);
        }
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let (child, url) = spawn_listening(cmd, log, "quorate-witness serve");
        WitnessProc {
            child,
            url,
            vkey,
            data,
        }
    }

    /// `[[external_witness]]` configuration for a node that should ask this witness.
    pub fn node_config(&self) -> String {
        format!(
            "batch_delay_ms = 5\nwitness_quorum_wait_ms = 2000\n[[external_witness]]\nurl = {:?}\nvkey = {:?}\n",
            self.url, self.vkey
        )
    }
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Institute {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh temporary directory, removed on drop.
pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!(
            "quorate-e2e-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `quorate key generate --name NAME --out DIR`: returns (skey path, pub path).
pub fn reviewer(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    ok(&q(&["key", "generate", "--name", name, "--out", s(dir)]));
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// A v3 Cargo.lock of crates.io packages (name, version, 64-hex checksum).
pub fn lockfile(pkgs: &[(&str, &str, &str)]) -> String {
    let mut t = String::from("version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n");
    for (n, v, c) in pkgs {
        t.push_str(&format!(
            "[[package]]\nname = \"{n}\"\nversion = \"{v}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{c}\"\n\n"
        ));
    }
    t
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// `name -> (pass, certified_by)` from `check --json`.
pub fn verdicts(v: &serde_json::Value) -> std::collections::BTreeMap<String, (bool, Vec<String>)> {
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                format!(
                    "{}@{}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                ),
                (
                    p["pass"].as_bool().unwrap(),
                    p["certified_by"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|j| j.as_str().unwrap().to_owned())
                        .collect(),
                ),
            )
        })
        .collect()
}

/// A checkpoint for a forked history (`leaves` as its entries), signed with the log key
/// in the institute's data directory `data`: what an equivocating log would hand out.
/// Returns the log's signer too, for more forgeries.
pub fn forge_checkpoint(
    data: &Path,
    origin: &str,
    leaves: &[&[u8]],
) -> (quorate_proto::note::Signer, String) {
    let skey = std::fs::read_to_string(data.join("log.key")).unwrap();
    let signer = quorate_proto::note::Signer::from_skey(skey.trim()).unwrap();
    let mut fork = quorate_proto::merkle::MemoryLog::new();
    for l in leaves {
        fork.append(l);
    }
    let cp = quorate_proto::checkpoint::Checkpoint::new(
        origin,
        leaves.len() as u64,
        fork.root(),
        vec![],
    )
    .unwrap();
    let forged = quorate_proto::note::sign(&cp.to_text(), &[&signer]).unwrap();
    (signer, forged)
}

/// A 64-hex-digit digest of the byte `n` repeated.
pub fn d(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// The `leaf hash <hex>` line `quorate review` (and `withdraw`) print.
pub fn leaf_of(review_stdout: &str) -> String {
    review_stdout
        .lines()
        .find_map(|l| l.strip_prefix("leaf hash "))
        .unwrap()
        .trim()
        .to_owned()
}

/// Several institutes (one per jurisdiction), each with one registered reviewer.
pub struct Fed {
    _t: Tmp,
    pub dir: std::path::PathBuf,
    pub insts: Vec<Institute>,
    pub keys: Vec<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Fed {
    pub fn new(tag: &str, js: &[&str]) -> Fed {
        Fed::with(tag, js, |i| i.serve(None))
    }

    /// [`Fed::new`], each institute started by `serve` (its own config or environment).
    pub fn with(tag: &str, js: &[&str], serve: impl Fn(Inited) -> Institute) -> Fed {
        let t = Tmp::new(tag);
        let dir = t.path().to_path_buf();
        let mut insts = Vec::new();
        let mut keys = Vec::new();
        for j in js {
            let k = reviewer(&dir, &format!("rev-{}", j.to_lowercase()));
            insts.push(serve(Institute::init(&dir, j, &[&k.1])));
            keys.push(k);
        }
        Fed {
            _t: t,
            dir,
            insts,
            keys,
        }
    }

    /// Reviews `spec` at `digest` by jurisdiction `i` and submits it (proof verified).
    pub fn publish(&self, i: usize, spec: &str, digest: &str, extra: &[&str]) -> String {
        let tag = format!(
            "{}-{}",
            self.insts[i].jurisdiction,
            spec.replace(['/', '@'], "_")
        );
        let out = self.dir.join(format!("{tag}-{}.att", extra.len()));
        // `["--supersedes", LEAF, ...]` publishes a withdrawal (`quorate withdraw`).
        let args = match extra {
            ["--supersedes", leaf, rest @ ..] => {
                let mut a = vec![
                    "withdraw",
                    "--key",
                    s(&self.keys[i].0),
                    "--entry",
                    leaf,
                    "--package",
                    spec,
                    "--out",
                    s(&out),
                ];
                a.extend_from_slice(rest);
                a
            }
            _ => {
                let mut a = vec![
                    "review",
                    "--key",
                    s(&self.keys[i].0),
                    "--package",
                    spec,
                    "--digest",
                    digest,
                    "--criteria",
                    "safe-to-deploy",
                    "--out",
                    s(&out),
                ];
                a.extend_from_slice(extra);
                a
            }
        };
        let o = ok(&q(&args));
        if args[0] == "withdraw" {
            assert!(
                o.contains(" withdraws ") && !o.contains("certifies "),
                "{o}"
            );
        }
        ok(&q(&[
            "submit",
            "--node",
            &self.insts[i].url,
            "--log",
            &self.insts[i].vkey,
            s(&out),
        ]));
        leaf_of(&o)
    }

    pub fn policy(&self, head: &str, k: usize, tail: &str) -> std::path::PathBuf {
        let mut t = head.to_owned();
        for i in &self.insts {
            t.push_str(&i.policy_line());
        }
        t.push_str(&format!("review-quorum {k}\n{tail}"));
        let p = self.dir.join(format!("k{k}-{}.policy", t.len()));
        std::fs::write(&p, t).unwrap();
        p
    }
}
