//! The standalone witness cosigning a log that is not Quorate's: Go's checksum database
//! shape (origin `go.sum database tree`, key name `sum.golang.org`), driven by a request
//! built with Go's own golang.org/x/mod/sumdb/note and sumdb/tlog, its cosignatures
//! checked in Go with crypto/ed25519 against the C2SP tlog-cosignature spec alone
//! (`tests/go/gowitness.go`). Also key rotation (several keys per origin) on the real
//! process. Needs `go` and golang-golang-x-mod-dev (`.ci/run` installs both); without them
//! the test prints SKIP, unless QUORATE_REQUIRE_GO=1 makes that a failure.

mod common;
#[path = "../../proto/tests/common/mod.rs"]
mod shared;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;
use common::proc::{init, serve};
use quorate_proto::note::NoteVerifier as _;

const ORIGIN: &str = "go.sum database tree";

fn go_tool(dir: &Path) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/gowitness.go");
    shared::build_go(&src, dir, "sumdb/tlog")
}

fn keygen(tool: &Path, file: &Path) -> String {
    let out = Command::new(tool)
        .arg("keygen")
        .arg(file)
        .arg("sum.golang.org")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn drive(tool: &Path, url: &str, witness: &str, old: u64, keys: &[&Path], sizes: &[u64]) -> Output {
    let keys: Vec<String> = keys.iter().map(|k| k.display().to_string()).collect();
    Command::new(tool)
        .args(["drive", url, witness, &old.to_string(), &keys.join(",")])
        .args(sizes.iter().map(u64::to_string))
        .output()
        .unwrap()
}

fn config(dir: &Path, vkeys: &[&str]) -> PathBuf {
    let mut toml = String::new();
    for v in vkeys {
        toml.push_str(&format!("[[log]]\norigin = {ORIGIN:?}\nvkey = {v:?}\n"));
    }
    let p = dir.join("logs.toml");
    std::fs::write(&p, toml).unwrap();
    p
}

#[test]
fn witness_cosigns_a_go_sumdb_shaped_log_across_a_key_rotation() {
    let dir = TempDir::new("gointerop");
    let Some(tool) = go_tool(dir.path()) else {
        return;
    };
    let (old_key, new_key, stranger) = (
        dir.path().join("old.skey"),
        dir.path().join("new.skey"),
        dir.path().join("stranger.skey"),
    );
    let old_vkey = keygen(&tool, &old_key);
    let new_vkey = keygen(&tool, &new_key);
    keygen(&tool, &stranger);
    let data = dir.path().join("w");
    let wv = init(&data, "witness.example/go");
    let wvkey = quorate_proto::cosignature::CosignatureVerifier::vkey(&wv);
    assert!(wv.name() == "witness.example/go");

    // Configured with the old key only: origin from configuration, not the key name.
    let cfg = config(dir.path(), &[&old_vkey]);
    {
        let p = serve(&data, &["--config", cfg.to_str().unwrap()]);
        let url = format!("http://{}", p.addr);
        let out = drive(&tool, &url, &wvkey, 0, &[&old_key], &[3, 10, 37]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok 3\nok 10\nok 37\n");
        // The new key is not configured yet: 403, and nothing is recorded.
        let out = drive(&tool, &url, &wvkey, 37, &[&new_key], &[40]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("status 403"));
    }

    // Rotation overlap: both keys listed; the old alone, the new alone and both verify.
    let cfg = config(dir.path(), &[&old_vkey, &new_vkey]);
    {
        let p = serve(&data, &["--config", cfg.to_str().unwrap()]);
        let url = format!("http://{}", p.addr);
        for (old, keys, size) in [
            (37, vec![old_key.as_path()], 50),
            (50, vec![new_key.as_path()], 64),
            (64, vec![old_key.as_path(), new_key.as_path()], 100),
        ] {
            let out = drive(&tool, &url, &wvkey, old, &keys, &[size]);
            assert!(
                out.status.success(),
                "size {size}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Neither: a key of the same name that was never configured.
        let out = drive(&tool, &url, &wvkey, 100, &[&stranger], &[120]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("status 403") && err.contains("no signature from a known key"),
            "{err}"
        );
    }

    // The old key retired: its signatures no longer count, the state (size 100) is kept.
    let cfg = config(dir.path(), &[&new_vkey]);
    let p = serve(&data, &["--config", cfg.to_str().unwrap()]);
    let url = format!("http://{}", p.addr);
    let out = drive(&tool, &url, &wvkey, 100, &[&old_key], &[130]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("status 403"));
    let out = drive(&tool, &url, &wvkey, 100, &[&new_key], &[130]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The other direction: a cosignature/v1 made outside Rust (Go, crypto/ed25519, from the
/// spec text alone) verified by Quorate; and Quorate's cosignature over a Quorate
/// checkpoint verified by that Go code (`gowitness verify`).
#[test]
fn cosignatures_made_and_checked_outside_rust() {
    use quorate_proto::checkpoint::verify_checkpoint;
    use quorate_proto::cosignature::{CosignatureSigner, CosignatureVerifier};
    use quorate_proto::note;

    let dir = TempDir::new("gocosig");
    let Some(tool) = go_tool(dir.path()) else {
        return;
    };
    let log = common::TestLog::new("example.org/quorate-log", 4);
    let mut log = log;
    log.grow(9, "x");
    let signed = String::from_utf8(log.checkpoint()).unwrap();
    let note_file = dir.path().join("cp.note");
    std::fs::write(&note_file, &signed).unwrap();

    // Go cosigns; Quorate verifies.
    let out = Command::new(&tool)
        .args(["cosign", "go-witness.example/w", &"ab".repeat(32)])
        .arg(&note_file)
        .arg("1700000123")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (vkey, line) = stdout.split_once('\n').unwrap();
    let gv = CosignatureVerifier::from_vkey(vkey).unwrap();
    let with_go = format!("{signed}{line}");
    let v = verify_checkpoint(
        with_go.as_bytes(),
        &log.signer.verifier(),
        std::slice::from_ref(&gv),
    )
    .unwrap();
    assert_eq!(v.cosignatures().len(), 1);
    assert_eq!(v.cosignatures()[0].timestamp(), 1_700_000_123);
    // The same key made in Rust from the same seed has the same vkey.
    let rust_twin = CosignatureSigner::generate("go-witness.example/w", [0xab; 32]).unwrap();
    assert_eq!(rust_twin.vkey(), vkey);
    // A flipped bit in Go's signature is refused.
    let (head, b64) = line.trim_end().rsplit_once(' ').unwrap();
    let mut raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
    raw[20] ^= 1;
    let bad = format!(
        "{signed}{head} {}\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw)
    );
    assert!(verify_checkpoint(bad.as_bytes(), &log.signer.verifier(), &[gv]).is_err());

    // Quorate cosigns; Go verifies from the spec.
    let w = CosignatureSigner::generate("quorate-witness.example/w", [0x5c; 32]).unwrap();
    let text = &signed[..signed.rfind("\n\n").unwrap() + 1];
    let sig = w.cosign(text, 1_700_000_456).unwrap();
    let both = note::add_signatures(&signed, &[sig]).unwrap();
    std::fs::write(&note_file, &both).unwrap();
    let out = Command::new(&tool)
        .args(["verify", &w.vkey()])
        .arg(&note_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok 1700000456\n");
    // Go refuses a tampered checkpoint text under Quorate's cosignature.
    std::fs::write(&note_file, both.replacen("\n9\n", "\n8\n", 1)).unwrap();
    let out = Command::new(&tool)
        .args(["verify", &w.vkey()])
        .arg(&note_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
}
