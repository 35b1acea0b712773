//! Interoperability with Go's golang.org/x/mod/sumdb/note, the reference signed-note
//! implementation, in both directions: keys and notes made by either side are read by
//! the other. Needs `go` and Debian's golang-golang-x-mod-dev (`.ci/run` installs both);
//! without them the test prints SKIP, unless QUORATE_REQUIRE_GO=1 makes that a failure.

#[path = "../../proto/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn run(bin: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn notes_and_keys_interoperate_with_go_in_both_directions() {
    let dir = std::env::temp_dir().join(format!("quorate-go-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/notetool.go");
    let Some(go) = common::build_go(&src, &dir, "sumdb/note") else {
        return;
    };
    let quorate = PathBuf::from(env!("CARGO_BIN_EXE_quorate"));
    let text = b"example.org/quorate/log-de\n7\nO6Jv87I6WquFgniHoyMxMBHvgh7vqaMBpefpTIUu6Io=\n";

    // Go makes the key and signs; Quorate verifies, and signs identically with Go's skey.
    let keys = stdout_ok(
        "go generate",
        run(&go, &["generate", "go.example/log"], b""),
    );
    let mut lines = keys.lines();
    let (go_skey, go_vkey) = (lines.next().unwrap(), lines.next().unwrap());
    let go_note = stdout_ok("go sign", run(&go, &["sign", go_skey], text));
    let verified = stdout_ok(
        "quorate verify of Go's note",
        run(
            &quorate,
            &["note", "verify", "--key", go_vkey],
            go_note.as_bytes(),
        ),
    );
    assert_eq!(verified.as_bytes(), text);
    let skey_file = dir.join("go.key");
    {
        // Secret key files must be 0600: every tool refuses one that others can read.
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(&skey_file);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&skey_file)
            .unwrap();
        f.write_all(go_skey.as_bytes()).unwrap();
    }
    let our_note = stdout_ok(
        "quorate sign with Go's key",
        run(
            &quorate,
            &["note", "sign", "--key", skey_file.to_str().unwrap()],
            text,
        ),
    );
    assert_eq!(
        our_note, go_note,
        "same key, same text: byte-identical notes"
    );

    // Quorate makes the key and signs; Go verifies, and signs identically with our skey.
    let out = dir.join("keys");
    std::fs::create_dir_all(&out).unwrap();
    let our_vkey = stdout_ok(
        "quorate key generate",
        run(
            &quorate,
            &[
                "key",
                "generate",
                "--name",
                "quorate.example/log",
                "--out",
                out.to_str().unwrap(),
            ],
            b"",
        ),
    );
    let our_skey_file = out.join("quorate.example_log.key");
    let our_skey = std::fs::read_to_string(&our_skey_file).unwrap();
    let our_note = stdout_ok(
        "quorate sign",
        run(
            &quorate,
            &["note", "sign", "--key", our_skey_file.to_str().unwrap()],
            text,
        ),
    );
    let go_verified = stdout_ok(
        "go verify of our note",
        run(&go, &["verify", our_vkey.trim()], our_note.as_bytes()),
    );
    assert_eq!(go_verified.as_bytes(), text);
    let go_note = stdout_ok(
        "go sign with our key",
        run(&go, &["sign", our_skey.trim()], text),
    );
    assert_eq!(go_note, our_note);

    // Both reject a note whose text was changed after signing.
    let tampered = our_note.replacen("\n7\n", "\n8\n", 1);
    assert!(
        !run(&go, &["verify", our_vkey.trim()], tampered.as_bytes())
            .status
            .success()
    );
    assert!(
        !run(
            &quorate,
            &["note", "verify", "--key", our_vkey.trim()],
            tampered.as_bytes()
        )
        .status
        .success()
    );

    // Two signers: Go adds its signature to a note Quorate signed; Quorate reads both.
    let both = stdout_ok(
        "go verify",
        run(
            &go,
            &["verify", our_vkey.trim(), go_vkey],
            our_note.as_bytes(),
        ),
    );
    assert_eq!(both.as_bytes(), text);
    std::fs::remove_dir_all(&dir).unwrap();
}
