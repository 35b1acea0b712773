//! `quorate-node mirror`, real processes on 127.0.0.1: it follows a node, serves the same
//! read path (checked by an independent tlog-tiles reader), catches up incrementally
//! and across its own restarts, refuses a wrong key; when the followed log forks (a copy
//! of its data directory signs another history on the same URL) the mirror stores and
//! serves verifying evidence, stops following, keeps serving what it verified, and its
//! store passes `quorate-node verify`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use quorate_proto::equivocation::Equivocation;

/// A running `quorate-node mirror`, killed on drop.
struct Mirror {
    child: Child,
    addr: SocketAddr,
}

impl Mirror {
    fn start(from: &str, dir: &Path, vkey: &str) -> Mirror {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.with_extension("log"))
            .unwrap();
        let mut child = Command::new(BIN)
            .args(["mirror", "--from", from, "--data"])
            .arg(dir)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-vkey",
                vkey,
                "--poll-ms",
                "100",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawning quorate-node mirror");
        let rx = quorate_node::fedbench::first_stdout_line(child.stdout.take().unwrap());
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("mirror did not start: {}", log_of(dir)));
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}: {}", log_of(dir)))
            .parse()
            .unwrap();
        Mirror { child, addr }
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
}

/// Waits (at most 60 s) until the mirror serves `note`.
fn wait_for(m: &Mirror, note: &str, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = get(m.addr, "/checkpoint");
        if r.status == 200 && r.text() == note {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mirror never served the node's checkpoint; mirror log:\n{}",
            log_of(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn submit(addr: SocketAddr, k: &ed25519_dalek::SigningKey, tag: &str, n: usize) {
    let envs: Vec<Vec<u8>> = (0..n)
        .map(|i| envelope(k, &format!("{tag}{i}"), "1.0.0", ""))
        .collect();
    let r = post(addr, "application/x-quorate-batch", &batch_body(&envs));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn mirror_follows_verifies_serves_and_keeps_evidence_of_a_fork() {
    let log = Log::init();
    let k = reviewer_key(5);
    log.add_reviewer(&k);
    let port = quorate_node::fedbench::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}");
    let mut node = Node::start_with(&log, None, &["--listen", &listen], &[]);
    submit(node.addr, &k, "a", 300);
    // What an equivocating operator keeps: a copy of the data directory at size 300,
    // from which it will later sign another history with the same key.
    assert_eq!(node.terminate().code(), Some(0));
    let fork_tmp = tempfile::tempdir().unwrap();
    let fork_dir = fork_tmp.path().join("data");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&log.dir)
        .arg(&fork_dir)
        .status()
        .unwrap();
    assert!(st.success());
    let mut node = Node::start_with(&log, None, &["--listen", &listen], &[]);

    let mdir = log.tmp.path().join("mirror");
    let m = Mirror::start(&url, &mdir, &log.vkey);
    let (size, root, note) = latest(&log, node.addr);
    wait_for(&m, &note, &mdir);
    let entries = verify_tiles(m.addr, size, &root);
    assert_eq!(entries.len(), 300);
    let h = get(m.addr, "/healthz").json();
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["size"], 300, "{h}");

    // Incremental: a few more (the partial tile grows), then the mirror restarts.
    submit(node.addr, &k, "b", 5);
    let (_, _, note) = latest(&log, node.addr);
    wait_for(&m, &note, &mdir);
    drop(m);
    submit(node.addr, &k, "c", 5);
    let m = Mirror::start(&url, &mdir, &log.vkey);
    let (size, root, note) = latest(&log, node.addr);
    wait_for(&m, &note, &mdir);
    let mirrored = verify_tiles(m.addr, size, &root);
    assert_eq!(mirrored.len(), 310);

    // The same directory cannot be pointed at another log.
    drop(m);
    let other = Log::init();
    let o = Command::new(BIN)
        .args(["mirror", "--from", &url, "--data"])
        .arg(&mdir)
        .args(["--listen", "127.0.0.1:0", "--log-vkey", &other.vkey])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("use another --data directory"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The fork: the copy at size 300 logs other entries at the same URL.
    let m = Mirror::start(&url, &mdir, &log.vkey);
    wait_for(&m, &note, &mdir);
    assert_eq!(node.terminate().code(), Some(0));
    let fork_log = Log {
        tmp: fork_tmp,
        dir: fork_dir,
        vkey: log.vkey.clone(),
    };
    let fork = Node::start_with(&fork_log, None, &["--listen", &listen], &[]);
    submit(fork.addr, &k, "fork", 20);
    let deadline = Instant::now() + Duration::from_secs(60);
    let ev = loop {
        let r = get(m.addr, "/v1/equivocations");
        let list = r.json();
        if let Some(t) = list
            .as_array()
            .and_then(|a| a.first())
            .and_then(|t| t.as_str())
        {
            break t.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no evidence; mirror log:\n{}",
            log_of(&mdir)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let parsed = Equivocation::parse(ev.as_bytes()).unwrap();
    let v = parsed.verify(&log.verifier()).expect("evidence verifies");
    assert_eq!(v.first().checkpoint().size(), 310);
    assert_eq!(v.second().checkpoint().size(), 320);
    let other_key = Log::init();
    assert!(parsed.verify(&other_key.verifier()).is_err());
    let h = get(m.addr, "/healthz").json();
    assert_eq!(h["status"], "evidence", "{h}");
    // It keeps serving what it verified, not the fork.
    assert_eq!(get(m.addr, "/checkpoint").text(), note);
    verify_tiles(m.addr, 310, &root);

    // Restarted, it does not follow again and still serves the evidence.
    drop(m);
    let m = Mirror::start(&url, &mdir, &log.vkey);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(m.addr, "/checkpoint").text(), note);
    assert_eq!(get(m.addr, "/v1/equivocations").json()[0], ev.as_str());
    drop(m);
    drop(fork);

    // The mirror's store is a store like a node's: `verify` audits it.
    let out = run(&["verify", "--data", mdir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: 310 entries re-hashed"));
}
