//! Crash safety: SIGKILL the node repeatedly under concurrent submissions; after every
//! restart each acknowledged entry is at its acked index with the same bytes, the tree is
//! consistent with every checkpoint ever returned, and no two checkpoints conflict.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use quorate_proto::merkle::{self, Hash, MemoryLog};

#[derive(Default)]
struct Seen {
    /// index -> envelope bytes, from acks.
    acked: BTreeMap<u64, Vec<u8>>,
    /// checkpoint size -> root, from every checkpoint the node returned.
    checkpoints: BTreeMap<u64, Hash>,
}

fn record_checkpoint(log: &Log, seen: &mut Seen, note: &str) {
    let (size, root) = open_checkpoint(log, note);
    if let Some(prev) = seen.checkpoints.insert(size, root) {
        assert_eq!(
            prev, root,
            "two different checkpoints signed at size {size}"
        );
    }
}

fn record_ack(log: &Log, seen: &Mutex<Seen>, j: &serde_json::Value, env: &[u8]) {
    let index = j["index"].as_u64().unwrap();
    let note = j["checkpoint"].as_str().unwrap();
    check_inclusion(
        log,
        note,
        index,
        &merkle::leaf_hash(env),
        &hashes(&j["inclusion_proof"]),
    );
    let mut s = seen.lock().unwrap();
    record_checkpoint(log, &mut s, note);
    if let Some(prev) = s.acked.insert(index, env.to_vec()) {
        assert_eq!(prev, env, "two different entries acked at index {index}");
    }
}

#[test]
fn sigkill_under_load_loses_nothing() {
    let log = Log::init();
    let keys: Vec<_> = (0..4).map(reviewer_key).collect();
    for k in &keys {
        log.add_reviewer(k);
    }
    let cfg = log.write_config("batch_delay_ms = 5\n");
    let log = Arc::new(log);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let started = Instant::now();
    const ROUNDS: u64 = 8;
    let mut kills_with_inflight = 0;

    for round in 0..=ROUNDS {
        let mut node = log.start(Some(&cfg));
        let addr = node.addr;

        // Verify everything seen so far against the restarted node.
        {
            let s = seen.lock().unwrap();
            let (size, root, note) = latest(&log, addr);
            drop(s);
            record_checkpoint(&log, &mut seen.lock().unwrap(), &note);
            let s = seen.lock().unwrap();
            let entries = verify_tiles(addr, size, &root);
            for (&i, env) in &s.acked {
                assert!(
                    i < size,
                    "round {round}: acked index {i} missing (size {size})"
                );
                assert_eq!(
                    &entries[i as usize], env,
                    "round {round}: entry {i} changed"
                );
            }
            // Recompute every checkpoint ever returned from the entries served as tiles.
            let mut mem = MemoryLog::new();
            let mut it = s.checkpoints.iter().peekable();
            while let Some(&(&cs, _)) = it.peek() {
                if cs == 0 {
                    it.next();
                    continue;
                }
                if mem.size() == cs {
                    let (_, r) = it.next().unwrap();
                    assert_eq!(
                        &mem.root(),
                        r,
                        "round {round}: checkpoint {cs} inconsistent"
                    );
                    continue;
                }
                assert!(
                    cs <= size,
                    "round {round}: checkpoint {cs} beyond size {size}"
                );
                mem.append(&entries[mem.size() as usize]);
            }
            // And ask the node for consistency proofs from a sample of them.
            let sizes: Vec<(u64, Hash)> = s
                .checkpoints
                .iter()
                .filter(|(cs, _)| **cs > 0)
                .map(|(a, b)| (*a, *b))
                .collect();
            let step = (sizes.len() / 16).max(1);
            for (cs, r) in sizes.iter().step_by(step) {
                let resp = get(addr, &format!("/v1/proof/consistency?old={cs}&new={size}"));
                assert_eq!(resp.status, 200, "{}", resp.text());
                merkle::check_tree(
                    &hashes(&resp.json()["consistency_proof"]),
                    size,
                    &root,
                    *cs,
                    r,
                )
                .unwrap_or_else(|e| panic!("round {round}: consistency {cs}->{size}: {e}"));
            }
        }
        if round == ROUNDS {
            break;
        }

        // Sustained concurrent submissions, then SIGKILL at a pseudo-random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for t in 0..4u64 {
            let (log, seen, stop, key) = (
                log.clone(),
                seen.clone(),
                stop.clone(),
                keys[t as usize].clone(),
            );
            workers.push(std::thread::spawn(move || {
                let mut n = 0u64;
                let mut inflight_at_kill = false;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let tag = format!("r{round} t{t} n{n}");
                    if n.is_multiple_of(3) {
                        let envs: Vec<Vec<u8>> = (0..5)
                            .map(|i| envelope(&key, "crash", "1.0.0", &format!("{tag} b{i}")))
                            .collect();
                        match request(
                            addr,
                            "POST",
                            "/v1/attestations",
                            Some("application/x-quorate-batch"),
                            &batch_body(&envs),
                        ) {
                            Ok(r) if r.status == 201 => {
                                let j = r.json();
                                for (e, env) in j["entries"].as_array().unwrap().iter().zip(&envs) {
                                    record_ack(&log, &seen, e, env);
                                }
                            }
                            Ok(r) => panic!("unexpected {}: {}", r.status, r.text()),
                            Err(_) => inflight_at_kill = true,
                        }
                    } else {
                        let env = envelope(&key, "crash", "1.0.0", &tag);
                        match request(
                            addr,
                            "POST",
                            "/v1/attestations",
                            Some("application/x-protobuf"),
                            &env,
                        ) {
                            Ok(r) if r.status == 201 => record_ack(&log, &seen, &r.json(), &env),
                            Ok(r) => panic!("unexpected {}: {}", r.status, r.text()),
                            Err(_) => inflight_at_kill = true,
                        }
                    }
                }
                inflight_at_kill
            }));
        }
        let wait = 300 + (round * 389) % 900;
        std::thread::sleep(Duration::from_millis(wait));
        node.kill();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            if w.join().expect("worker panicked") {
                kills_with_inflight += 1;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "crash test too slow"
        );
    }
    let s = seen.lock().unwrap();
    eprintln!(
        "crash test: {} rounds, {} acked entries, {} distinct checkpoints, {} workers cut mid-request, {:.1} s",
        ROUNDS,
        s.acked.len(),
        s.checkpoints.len(),
        kills_with_inflight,
        started.elapsed().as_secs_f64()
    );
    assert!(s.acked.len() > 50, "too little load to mean anything");
    assert!(
        kills_with_inflight > 0,
        "no kill ever hit a request in flight"
    );
}
