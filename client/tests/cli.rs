//! The `quorate` binary driven as a user would: real files, real exit codes.

#[path = "../../proto/tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn quorate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quorate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quorate");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            // A command that refuses before reading its input (a bad key file) may have
            // exited already: the broken pipe is not the test's concern, its output is.
            if let Err(e) = input.write_all(data) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            }
        }
    }
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "quorate failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fails(out: &Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success");
    assert!(
        err.contains(want),
        "stderr {err:?} does not mention {want:?}"
    );
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quorate-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn key_generate_sign_verify_round_trip() {
    let d = tmp("roundtrip");
    let vkey = ok(&quorate(
        &["key", "generate", "--name", "alice", "--out", s(&d)],
        None,
    ));
    assert!(vkey.starts_with("alice+"));
    assert_eq!(std::fs::read_to_string(d.join("alice.pub")).unwrap(), vkey);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("alice.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwrites.
    fails(
        &quorate(
            &["key", "generate", "--name", "alice", "--out", s(&d)],
            None,
        ),
        "already exists",
    );

    let text = b"hello, reviewers\n";
    let signed = ok(&quorate(
        &["note", "sign", "--key", s(&d.join("alice.key"))],
        Some(text),
    ));
    assert!(signed.starts_with("hello, reviewers\n\n\u{2014} alice "));
    let note = d.join("hello.note");
    std::fs::write(&note, &signed).unwrap();
    // Key given as a file and as literal text.
    for key in [s(&d.join("alice.pub")).to_string(), vkey.trim().to_string()] {
        let out = quorate(&["note", "verify", "--key", &key, s(&note)], None);
        assert_eq!(ok(&out), "hello, reviewers\n");
        assert!(String::from_utf8_lossy(&out.stderr).contains("signed by alice+"));
    }
    // Standard input works too.
    assert_eq!(
        ok(&quorate(
            &["note", "verify", "--key", vkey.trim(), "-"],
            Some(signed.as_bytes())
        )),
        "hello, reviewers\n"
    );

    // Tampered text, wrong key, garbage key: failures that say what went wrong.
    let tampered = signed.replace("hello", "HELLO");
    fails(
        &quorate(
            &["note", "verify", "--key", vkey.trim()],
            Some(tampered.as_bytes()),
        ),
        "invalid signature by known key alice+",
    );
    ok(&quorate(
        &["key", "generate", "--name", "mallory", "--out", s(&d)],
        None,
    ));
    fails(
        &quorate(
            &[
                "note",
                "verify",
                "--key",
                s(&d.join("mallory.pub")),
                s(&note),
            ],
            None,
        ),
        "no signature from a known key",
    );
    fails(
        &quorate(&["note", "verify", "--key", "alice+zzzz", s(&note)], None),
        "alice+zzzz",
    );
    fails(
        &quorate(&["note", "verify", "--key", vkey.trim()], Some(b"")),
        "verifying",
    );
    fails(
        &quorate(
            &["note", "verify", "--key", vkey.trim()],
            Some(&[0xff, 0xfe, b'\n']),
        ),
        "UTF-8",
    );
    // Text without a final newline cannot be signed.
    fails(
        &quorate(
            &["note", "sign", "--key", s(&d.join("alice.key"))],
            Some(b"no newline"),
        ),
        "newline",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn checkpoint_verify_counts_trusted_witnesses() {
    let d = tmp("checkpoint");
    let log = "example.org/log";
    ok(&quorate(
        &["key", "generate", "--name", log, "--out", s(&d)],
        None,
    ));
    for w in ["w1.example", "w2.example"] {
        ok(&quorate(
            &["key", "generate", "--witness", "--name", w, "--out", s(&d)],
            None,
        ));
    }
    let body = format!(
        "{log}\n42\n{}\n",
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
    let signed = ok(&quorate(
        &["note", "sign", "--key", s(&d.join("example.org_log.key"))],
        Some(body.as_bytes()),
    ));
    let cp0 = d.join("cp0");
    std::fs::write(&cp0, &signed).unwrap();
    let log_pub = d.join("example.org_log.pub");
    let mut cur = cp0.clone();
    for (i, w) in ["w1.example", "w2.example"].iter().enumerate() {
        let out = ok(&quorate(
            &[
                "checkpoint",
                "cosign",
                "--key",
                s(&d.join(format!("{w}.key"))),
                "--log",
                s(&log_pub),
                "--time",
                "1700000000",
                s(&cur),
            ],
            None,
        ));
        cur = d.join(format!("cp{}", i + 1));
        std::fs::write(&cur, out).unwrap();
    }
    let w1 = d.join("w1.example.pub");
    let w2 = d.join("w2.example.pub");
    let out = ok(&quorate(
        &[
            "checkpoint",
            "verify",
            "--log",
            s(&log_pub),
            "--witness",
            s(&w1),
            "--witness",
            s(&w2),
            "--min-witnesses",
            "2",
            s(&cur),
        ],
        None,
    ));
    assert!(out.contains("origin: example.org/log\nsize: 42\n"), "{out}");
    assert!(out.contains("cosigned: w1.example+"), "{out}");
    assert!(out.contains("2023-11-14T22:13:20Z"), "{out}");
    assert!(out.contains("witnesses: 2 of 2"), "{out}");
    // Only one of them trusted: quorum of 2 fails, naming the numbers.
    fails(
        &quorate(
            &[
                "checkpoint",
                "verify",
                "--log",
                s(&log_pub),
                "--witness",
                s(&w1),
                "--min-witnesses",
                "2",
                s(&cur),
            ],
            None,
        ),
        "1 valid witness cosignatures, 2 required",
    );
    // A witness key given as the log key is refused by kind.
    fails(
        &quorate(&["checkpoint", "verify", "--log", s(&w1), s(&cur)], None),
        "witness key",
    );
    // A body that is not a checkpoint.
    let not_cp = ok(&quorate(
        &["note", "sign", "--key", s(&d.join("example.org_log.key"))],
        Some(b"example.org/log\nnot a number\nxx\n"),
    ));
    std::fs::write(d.join("bad"), not_cp).unwrap();
    fails(
        &quorate(
            &[
                "checkpoint",
                "verify",
                "--log",
                s(&log_pub),
                s(&d.join("bad")),
            ],
            None,
        ),
        "tree size",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// Go's own outputs (shared/vectors/signed-note.json) verify with the CLI, and the CLI
/// signs byte-identically to Go with the same keys (Ed25519 is deterministic).
#[test]
fn signed_note_vectors_through_the_cli() {
    let Some(path) = common::shared_file("vectors/signed-note.json") else {
        return;
    };
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let d = tmp("vectors");
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        let note = case["note"].as_str().unwrap();
        let mut args = vec!["note".to_string(), "verify".to_string()];
        for k in case["verify_with"].as_array().unwrap() {
            args.push("--key".into());
            args.push(k.as_str().unwrap().into());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = quorate(&argv, Some(note.as_bytes()));
        let name = case["name"].as_str().unwrap();
        if case["valid"].as_bool().unwrap() {
            assert_eq!(ok(&out), case["text"].as_str().unwrap(), "{name}");
        } else {
            assert!(!out.status.success(), "{name}: accepted an invalid note");
        }
        checked += 1;
    }
    assert!(checked > 0);
    // Re-sign the single-signature case with Go's skey through the CLI.
    let key = &v["keys"][0];
    let case = &v["cases"][0];
    let skey = d.join("go.key");
    write_secret(&skey, key["skey"].as_str().unwrap());
    let ours = ok(&quorate(
        &["note", "sign", "--key", s(&skey)],
        Some(case["text"].as_str().unwrap().as_bytes()),
    ));
    assert_eq!(ours, case["note"].as_str().unwrap());
    std::fs::remove_dir_all(&d).unwrap();
}

/// Secret keys readable by group or others are refused by every command that signs
/// (as ssh does), with the file, its mode and the `chmod 600` fix; 0600 works.
#[test]
fn group_or_world_readable_secret_keys_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp("keymode");
    ok(&quorate(
        &["key", "generate", "--name", "bob", "--out", s(&d)],
        None,
    ));
    ok(&quorate(
        &[
            "key",
            "generate",
            "--witness",
            "--name",
            "w.example",
            "--out",
            s(&d),
        ],
        None,
    ));
    let rkey = d.join("bob.key");
    let wkey = d.join("w.example.key");
    let chmod =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    chmod(&rkey, 0o644);
    chmod(&wkey, 0o604);
    let refused = |out: &Output, key: &Path, mode: &str| {
        fails(out, &format!("{} has mode {mode}", key.display()));
        fails(out, &format!("chmod 600 {}", key.display()));
    };
    refused(
        &quorate(&["note", "sign", "--key", s(&rkey)], Some(b"x\n")),
        &rkey,
        "0644",
    );
    let att = d.join("x.att");
    refused(
        &quorate(
            &[
                "review",
                "--key",
                s(&rkey),
                "--package",
                "crates.io/x@1.0.0",
                "--digest",
                "unknown",
                "--criteria",
                "safe-to-deploy",
                "--out",
                s(&att),
            ],
            None,
        ),
        &rkey,
        "0644",
    );
    assert!(!att.exists(), "nothing may be signed with a refused key");
    let audits = d.join("audits.toml");
    std::fs::write(&audits, "[audits]\n").unwrap();
    refused(
        &quorate(
            &[
                "import",
                "cargo-vet",
                s(&audits),
                "--key",
                s(&rkey),
                "--org",
                "o",
                "--out",
                s(&d.join("out")),
                "--offline",
            ],
            None,
        ),
        &rkey,
        "0644",
    );
    let cp = d.join("cp.note");
    std::fs::write(&cp, "unused\n").unwrap();
    refused(
        &quorate(
            &[
                "checkpoint",
                "cosign",
                "--key",
                s(&wkey),
                "--log",
                s(&d.join("bob.pub")),
                s(&cp),
            ],
            None,
        ),
        &wkey,
        "0604",
    );
    // The fix the message names works.
    chmod(&rkey, 0o600);
    let signed = ok(&quorate(&["note", "sign", "--key", s(&rkey)], Some(b"x\n")));
    assert!(signed.starts_with("x\n\n\u{2014} bob "), "{signed}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// Writes a secret key file as the tools do: mode 0600 (`fs::write` would leave it 0644
/// under the usual umask, and every tool refuses such a key).
fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A stand-in for a cargo sparse index on 127.0.0.1: serves `files` (index path -> the
/// file's JSON lines, as index.crates.io serves them), 404 for anything else, one request
/// per connection. Runs until the test process exits.
fn sparse_index(
    files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
) -> String {
    use std::io::Read;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&req);
            let path = req
                .strip_prefix("GET /")
                .and_then(|r| r.split(' ').next())
                .unwrap_or("");
            let resp = match files.lock().unwrap().get(path) {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .into(),
            };
            let _ = c.write_all(resp.as_bytes());
        }
    });
    url
}

fn index_line(name: &str, vers: &str, cksum: &str) -> String {
    format!(
        r#"{{"name":"{name}","vers":"{vers}","deps":[{{"name":"serde","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}}],"cksum":"{cksum}","features":{{}},"yanked":false,"rust_version":"1.60"}}"#
    ) + "\n"
}

/// `import cargo-vet --lock` holds each lockfile digest an audit uses against the index:
/// a digest the index contradicts refuses the import (naming crate, version and both
/// digests, nothing signed); an unreachable index is a warning and the lockfile's digests
/// are certified as they stand.
#[test]
fn import_cargo_vet_cross_checks_the_lockfile_against_the_index() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let d = tmp("vetindex");
    ok(&quorate(
        &["key", "generate", "--name", "carol", "--out", s(&d)],
        None,
    ));
    let (itoa_sum, serde_sum, forged) = ("11".repeat(32), "22".repeat(32), "33".repeat(32));
    let lock = d.join("Cargo.lock");
    let reg = "registry+https://github.com/rust-lang/crates.io-index";
    std::fs::write(
        &lock,
        format!(
            "version = 3\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.11\"\nsource = \"{reg}\"\nchecksum = \"{itoa_sum}\"\n\n\
             [[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"{reg}\"\nchecksum = \"{forged}\"\n"
        ),
    )
    .unwrap();
    let audits = d.join("audits.toml");
    std::fs::write(
        &audits,
        "[[audits.itoa]]\nwho = \"Carol\"\ncriteria = \"safe-to-deploy\"\nversion = \"1.0.11\"\n\n\
         [[audits.serde]]\nwho = \"Carol\"\ncriteria = \"safe-to-deploy\"\nversion = \"1.0.200\"\n",
    )
    .unwrap();
    let files = Arc::new(Mutex::new(HashMap::new()));
    files.lock().unwrap().insert(
        "it/oa/itoa".to_string(),
        index_line("itoa", "1.0.10", &"00".repeat(32)) + &index_line("itoa", "1.0.11", &itoa_sum),
    );
    files.lock().unwrap().insert(
        "se/rd/serde".to_string(),
        index_line("serde", "1.0.200", &serde_sum),
    );
    let index = sparse_index(files.clone());
    let import = |index: &str, cache: &str, out: &Path| {
        quorate(
            &[
                "import",
                "cargo-vet",
                s(&audits),
                "--key",
                s(&d.join("carol.key")),
                "--org",
                "Example",
                "--lock",
                s(&lock),
                "--out",
                s(out),
                "--index",
                index,
                "--index-cache",
                cache,
            ],
            None,
        )
    };
    // The lockfile's serde digest is not the registry's: refused, nothing written.
    let out1 = d.join("out1");
    let r = import(&index, s(&d.join("cache1")), &out1);
    fails(&r, "serde 1.0.200");
    fails(
        &r,
        &format!("lockfile sha256 {forged}, index sha256 {serde_sum}"),
    );
    fails(&r, "nothing was signed");
    assert!(
        !out1.exists(),
        "attestations were written despite the mismatch"
    );

    // The index agrees once the lockfile does: both certified.
    std::fs::write(
        &lock,
        std::fs::read_to_string(&lock)
            .unwrap()
            .replace(&forged, &serde_sum),
    )
    .unwrap();
    let out2 = d.join("out2");
    let r = import(&index, s(&d.join("cache2")), &out2);
    ok(&r);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("cross-checked 2 lockfile digests"), "{err}");
    assert_eq!(std::fs::read_dir(&out2).unwrap().count(), 2);

    // No index reachable (a closed port): a warning, and the lockfile is certified.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out3 = d.join("out3");
    let r = import(&dead, s(&d.join("cache3")), &out3);
    ok(&r);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("warning: cannot read the crates.io index")
            && err.contains(&format!(
                "what gets certified is {} as it stands",
                lock.display()
            )),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&out3).unwrap().count(), 2);
    std::fs::remove_dir_all(&d).unwrap();
}

/// A test that skips for want of `../shared` says so in a default `cargo test` run (its
/// output captured), not only under `--nocapture`: this runs one such test of this very
/// binary, as cargo would, with the shared directory pointed somewhere empty.
#[test]
fn skipped_shared_data_tests_are_visible_without_nocapture() {
    let missing = tmp("no-shared").join("absent");
    let o = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "signed_note_vectors_through_the_cli"])
        .env("QUORATE_SHARED_DIR", &missing)
        .env_remove("QUORATE_REQUIRE_SHARED")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{all}");
    assert!(
        all.contains("SKIP: signed_note_vectors_through_the_cli: shared test data not found"),
        "{all}"
    );
}
