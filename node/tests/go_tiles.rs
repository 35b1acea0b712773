//! The node's tiles, entry bundles, checkpoint and proofs read by an independent client:
//! Go's own golang.org/x/mod/sumdb/tlog and sumdb/note (`tests/go/tilecheck.go`). Needs
//! `go` and Debian's golang-golang-x-mod-dev (`.ci/run` installs both); without them the
//! test prints SKIP, unless QUORATE_REQUIRE_GO=1 makes that a failure.

mod common;
#[path = "../../proto/tests/common/mod.rs"]
mod shared;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;

#[test]
fn go_sumdb_tlog_reads_the_same_tiles_and_proofs() {
    let log = Log::init();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/tilecheck.go");
    let Some(tool) = shared::build_go(&src, log.tmp.path(), "sumdb/tlog") else {
        return;
    };
    let k = reviewer_key(1);
    log.add_reviewer(&k);
    let node = log.start(None);

    let run = |olds: &[(u64, [u8; 32])]| {
        let mut cmd = Command::new(&tool);
        cmd.arg(format!("http://{}", node.addr)).arg(&log.vkey);
        for (size, root) in olds {
            cmd.arg(format!("{size}:{}", B64.encode(root)));
        }
        let out = cmd.output().expect("run tilecheck");
        assert!(
            out.status.success(),
            "Go tlog rejected the node's log: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    // The empty log.
    let (size, root, _) = latest(&log, node.addr);
    assert_eq!(size, 0);
    assert!(run(&[]).starts_with("ok 0 "));

    // Grow across full and partial tiles, and past a level-1 boundary of the entries:
    // sizes 1, 200, 256, 257, 600; every earlier checkpoint must be a prefix.
    let mut olds = vec![(size, root)];
    let mut next = 0u64;
    for target in [1u64, 200, 256, 257, 600] {
        let batch: Vec<Vec<u8>> = (next..target)
            .map(|i| envelope(&k, &format!("crate-{i}"), "1.0.0", "go interop"))
            .collect();
        next = target;
        for chunk in batch.chunks(100) {
            let r = post(node.addr, "application/x-quorate-batch", &batch_body(chunk));
            assert!(r.status == 200 || r.status == 201, "submit: {}", r.text());
        }
        let (size, root, _) = latest(&log, node.addr);
        assert_eq!(size, target);
        let out = run(&olds[1..]);
        assert!(out.starts_with(&format!("ok {target} ")), "{out}");
        olds.push((size, root));
    }
}
