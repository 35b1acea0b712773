//! `deploy/quorate-witness.service` must not rot: its `ExecStart` is parsed by the current
//! `quorate-witness` (with `--help` appended, honoured only once everything before it
//! parsed).

use std::path::Path;
use std::process::Command;

#[test]
fn systemd_unit_exec_start_parses() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/quorate-witness.service");
    let unit = std::fs::read_to_string(&p).unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart line");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/quorate-witness"));
    let args: Vec<&str> = words.collect();
    assert_eq!(args.first(), Some(&"serve"));
    let out = Command::new(env!("CARGO_BIN_EXE_quorate-witness"))
        .args(&args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "quorate-witness rejects {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
