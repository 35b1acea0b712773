//! The files under `deploy/` must not rot: the systemd unit's `ExecStart` and the
//! Containerfile's `ENTRYPOINT` + `CMD` are parsed by the current `quorate-node` (each
//! run with `--help` appended, which clap honours only after every earlier argument
//! parsed and validated), and every flag they use is in `serve --help`.

mod common;

use std::path::Path;
use std::process::Command;

use common::BIN;

fn deploy(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Parses `args` with the real binary: exit 0 only if clap accepted all of them.
fn accepted(args: &[String]) {
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{args:?}");
    let out = Command::new(BIN).args(args).arg("--help").output().unwrap();
    assert!(
        out.status.success(),
        "quorate-node rejects {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    for a in args.iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(a.as_str()), "{a} is not in `serve --help`");
    }
}

#[test]
fn systemd_unit_exec_start_parses() {
    let unit = deploy("quorate-node.service");
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart line");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/quorate-node"));
    let args: Vec<String> = words.map(str::to_owned).collect();
    assert!(args.iter().any(|a| a == "--healthz-max-age-ms"));
    accepted(&args);
}

#[test]
fn containerfile_command_parses() {
    let cf = deploy("Containerfile");
    let json = |key: &str| -> Vec<String> {
        let l = cf
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} line"));
        serde_json::from_str(l.trim()).unwrap_or_else(|e| panic!("{key} is not exec form: {e}"))
    };
    assert_eq!(json("ENTRYPOINT"), ["/usr/local/bin/quorate-node"]);
    accepted(&json("CMD"));
}
