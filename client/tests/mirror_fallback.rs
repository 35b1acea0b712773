//! The client falls back to a log's mirrors: two institutes (DE, FR) as real nodes, a
//! `quorate-node mirror` following DE; DE's node is stopped, and `quorate check` still
//! decides with DE's vote, read (and verified) through the mirror listed in the policy
//! (`log-mirror ORIGIN URL`). Without that line DE's vote is lost.

mod nodes;

use std::time::{Duration, Instant};

use nodes::*;

fn text(url: &str) -> Option<String> {
    let mut r = ureq::get(url).call().ok()?;
    r.body_mut().read_to_string().ok()
}

#[test]
fn check_decides_through_the_mirror_when_the_origin_is_down() {
    let mut f = Fed::new("mirror-fallback", &["DE", "FR"]);
    f.publish(0, "cargo/alpha@1.0.0", &d(1), &[]);
    f.publish(1, "cargo/alpha@1.0.0", &d(1), &[]);
    f.publish(0, "cargo/beta@2.0.0", &d(2), &[]);
    let de_url = f.insts[0].url.clone();
    let mdir = f.dir.join("mirror-de");
    let (mut mirror, mirror_url) = start_mirror(&de_url, &mdir, &f.insts[0].vkey);
    let want = text(&format!("{de_url}/checkpoint")).expect("DE's checkpoint");
    let deadline = Instant::now() + Duration::from_secs(60);
    while text(&format!("{mirror_url}/checkpoint")).as_deref() != Some(want.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the mirror never caught up: {}",
            std::fs::read_to_string(mdir.with_extension("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // DE's node goes down.
    let _ = f.insts[0].child.kill();
    let _ = f.insts[0].child.wait();

    let lock = f.dir.join("Cargo.lock");
    std::fs::write(
        &lock,
        lockfile(&[("alpha", "1.0.0", &d(1)), ("beta", "2.0.0", &d(2))]),
    )
    .unwrap();
    let mirror_line = format!("log-mirror {} {mirror_url}\n", f.insts[0].origin);
    let with = f.policy("quorum none\n", 2, &mirror_line);
    let without = f.policy("quorum none\n", 2, "");
    let check = |pol: &std::path::Path, cache: &str| {
        q(&[
            "check",
            s(&lock),
            "--policy",
            s(pol),
            "--cache",
            s(&f.dir.join(cache)),
            "--json",
        ])
    };
    let want = |p: bool, js: &[&str]| (p, js.iter().map(|x| x.to_string()).collect::<Vec<_>>());

    let o = check(&with, "cache-with");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let got = verdicts(&json(&o));
    assert_eq!(
        got["alpha@1.0.0"],
        want(true, &["DE", "FR"]),
        "{}",
        stderr(&o)
    );
    assert_eq!(got["beta@2.0.0"], want(false, &["DE"]));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("read through its mirror"), "{all}");

    let o = check(&without, "cache-without");
    let got = verdicts(&json(&o));
    assert_eq!(got["alpha@1.0.0"], want(false, &["FR"]), "{}", stderr(&o));

    let _ = mirror.kill();
    let _ = mirror.wait();
}
