//! Runs the real `quorate-testnet` binary: `up`/`down`, and every scenario.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_quorate-testnet");

fn run(args: &[&str]) -> Output {
    let o = Command::new(BIN).args(args).output().unwrap();
    eprintln!(
        "$ quorate-testnet {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn alive(pid: i64) -> bool {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|s| s.trim_start().starts_with('Z'));
    !zombie && String::from_utf8_lossy(&cmd).contains("quorate-node")
}

/// quorate-node processes whose command line mentions `needle`.
fn nodes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("quorate-node") && cmd.contains(needle) && alive_path(&e.path()) {
            out.push(cmd);
        }
    }
    out
}

fn alive_path(p: &Path) -> bool {
    let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
    !stat
        .rsplit(')')
        .next()
        .is_some_and(|s| s.trim_start().starts_with('Z'))
}

fn http_get(url: &str) -> String {
    let mut r = ureq::get(url).call().unwrap();
    r.body_mut().read_to_string().unwrap()
}

#[test]
fn up_then_down() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let d = dir.to_str().unwrap();
    let o = run(&[
        "up",
        "--nodes",
        "3",
        "--jurisdictions",
        "DE,FR,JP",
        "--dir",
        d,
    ]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("policy "), "{out}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).unwrap()).unwrap();
    let nodes = doc["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    // Still running after `up` exited; every checkpoint cosigned by the 2 peers.
    for n in nodes {
        assert!(alive(n["pid"].as_i64().unwrap()));
        let cp = http_get(&format!("{}/checkpoint", n["url"].as_str().unwrap()));
        assert_eq!(
            cp.lines().filter(|l| l.starts_with("— ")).count(),
            3,
            "{cp}"
        );
    }
    let policy = std::fs::read_to_string(dir.join("quorate.policy")).unwrap();
    assert!(policy.contains("review-quorum 2"), "{policy}");
    assert_eq!(policy.matches("review-log").count(), 3, "{policy}");
    // A second `up` on the same dir refuses.
    assert!(!run(&["up", "--nodes", "3", "--dir", d]).status.success());
    assert!(run(&["down", "--dir", d]).status.success());
    for n in nodes {
        assert!(!alive(n["pid"].as_i64().unwrap()));
    }
    assert!(!dir.join("testnet.json").exists());
}

#[test]
fn every_scenario_passes_and_leaves_nothing_running() {
    for name in [
        "forged-review",
        "minority-collusion",
        "replay",
        "crash",
        "partition",
        "equivocation",
        "rewrite",
    ] {
        let o = run(&["scenario", name]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name}: {out}");
        assert!(out.contains(&format!("PASS {name}")), "{out}");
    }
    assert!(
        nodes_mentioning("quorate-testnet.").is_empty(),
        "{:?}",
        nodes_mentioning("quorate-testnet.")
    );
    assert!(!run(&["scenario", "no-such"]).status.success());
}

#[test]
fn demo_reviews_own_lockfile_and_check_decides() {
    let o = run(&["demo", "--no-scenarios", "--packages", "8"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("PASS demo check"), "{out}");
    assert!(out.contains("DEMO DATA"), "{out}");
}

#[test]
fn demo_imports_cargo_vet_audits_through_each_node() {
    let tmp = tempfile::tempdir().unwrap();
    let audits = tmp.path().join("audits");
    std::fs::create_dir_all(&audits).unwrap();
    // Three real packages of this project's lockfile.
    let lock_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let mut pkgs = Vec::new();
    for block in lock_text.split("[[package]]").skip(1) {
        let field = |k: &str| {
            block
                .lines()
                .find(|l| l.starts_with(&format!("{k} = ")))
                .and_then(|l| l.split('"').nth(1))
                .map(str::to_string)
        };
        if let (Some(n), Some(v), Some(c)) = (field("name"), field("version"), field("checksum")) {
            pkgs.push((n, v, c));
        }
        if pkgs.len() == 3 {
            break;
        }
    }
    let mut lock = String::from("version = 4\n");
    for (n, v, c) in &pkgs {
        lock.push_str(&format!(
            "\n[[package]]\nname = \"{n}\"\nversion = \"{v}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{c}\"\n"
        ));
    }
    let lock_path = tmp.path().join("Cargo.lock");
    std::fs::write(&lock_path, lock).unwrap();
    // org-a audits all three, org-b two, org-c one: only the first reaches quorum 3.
    for (org, take) in [("org-a", 3), ("org-b", 2), ("org-c", 1)] {
        let mut t = String::new();
        for (n, v, _) in pkgs.iter().take(take) {
            t.push_str(&format!(
                "[[audits.{n}]]\nwho = \"{org} auditor\"\ncriteria = \"safe-to-deploy\"\nversion = \"{v}\"\n\n"
            ));
        }
        std::fs::write(audits.join(format!("{org}.toml")), t).unwrap();
    }
    let o = run(&[
        "demo",
        "--no-scenarios",
        "--audits",
        audits.to_str().unwrap(),
        "--lock",
        lock_path.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("1 meet the quorum, 2 do not"), "{out}");
    assert!(out.contains("DE <- org-a"), "{out}");
}
