//! SIGHUP on a real `quorate-node serve`: an external witness is added and removed at
//! runtime, the log's state survives (sizes continue), the process and its listening
//! address stay the same, and an invalid configuration is refused while the node keeps
//! serving as it was.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_witness::{SystemClock, Witness};

fn hup(node: &Node) {
    let st = Command::new("kill")
        .args(["-HUP", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn poll<T>(log: &Log, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; node log:\n{}",
            std::fs::read_to_string(log.tmp.path().join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn node_log(log: &Log) -> String {
    std::fs::read_to_string(log.tmp.path().join("node.log")).unwrap_or_default()
}

#[test]
fn sighup_adds_and_removes_a_witness_without_losing_state() {
    let log = Log::init();
    let k = reviewer_key(11);
    log.add_reviewer(&k);
    let plain = "batch_delay_ms = 5\n";
    let cfg = log.write_config(plain);
    let mut node = Node::start(&log, Some(&cfg));
    let pid = node.child.id();
    let submit = |node: &Node, i: u32| {
        let env = envelope(&k, &format!("reload-{i}"), "1.0.0", "sighup");
        let r = post(node.addr, "application/x-protobuf", &env);
        assert!(r.status == 200 || r.status == 201, "{}", r.text());
    };
    submit(&node, 0);

    // A standalone C2SP witness for this log, on loopback.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let signer = CosignatureSigner::generate("witness.example/reload", [8; 32]).unwrap();
    let wv = signer.verifier();
    let w = Witness::open(
        signer,
        vec![log.verifier()],
        &log.tmp.path().join("w.redb"),
        SystemClock,
    )
    .unwrap();
    let app = quorate_witness::router(std::sync::Arc::new(w));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let waddr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });

    // Add it: SIGHUP. Same process, same address, the size kept; new checkpoints are
    // cosigned by the witness that was not configured at start.
    log.write_config(&format!(
        "{plain}recosign_interval_ms = 500\n[[external_witness]]\nurl = \"http://{waddr}\"\nvkey = {:?}\n",
        wv.vkey()
    ));
    hup(&node);
    let started = |n: usize| {
        poll(&log, "the reloaded node", || {
            (node_log(&log).matches("quorate-node listening").count() == n).then_some(())
        })
    };
    started(2);
    submit(&node, 1);
    poll(
        &log,
        "a checkpoint of size 2 cosigned by the added witness",
        || {
            let r = get(node.addr, "/checkpoint");
            (r.status == 200
                && verify_checkpoint(&r.body, &log.verifier(), std::slice::from_ref(&wv))
                    .is_ok_and(|v| v.checkpoint().size() == 2 && v.cosignatures().len() == 1))
            .then_some(())
        },
    );
    assert_eq!(node.child.id(), pid);
    assert!(node.child.try_wait().unwrap().is_none());

    // An invalid configuration is refused; the node keeps serving with the witness.
    log.write_config("batch_size = 0\n");
    hup(&node);
    poll(&log, "the refusal", || {
        node_log(&log)
            .contains("the new configuration is refused")
            .then_some(())
    });
    let r = get(node.addr, "/healthz");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["size"], 2);

    // Remove the witness: new checkpoints are served without waiting for it.
    log.write_config(plain);
    hup(&node);
    started(3);
    submit(&node, 2);
    poll(&log, "size 3 served without cosignatures", || {
        let r = get(node.addr, "/checkpoint");
        (r.status == 200
            && verify_checkpoint(&r.body, &log.verifier(), std::slice::from_ref(&wv))
                .is_ok_and(|v| v.checkpoint().size() == 3 && v.cosignatures().is_empty()))
        .then_some(())
    });
    assert_eq!(node.child.id(), pid);
    assert!(node.terminate().success());
}
