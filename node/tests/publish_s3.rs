//! `serve --publish-s3-url`: the read path published to a real S3-compatible server
//! (moto) and read back from the bucket alone, by an independent tlog-tiles reader.
//!
//! - while the S3 server is down, submissions are acknowledged all the same, and once it
//!   is up the publisher catches up (retry, never blocking the write path);
//! - every object equals what the tree recomputed from the entries gives, with the
//!   node's content type and cache control (full tiles immutable, partial ones not,
//!   the checkpoint no-cache);
//! - every checkpoint seen in the bucket is readable in full from the bucket (tiles are
//!   uploaded before the checkpoint);
//! - a restarted node resumes where it stopped (the progress file).

mod common;
mod moto;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;

const BUCKET: &str = "quorate-log";
const URL: &str = "s3://quorate-log/de";
const PREFIX: &str = "/quorate-log/de";

/// The bucket's checkpoint text, if it has one.
fn bucket_checkpoint(s3: SocketAddr) -> Option<String> {
    let r = request(s3, "GET", &format!("{PREFIX}/checkpoint"), None, b"").ok()?;
    (r.status == 200).then(|| r.text())
}

/// Waits (at most 60 s) until the bucket serves exactly `note` as its checkpoint.
fn wait_for(s3: SocketAddr, note: &str, node_log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while bucket_checkpoint(s3).as_deref() != Some(note) {
        assert!(
            Instant::now() < deadline,
            "the bucket never caught up with the node's checkpoint; node log:\n{}",
            std::fs::read_to_string(node_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn submit_batch(addr: SocketAddr, k: &ed25519_dalek::SigningKey, from: usize, n: usize) {
    let envs: Vec<Vec<u8>> = (from..from + n)
        .map(|i| envelope(k, &format!("pkg{i}"), "1.0.0", ""))
        .collect();
    let r = post(addr, "application/x-quorate-batch", &batch_body(&envs));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn read_path_reaches_the_bucket_after_an_outage_and_across_restarts() {
    if !moto::available() {
        return;
    }
    let port = moto::free_port();
    let s3: SocketAddr = ([127, 0, 0, 1], port).into();
    let env = moto::node_env(port);
    let log = Log::init();
    let node_log = log.tmp.path().join("node.log");
    let k = reviewer_key(7);
    log.add_reviewer(&k);
    let mut node = Node::start_with(&log, None, &["--publish-s3-url", URL], &env);

    // The S3 server is down: every submission is still acknowledged (and logged).
    submit_batch(node.addr, &k, 0, 300);
    let (size, root, note) = latest(&log, node.addr);
    assert_eq!(size, 300);
    assert!(bucket_checkpoint(s3).is_none());

    // It comes up with a public-read bucket: the publisher's retries get through.
    let moto = moto::Moto::start_on(port);
    moto.create_public_bucket(BUCKET);
    wait_for(s3, &note, &node_log);
    let entries = verify_tiles_at(s3, PREFIX, size, &root);
    assert_eq!(entries.len(), 300);
    let cp = request(s3, "GET", &format!("{PREFIX}/checkpoint"), None, b"").unwrap();
    assert_eq!(cp.header("cache-control"), Some("no-cache"));
    assert!(
        cp.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        cp.headers
    );
    let full = request(s3, "GET", &format!("{PREFIX}/tile/0/000"), None, b"").unwrap();
    assert_eq!(
        full.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let bundle = request(s3, "GET", &format!("{PREFIX}/tile/entries/000"), None, b"").unwrap();
    assert_eq!(bundle.status, 200);
    assert_eq!(
        bundle.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );

    // Restart: the node resumes from its recorded progress and keeps publishing. Every
    // checkpoint the bucket shows meanwhile is readable in full from the bucket.
    assert_eq!(node.terminate().code(), Some(0));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.dir.join("publish-s3.json")).unwrap()).unwrap();
    assert_eq!(state["tiles_size"], 300, "{state}");
    assert_eq!(state["url"], URL, "{state}");
    let node = Node::start_with(&log, None, &["--publish-s3-url", URL], &env);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..20 {
        submit_batch(node.addr, &k, 300 + i * 3, 3);
        if let Some(text) = bucket_checkpoint(s3) {
            let (sz, rt) = open_checkpoint(&log, &text);
            if seen.insert(sz) {
                verify_tiles_at(s3, PREFIX, sz, &rt);
            }
        }
    }
    let (size, root, note) = latest(&log, node.addr);
    assert_eq!(size, 360);
    wait_for(s3, &note, &node_log);
    verify_tiles_at(s3, PREFIX, size, &root);
    assert!(!seen.is_empty());
    drop(node);
    drop(moto);
}

#[test]
fn a_bad_publish_url_stops_the_node_at_start() {
    let log = Log::init();
    let out = run(&[
        "serve",
        "--data",
        log.data(),
        "--listen",
        "127.0.0.1:0",
        "--publish-s3-url",
        "https://bucket.example/x",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must start with s3://"), "{err}");
}
