//! `cargo quorate ...` through the real cargo: cargo finds `cargo-quorate` on PATH and runs
//! it with `quorate` as the first argument; the output and exit code are `quorate`'s own.

use std::path::Path;
use std::process::Command;

fn with_bin_dir_on_path(cmd: &mut Command) {
    let dir = Path::new(env!("CARGO_BIN_EXE_cargo-quorate"))
        .parent()
        .unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
}

#[test]
fn cargo_quorate_runs_the_same_commands() {
    let t = std::env::temp_dir().join(format!("quorate-cargo-sub-{}", std::process::id()));
    std::fs::create_dir_all(&t).unwrap();
    let lock = t.join("package-lock.json");
    std::fs::write(
        &lock,
        "{\"lockfileVersion\": 3, \"packages\": {\"node_modules/x\": {\"vers",
    )
    .unwrap();
    let direct = Command::new(env!("CARGO_BIN_EXE_quorate"))
        .args([
            "check",
            lock.to_str().unwrap(),
            "--policy",
            "/nonexistent.policy",
        ])
        .output()
        .unwrap();
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args([
        "quorate",
        "check",
        lock.to_str().unwrap(),
        "--policy",
        "/nonexistent.policy",
    ]);
    with_bin_dir_on_path(&mut cargo);
    let via_cargo = cargo.output().unwrap();
    assert_eq!(via_cargo.status.code(), direct.status.code());
    assert_eq!(via_cargo.stdout, direct.stdout);
    assert_eq!(via_cargo.stderr, direct.stderr);
    assert_ne!(direct.status.code(), Some(0));

    let mut help = Command::new(env!("CARGO"));
    help.args(["quorate", "--help"]);
    with_bin_dir_on_path(&mut help);
    let h = help.output().unwrap();
    assert!(h.status.success());
    let text = String::from_utf8_lossy(&h.stdout);
    assert!(text.contains("check"), "{text}");
    let _ = std::fs::remove_dir_all(&t);
}
