//! Operations on a real `quorate-node serve`: `/healthz` fails with 503 `stale` once no
//! checkpoint was signed or cosigned within `--healthz-max-age-ms`, and recovers when one
//! is; `--log-format json` writes one JSON object per log line.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn poll(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn healthz_goes_stale_without_signing_and_recovers_on_a_new_checkpoint() {
    let log = Log::init();
    let k = reviewer_key(9);
    log.add_reviewer(&k);
    let node = Node::start_args(
        &log,
        None,
        &["--healthz-max-age-ms", "300", "--log-format", "json"],
    );
    // An idle standalone log signs nothing: within a bounded wait /healthz turns 503.
    let mut stale = None;
    poll("/healthz to report stale", || {
        let r = get(node.addr, "/healthz");
        if r.status == 503 {
            stale = Some(r);
            return true;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        false
    });
    let r = stale.unwrap();
    let j = r.json();
    assert_eq!(j["error"], "stale", "{j}");
    let msg = j["message"].as_str().unwrap();
    assert!(
        msg.contains("no checkpoint signed or cosigned") && msg.contains("limit 300 ms"),
        "{msg}"
    );
    // A new entry: a checkpoint is signed, /healthz is 200 again (until it ages).
    let env = envelope(&k, "fresh", "1.0.0", "health");
    let s = post(node.addr, "application/x-protobuf", &env);
    assert!(s.status == 200 || s.status == 201, "{}", s.text());
    poll("/healthz to recover", || {
        let r = get(node.addr, "/healthz");
        r.status == 200 && r.json()["size"] == 1
    });

    // Every line the node logged is one JSON object with a level and a message.
    let text = std::fs::read_to_string(log.tmp.path().join("node.log")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
    assert!(
        lines.iter().any(|l| l.contains("quorate-node listening")),
        "{text}"
    );
}

#[test]
fn healthz_limit_flag_is_validated() {
    let log = Log::init();
    let out = run(&["serve", "--data", log.data(), "--healthz-max-age-ms", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--healthz-max-age-ms"));
    let out = run(&["serve", "--data", log.data(), "--log-format", "xml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("json"));
}
