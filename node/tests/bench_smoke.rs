//! `quorate-node bench` runs end to end with small sizes and prints every figure.

mod common;

#[test]
fn bench_small() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_ok(&[
        "bench",
        "--entries",
        "3000",
        "--submissions",
        "200",
        "--concurrency",
        "64",
        "--batch-delay-ms",
        "5",
        "--dir",
        tmp.path().to_str().unwrap(),
    ]);
    for needle in [
        "durable appends:",
        "raw ed25519 verify:",
        "appends / verify:",
        "ack latency:",
        "bytes on disk/entry:",
        "inclusion proof @3000:",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // The temporary stores are cleaned up.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// `--keep-big DIR` keeps the large store; `--prove-only DIR` times proofs over it
/// without building, and names what is wrong with a directory that holds no store.
#[test]
fn prove_only_over_a_kept_store() {
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big");
    common::run_ok(&[
        "bench",
        "--entries",
        "2000",
        "--submissions",
        "50",
        "--concurrency",
        "16",
        "--floor-ms",
        "10",
        "--dir",
        tmp.path().to_str().unwrap(),
        "--keep-big",
        big.to_str().unwrap(),
    ]);
    let out = common::run_ok(&[
        "bench",
        "--prove-only",
        big.to_str().unwrap(),
        "--proofs",
        "300",
    ]);
    for needle in [
        "inclusion proof @2000:",
        "round 1: 300 proofs (redb cache 64 MiB), max",
        "CPU time p50",
        "(>= p99):",
        "read from storage during the proofs:",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let json: serde_json::Value = serde_json::from_str(
        common::run_ok(&[
            "bench",
            "--prove-only",
            big.to_str().unwrap(),
            "--proofs",
            "20",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(json["big_entries"], 2000);
    assert_eq!(json["proofs"], 20);

    let out = common::run(&["bench", "--prove-only", tmp.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no store"), "{err}");
}
