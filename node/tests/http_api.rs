//! End-to-end tests of `quorate-node` as a process: CLI, submission, read path, proofs.

mod common;

use common::*;
use quorate_proto::merkle;

const FAST: &str = "batch_delay_ms = 5\nmax_body_bytes = 200000\n";

#[test]
fn cli_init_and_reviewers() {
    let log = Log::init();
    assert!(log.vkey.starts_with(&format!("{ORIGIN}+")));
    assert_eq!(
        std::fs::read_to_string(log.dir.join("log.pub"))
            .unwrap()
            .trim(),
        log.vkey
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(log.dir.join("log.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Refuses to overwrite.
    let key_before = std::fs::read(log.dir.join("log.key")).unwrap();
    let out = run(&["init", "--data", log.data(), "--origin", ORIGIN]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(log.dir.join("log.key")).unwrap(), key_before);

    // Add by string and by .pub file; list; remove.
    let (a, b) = (reviewer_key(1), reviewer_key(2));
    log.add_reviewer(&a);
    let pub_file = log.tmp.path().join("b.pub");
    std::fs::write(&pub_file, format!("{}\n", reviewer_vkey(&b))).unwrap();
    run_ok(&[
        "reviewers",
        "add",
        "--data",
        log.data(),
        pub_file.to_str().unwrap(),
    ]);
    log.add_reviewer(&a); // idempotent
    let list = run_ok(&["reviewers", "list", "--data", log.data()]);
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        vec![reviewer_vkey(&a), reviewer_vkey(&b)]
    );
    run_ok(&[
        "reviewers",
        "remove",
        "--data",
        log.data(),
        &reviewer_vkey(&a),
    ]);
    let list = run_ok(&["reviewers", "list", "--data", log.data()]);
    assert_eq!(list.trim(), reviewer_vkey(&b));
    assert!(
        !run(&[
            "reviewers",
            "remove",
            "--data",
            log.data(),
            &reviewer_vkey(&a)
        ])
        .status
        .success()
    );
    assert!(
        !run(&["reviewers", "add", "--data", log.data(), "not-a-vkey"])
            .status
            .success()
    );
}

#[test]
fn submit_read_and_verify() {
    let log = Log::init();
    let k = reviewer_key(1);
    log.add_reviewer(&k);
    let cfg = log.write_config(FAST);
    let mut node = log.start(Some(&cfg));
    let addr = node.addr;

    // Empty log: signed size-0 checkpoint.
    let (size, root, _) = latest(&log, addr);
    assert_eq!((size, root), (0, merkle::empty_root()));
    let r = get(addr, "/checkpoint");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));

    // Single envelope.
    let e0 = envelope(&k, "serde", "1.0.0", "first");
    let r = post(addr, "application/x-protobuf", &e0);
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["index"], 0);
    assert_eq!(j["duplicate"], false);
    let leaf = merkle::leaf_hash(&e0);
    assert_eq!(b64d(j["leaf_hash"].as_str().unwrap()), leaf);
    check_inclusion(
        &log,
        j["checkpoint"].as_str().unwrap(),
        0,
        &leaf,
        &hashes(&j["inclusion_proof"]),
    );

    // Binary batch (with an npm-style scoped package) and a JSON batch.
    let batch: Vec<Vec<u8>> = (0..3)
        .map(|i| envelope(&k, "@scope/pkg", "2.0.0", &format!("b{i}")))
        .collect();
    let r = post(addr, "application/x-quorate-batch", &batch_body(&batch));
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    let es = j["entries"].as_array().unwrap();
    assert_eq!(es.len(), 3);
    for (i, (e, env)) in es.iter().zip(&batch).enumerate() {
        assert_eq!(e["index"], 1 + i as u64);
        check_inclusion(
            &log,
            e["checkpoint"].as_str().unwrap(),
            1 + i as u64,
            &merkle::leaf_hash(env),
            &hashes(&e["inclusion_proof"]),
        );
    }
    let jb: Vec<Vec<u8>> = (0..2)
        .map(|i| envelope(&k, "serde", "1.0.0", &format!("j{i}")))
        .collect();
    let body = serde_json::json!({"envelopes": jb.iter().map(|e| b64e(e)).collect::<Vec<_>>()});
    let r = post(addr, "application/json", body.to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    let es = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(es[0]["index"], 4);
    assert_eq!(es[1]["index"], 5);

    // Enough for a full tile: 300 more in one batch.
    let many: Vec<Vec<u8>> = (0..300)
        .map(|i| envelope(&k, "tokio", &format!("1.{i}.0"), "bulk"))
        .collect();
    let r = post(addr, "application/x-quorate-batch", &batch_body(&many));
    assert_eq!(r.status, 201, "{}", r.text());

    // Read path: checkpoint, tiles and entry bundles reproduce the root.
    let (size, root, note) = latest(&log, addr);
    assert_eq!(size, 306);
    let entries = verify_tiles(addr, size, &root);
    assert_eq!(entries[0], e0);
    assert_eq!(entries[1..4], batch[..]);
    assert_eq!(entries[6..], many[..]);

    // Reviews (scoped package: raw slash and percent-encoded).
    for path in [
        "/v1/reviews/npm/@scope/pkg/2.0.0",
        "/v1/reviews/npm/%40scope%2Fpkg/2.0.0",
    ] {
        let r = get(addr, path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let j = r.json();
        assert_eq!(j["package"], "@scope/pkg");
        let cp = j["checkpoint"].as_str().unwrap();
        let es = j["entries"].as_array().unwrap();
        assert_eq!(es.len(), 3);
        for (e, env) in es.iter().zip(&batch) {
            assert_eq!(b64d(e["envelope"].as_str().unwrap()), *env);
            let idx = e["index"].as_u64().unwrap();
            check_inclusion(
                &log,
                cp,
                idx,
                &merkle::leaf_hash(env),
                &hashes(&e["inclusion_proof"]),
            );
        }
    }
    let r = get(addr, "/v1/reviews/cargo/serde/1.0.0");
    assert_eq!(r.json()["entries"].as_array().unwrap().len(), 3);
    let r = get(addr, "/v1/reviews/cargo/nothing/1.0.0");
    assert_eq!(r.status, 200);
    assert!(r.json()["entries"].as_array().unwrap().is_empty());
    rejected(
        &get(addr, "/v1/reviews/cargo/noversion"),
        400,
        "bad_package",
    );

    // Offline bundles in tlog-proof form.
    let r = get(addr, "/v1/bundle/cargo/serde/1.0.0");
    assert_eq!(r.status, 200);
    let j = r.json();
    let es = j["entries"].as_array().unwrap();
    assert_eq!(es.len(), 3);
    for e in es {
        let env = b64d(e["envelope"].as_str().unwrap());
        let (index, proof, cp) = parse_tlog_proof(e["proof"].as_str().unwrap());
        assert_eq!(cp, j["checkpoint"].as_str().unwrap());
        assert_eq!(entries[index as usize], env);
        check_inclusion(&log, &cp, index, &merkle::leaf_hash(&env), &proof);
    }

    // Proof endpoints.
    let r = get(addr, &format!("/v1/proof/inclusion?index=2&size={size}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    merkle::check_record(
        &hashes(&j["inclusion_proof"]),
        size,
        &root,
        2,
        &merkle::leaf_hash(&entries[2]),
    )
    .unwrap();
    assert_eq!(j["checkpoint"].as_str().unwrap(), note);
    let mut mem = merkle::MemoryLog::new();
    for e in &entries[..4] {
        mem.append(e);
    }
    let r = get(addr, &format!("/v1/proof/consistency?old=4&new={size}"));
    assert_eq!(r.status, 200, "{}", r.text());
    merkle::check_tree(
        &hashes(&r.json()["consistency_proof"]),
        size,
        &root,
        4,
        &mem.root(),
    )
    .unwrap();
    rejected(
        &get(
            addr,
            &format!("/v1/proof/inclusion?index=0&size={}", size + 1),
        ),
        400,
        "bad_size",
    );
    rejected(
        &get(addr, "/v1/proof/inclusion?index=5&size=5"),
        400,
        "bad_index",
    );
    rejected(
        &get(addr, "/v1/proof/inclusion?index=x&size=5"),
        400,
        "bad_parameter",
    );
    rejected(
        &get(addr, "/v1/proof/consistency?old=0&new=5"),
        400,
        "bad_size",
    );
    rejected(
        &get(addr, "/v1/proof/consistency?old=6&new=5"),
        400,
        "bad_size",
    );
    rejected(
        &get(
            addr,
            &format!("/v1/proof/consistency?old=1&new={}", size + 1),
        ),
        400,
        "bad_size",
    );

    // Reviewer added while the node runs is picked up; unregistered is refused before.
    let k2 = reviewer_key(2);
    let e2 = envelope(&k2, "serde", "1.0.1", "late");
    rejected(
        &post(addr, "application/octet-stream", &e2),
        403,
        "unknown_reviewer",
    );
    log.add_reviewer(&k2);
    let r = post(addr, "application/octet-stream", &e2);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["index"], size);

    // Operations.
    let r = get(addr, "/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["size"], size + 1);
    let m = get(addr, "/metrics").text();
    for needle in [
        &format!("quorate_entries_total {}", size + 1) as &str,
        "quorate_checkpoint_size",
        "quorate_submissions_accepted_total{duplicate=\"false\"} 307",
        "quorate_submissions_rejected_total{reason=\"unknown_reviewer\"} 1",
        "quorate_ack_latency_seconds_count 307",
        "quorate_submission_envelopes_bucket",
        "quorate_http_requests_total{method=\"POST\",route=\"/v1/attestations\",status=\"201\"}",
    ] {
        assert!(m.contains(needle), "metrics lack {needle:?}:\n{m}");
    }

    // Graceful shutdown on SIGTERM, and the log is intact after a restart.
    let status = node.terminate();
    assert!(status.success(), "{status:?}");
    let node = log.start(Some(&cfg));
    let (s2, r2, _) = latest(&log, node.addr);
    assert_eq!(s2, size + 1);
    verify_tiles(node.addr, s2, &r2);
}

#[test]
fn bad_input_changes_nothing() {
    let log = Log::init();
    let k = reviewer_key(1);
    log.add_reviewer(&k);
    let cfg = log.write_config(FAST);
    let node = log.start(Some(&cfg));
    let addr = node.addr;
    let good = envelope(&k, "serde", "1.0.0", "ok");
    let r = post(addr, "application/x-protobuf", &good);
    assert_eq!(r.status, 201);
    let (_, _, before) = latest(&log, addr);
    let unchanged = || {
        let (_, _, now) = latest(&log, addr);
        assert_eq!(now, before, "checkpoint changed");
    };

    rejected(
        &post(addr, "application/x-protobuf", b"garbage, not protobuf"),
        400,
        "malformed",
    );
    unchanged();
    let fresh = envelope(&k, "serde", "1.0.0", "truncated");
    rejected(
        &post(addr, "application/x-protobuf", &fresh[..fresh.len() - 7]),
        400,
        "malformed",
    );
    unchanged();
    let mut bad_sig = envelope(&k, "serde", "1.0.0", "bad sig");
    let n = bad_sig.len();
    bad_sig[n - 1] ^= 1; // the signature is the envelope's last field
    rejected(
        &post(addr, "application/x-protobuf", &bad_sig),
        400,
        "bad_signature",
    );
    unchanged();
    let stranger = envelope(&reviewer_key(99), "serde", "1.0.0", "who");
    rejected(
        &post(addr, "application/x-protobuf", &stranger),
        403,
        "unknown_reviewer",
    );
    unchanged();
    rejected(&post(addr, "application/x-protobuf", b""), 400, "empty");
    unchanged();
    rejected(
        &post(addr, "application/x-protobuf", &vec![0u8; 70_000]),
        413,
        "too_large",
    );
    unchanged();
    rejected(
        &post(addr, "application/x-protobuf", &vec![0u8; 300_000]),
        413,
        "too_large",
    );
    unchanged();
    rejected(
        &post(addr, "text/plain", &good),
        415,
        "unsupported_media_type",
    );
    unchanged();
    rejected(
        &post(addr, "application/x-quorate-batch", &[0, 0, 1]),
        400,
        "malformed_batch",
    );
    rejected(
        &post(addr, "application/x-quorate-batch", &[0, 0, 0, 9, 1]),
        400,
        "malformed_batch",
    );
    rejected(
        &post(addr, "application/json", b"{\"envelopes\": 3}"),
        400,
        "malformed_batch",
    );
    rejected(
        &post(addr, "application/json", b"{\"envelopes\": [\"!!\"]}"),
        400,
        "malformed_batch",
    );
    unchanged();

    // One bad envelope rejects the whole batch, naming its position; nothing is logged.
    let a = envelope(&k, "serde", "1.0.0", "batch a");
    let c = envelope(&k, "serde", "1.0.0", "batch c");
    let r = post(
        addr,
        "application/x-quorate-batch",
        &batch_body(&[a.clone(), bad_sig.clone(), c.clone()]),
    );
    rejected(&r, 400, "bad_signature");
    assert_eq!(r.json()["item"], 1);
    let r = post(
        addr,
        "application/x-quorate-batch",
        &batch_body(&[a.clone(), stranger.clone()]),
    );
    rejected(&r, 403, "unknown_reviewer");
    assert_eq!(r.json()["item"], 1);
    unchanged();
    assert!(
        get(addr, "/v1/reviews/cargo/serde/1.0.0").json()["entries"]
            .as_array()
            .unwrap()
            .len()
            == 1
    );

    // Replay: existing index, duplicate, no new entry.
    let r = post(addr, "application/x-protobuf", &good);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["index"], 0);
    assert_eq!(j["duplicate"], true);
    assert_eq!(j["checkpoint"].as_str().unwrap(), before);
    unchanged();

    // Tile paths.
    for (path, status) in [
        ("/tile/0/000", 404),           // full tile beyond a size-1 tree
        ("/tile/0/000.p/2", 404),       // wider than the tree
        ("/tile/1/000.p/1", 404),       // level 1 does not exist yet
        ("/tile/entries/001.p/1", 404), // beyond
        ("/tile/entries/x001/000", 404),
        ("/tile/0/1", 400),
        ("/tile/0/000.p/0", 400),
        ("/tile/0/000.p/256", 400),
        ("/tile/64/000", 400),
        ("/tile/abc/000", 400),
        ("/tile/0/x000/001", 400),
        ("/tile/entries", 400),
    ] {
        let r = get(addr, path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let code = if status == 404 {
            "not_found"
        } else {
            "bad_tile_path"
        };
        assert_eq!(r.json()["error"], code, "{path}");
    }
    assert_eq!(get(addr, "/tile/0/000.p/1").status, 200);
    assert_eq!(get(addr, "/tile/entries/000.p/1").status, 200);
    rejected(&get(addr, "/nope"), 404, "not_found");
    unchanged();

    let m = get(addr, "/metrics").text();
    assert!(
        m.contains("quorate_submissions_rejected_total{reason=\"malformed\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("quorate_submissions_accepted_total{duplicate=\"true\"} 1"),
        "{m}"
    );
}

#[test]
fn rate_limit_and_shutdown_refusal() {
    let log = Log::init();
    let k = reviewer_key(1);
    log.add_reviewer(&k);
    let cfg = log.write_config("batch_delay_ms = 5\n[rate_limit]\nper_second = 0.001\nburst = 2\n");
    let node = log.start(Some(&cfg));
    let addr = node.addr;
    for i in 0..2 {
        let r = post(
            addr,
            "application/x-protobuf",
            &envelope(&k, "a", "1.0.0", &i.to_string()),
        );
        assert_eq!(r.status, 201);
    }
    let (_, _, before) = latest(&log, addr);
    let r = post(
        addr,
        "application/x-protobuf",
        &envelope(&k, "a", "1.0.0", "3"),
    );
    rejected(&r, 429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(latest(&log, addr).2, before);
}
