//! The `quorate-witness` binary as a real process: init, serve (with --log and --config),
//! SIGKILL right after cosigning and restart, graceful SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::proc::{BIN, init, serve, wait_exit};
use common::{TempDir, TestLog, body, http};
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::equivocation::Equivocation;

fn assert_cosigned(
    r: &common::RawResponse,
    log: &TestLog,
    witness: &CosignatureVerifier,
    note: &[u8],
) {
    assert_eq!(r.status, 200, "{}", r.text());
    let mut all = note.to_vec();
    all.extend_from_slice(&r.body);
    verify_checkpoint(&all, &log.signer.verifier(), std::slice::from_ref(witness))
        .unwrap()
        .require_witnesses(1)
        .unwrap();
}

#[test]
fn init_makes_a_private_key_and_never_overwrites_it() {
    let dir = TempDir::new("init");
    let data = dir.path().join("w");
    let v = init(&data, "witness.example/p1");
    assert_eq!(
        quorate_proto::note::NoteVerifier::name(&v),
        "witness.example/p1"
    );
    let key = data.join("witness.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(data.join("witness.redb").is_file());
    let before = std::fs::read(&key).unwrap();
    let out = Command::new(BIN)
        .args(["init", "--data"])
        .arg(&data)
        .args(["--name", "witness.example/p2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // Serving without init fails cleanly.
    let out = Command::new(BIN)
        .args(["serve", "--data"])
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("init"));
}

#[test]
fn sigkill_right_after_cosigning_loses_nothing() {
    let dir = TempDir::new("crash");
    let data = dir.path().join("w");
    let witness = init(&data, "witness.example/crash");
    let mut log = TestLog::new("log.example/crash", 11);
    let mut second = TestLog::new("log.example/second", 12);
    // One log by literal vkey, one by a .pub file named in a TOML config.
    let pub_path = dir.path().join("second.pub");
    std::fs::write(&pub_path, format!("{}\n", second.vkey())).unwrap();
    let cfg = dir.path().join("witness.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[log]]\norigin = \"{}\"\nvkey = \"{}\"\n",
            second.origin(),
            pub_path.display()
        ),
    )
    .unwrap();
    let vkey = log.vkey();
    let cfg_s = cfg.to_str().unwrap();
    let args = ["--log", vkey.as_str(), "--config", cfg_s];

    second.grow(2, "s");
    let mut fork = None;
    // Several rounds: cosign, SIGKILL at once, restart, check.
    for round in 0..4 {
        let p = serve(&data, &args);
        let old = log.size();
        log.grow(3 + round, "honest");
        if round == 2 {
            // Remember a fork that diverges from what is about to be cosigned.
            let mut f = TestLog::fork_of(&log, 11);
            f.tree = quorate_proto::merkle::MemoryLog::new();
            f.grow(log.size() as usize, "evil");
            fork = Some(f);
        }
        let r = http(p.addr, "POST", "/add-checkpoint", &log.body_from(old));
        let mut p = p;
        p.child.kill().unwrap(); // SIGKILL, right after the 200 arrived
        p.child.wait().unwrap();
        assert_cosigned(&r, &log, &witness, &log.checkpoint());
        if round == 0 {
            let p2 = serve(&data, &args);
            let r = http(p2.addr, "POST", "/add-checkpoint", &second.body_from(0));
            assert_cosigned(&r, &second, &witness, &second.checkpoint());
        }
    }

    // After the last crash: the state is intact.
    let p = serve(&data, &args);
    let size = log.size();
    let r = http(p.addr, "POST", "/add-checkpoint", &log.body_from(0));
    assert_eq!((r.status, r.text()), (409, format!("{size}\n")));
    let r = http(p.addr, "POST", "/add-checkpoint", &second.body_from(0));
    assert_eq!((r.status, r.text().as_str()), (409, "2\n"));
    // A checkpoint inconsistent with what was cosigned before the crash is refused.
    let mut fork = fork.unwrap();
    fork.grow((size - fork.size()) as usize, "evil");
    assert_eq!(fork.size(), size);
    let r = http(p.addr, "POST", "/add-checkpoint", &fork.body_from(size));
    assert_eq!(r.status, 409, "{}", r.text());
    fork.grow(5, "evil");
    let r = http(p.addr, "POST", "/add-checkpoint", &fork.body_from(size));
    assert_eq!(r.status, 403, "already flagged: {}", r.text());
    let r = http(p.addr, "GET", "/v1/equivocations", b"");
    let list: Vec<String> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(list.len(), 1);
    Equivocation::parse(list[0].as_bytes())
        .unwrap()
        .verify(&log.signer.verifier())
        .unwrap();
    drop(p);

    // The flag and the evidence survive a restart; the other log is unaffected.
    let p = serve(&data, &args);
    log.grow(1, "honest");
    let r = http(p.addr, "POST", "/add-checkpoint", &log.body_from(size));
    assert_eq!(r.status, 403, "{}", r.text());
    second.grow(4, "s");
    let r = http(p.addr, "POST", "/add-checkpoint", &second.body_from(2));
    assert_cosigned(&r, &second, &witness, &second.checkpoint());
}

#[test]
fn a_fork_after_restart_with_a_proof_is_refused() {
    let dir = TempDir::new("restart");
    let data = dir.path().join("w");
    let witness = init(&data, "witness.example/restart");
    let mut log = TestLog::new("log.example/r", 13);
    let vkey = log.vkey();
    let args = ["--log", vkey.as_str()];
    log.grow(6, "shared");
    let mut fork = TestLog::fork_of(&log, 13);
    log.grow(4, "honest");
    let mut p = serve(&data, &args);
    let r = http(p.addr, "POST", "/add-checkpoint", &log.body_from(0));
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    assert_cosigned(&r, &log, &witness, &log.checkpoint());
    drop(p);

    let p = serve(&data, &args);
    fork.grow(9, "evil");
    // The fork's own consistency proof from 10 to 15 does not match the cosigned root.
    let r = http(p.addr, "POST", "/add-checkpoint", &fork.body_from(10));
    assert_eq!(r.status, 422, "{}", r.text());
    // Presenting the fork as a first contact does not work either.
    let r = http(
        p.addr,
        "POST",
        "/add-checkpoint",
        &body(0, &[], &fork.checkpoint()),
    );
    assert_eq!(r.status, 403, "flagged after the 422 produced evidence");
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let dir = TempDir::new("term");
    let data = dir.path().join("w");
    init(&data, "witness.example/term");
    let mut p = serve(&data, &[]);
    assert_eq!(http(p.addr, "GET", "/healthz", b"").text(), "ok\n");
    let ok = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = wait_exit(&mut p.child, Duration::from_secs(20)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// A witness key that group or others can read is refused at start (as ssh does), with
/// the file, its mode and the fix in the message; 0600 starts.
#[test]
fn serve_refuses_a_group_or_world_readable_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("keymode");
    let data = dir.path().join("w");
    init(&data, "witness.example/k1");
    let key = data.join("witness.key");
    for mode in [0o644, 0o640] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--data"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let Some(status) = wait_exit(&mut child, Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("quorate-witness served with a {mode:04o} key");
        };
        assert!(!status.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let k = key.display().to_string();
        assert!(
            err.contains(&format!("{k} has mode {mode:04o}"))
                && err.contains(&format!("chmod 600 {k}")),
            "{err}"
        );
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = serve(&data, &[]);
    let r = http(p.addr, "GET", "/healthz", b"");
    assert_eq!(r.status, 200);
}

/// Half-open connections are closed after `--header-read-timeout-ms` (the witness serves
/// with the same bounded accept loop as the node), and a normal request still works.
#[test]
fn half_open_connections_are_closed() {
    use std::io::{Read, Write};
    let dir = TempDir::new("slowloris");
    let data = dir.path().join("w");
    init(&data, "witness.example/s1");
    let p = serve(&data, &["--header-read-timeout-ms", "500"]);
    let mut held: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(p.addr).unwrap();
            s.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\n")
                .unwrap();
            s
        })
        .collect();
    assert_eq!(http(p.addr, "GET", "/healthz", b"").status, 200);
    for (i, s) in held.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("connection {i} still open: {e}"),
            }
        }
    }
}
