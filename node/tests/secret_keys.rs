//! Secret key files: `quorate-node` refuses a log or witness key that group or others can
//! access (as ssh does), naming the file, its mode and the fix; a 0600 key is accepted.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `quorate-node serve` and expects it to exit by itself within 30 s with a failure;
/// returns its stderr. A node that starts serving is killed and the test fails.
fn serve_must_refuse(log: &Log) -> String {
    let mut child = Command::new(BIN)
        .args(["serve", "--data", log.data(), "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning quorate-node serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(!status.success(), "serve exited 0");
            return String::from_utf8_lossy(&out.stderr).into_owned();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("quorate-node serve started on a group/world-readable key");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_names_mode_and_fix(msg: &str, file: &Path, mode: &str) {
    let f = file.display().to_string();
    assert!(
        msg.contains(&f) && msg.contains(mode) && msg.contains(&format!("chmod 600 {f}")),
        "message does not name {f}, mode {mode} and the chmod fix:\n{msg}"
    );
}

#[test]
fn world_readable_log_key_is_refused_and_0600_is_served() {
    let log = Log::init();
    let key = log.dir.join("log.key");
    chmod(&key, 0o644);
    let err = serve_must_refuse(&log);
    assert_names_mode_and_fix(&err, &key, "0644");
    // Group-readable is refused too.
    chmod(&key, 0o640);
    assert_names_mode_and_fix(&serve_must_refuse(&log), &key, "0640");
    // The fix the message gives works.
    chmod(&key, 0o600);
    let node = log.start(None);
    assert_eq!(get(node.addr, "/healthz").status, 200);
}

#[test]
fn group_readable_witness_key_is_refused() {
    let log = Log::init();
    let wkey = log.dir.join("witness.key");
    chmod(&wkey, 0o640);
    let out = run(&["id", "--data", log.data()]);
    assert!(
        !out.status.success(),
        "id read a group-readable witness key"
    );
    assert_names_mode_and_fix(&String::from_utf8_lossy(&out.stderr), &wkey, "0640");
    chmod(&wkey, 0o600);
    let id = run_ok(&["id", "--data", log.data()]);
    assert!(id.contains(ORIGIN), "{id}");
}
