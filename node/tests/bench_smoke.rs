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
