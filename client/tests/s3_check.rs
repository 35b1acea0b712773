//! `quorate check` against S3 buckets alone: three institutes publish their read path to
//! a real S3-compatible server (moto, `serve --publish-s3-url` through the config file),
//! then every node is stopped, and the client's policy names only the buckets' plain-HTTP
//! URLs. The verdicts are the ones the nodes themselves would give.

#[path = "../../node/tests/moto/mod.rs"]
mod moto;
mod nodes;

use std::time::{Duration, Instant};

use nodes::*;

fn text(url: &str) -> Option<String> {
    let mut r = ureq::get(url).call().ok()?;
    r.body_mut().read_to_string().ok()
}

#[test]
fn check_decides_from_the_buckets_alone_with_every_node_stopped() {
    if !moto::available() {
        return;
    }
    let s3 = moto::Moto::start();
    s3.create_public_bucket("quorate");
    let env = moto::node_env(s3.port);
    let bucket_url = |j: &str| format!("{}/quorate/{}", s3.endpoint(), j.to_lowercase());
    let mut f = Fed::with("s3", &["DE", "FR", "JP"], |i| {
        let cfg = format!(
            "batch_delay_ms = 5\npublish_s3_url = \"s3://quorate/{}\"\n",
            i.jurisdiction.to_lowercase()
        );
        i.serve_env(Some(&cfg), &env)
    });
    for j in 0..3 {
        f.publish(j, "cargo/alpha@1.0.0", &d(1), &[]);
    }
    f.publish(0, "cargo/beta@2.0.0", &d(2), &[]);
    f.publish(1, "cargo/gamma@0.3.0", &d(3), &[]);
    f.publish(2, "cargo/gamma@0.3.0", &d(3), &[]);

    // Each bucket catches up with its node's checkpoint.
    for inst in &f.insts {
        let want = text(&format!("{}/checkpoint", inst.url)).expect("node checkpoint");
        let deadline = Instant::now() + Duration::from_secs(60);
        while text(&format!("{}/checkpoint", bucket_url(&inst.jurisdiction))).as_deref()
            != Some(want.as_str())
        {
            assert!(
                Instant::now() < deadline,
                "bucket of {} never caught up; node log:\n{}",
                inst.jurisdiction,
                std::fs::read_to_string(inst.data.with_extension("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // No node answers any more: only the buckets can.
    for inst in &mut f.insts {
        let _ = inst.child.kill();
        let _ = inst.child.wait();
    }

    let mut pol = String::from("quorum none\n");
    for inst in &f.insts {
        pol.push_str(&format!(
            "review-log {} {} {}\n",
            inst.jurisdiction,
            inst.vkey,
            bucket_url(&inst.jurisdiction)
        ));
    }
    pol.push_str("review-quorum 2\n");
    let pol_path = f.dir.join("buckets.policy");
    std::fs::write(&pol_path, pol).unwrap();
    let lock = f.dir.join("Cargo.lock");
    std::fs::write(
        &lock,
        lockfile(&[
            ("alpha", "1.0.0", &d(1)),
            ("beta", "2.0.0", &d(2)),
            ("gamma", "0.3.0", &d(3)),
        ]),
    )
    .unwrap();
    let cache = f.dir.join("cache");
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol_path),
        "--cache",
        s(&cache),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let got = verdicts(&json(&o));
    let want = |p: bool, js: &[&str]| (p, js.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert_eq!(got["alpha@1.0.0"], want(true, &["DE", "FR", "JP"]));
    assert_eq!(got["beta@2.0.0"], want(false, &["DE"]));
    assert_eq!(got["gamma@0.3.0"], want(true, &["FR", "JP"]));
}
