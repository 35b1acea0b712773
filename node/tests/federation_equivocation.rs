//! A log that shows two histories is caught: a copy X' of log X's data dir (same key,
//! same PeerId) logs different entries; some honest nodes talk to X, others to X'. Every
//! honest node ends up with evidence that verifies with X's key alone, and refuses X.

mod fed_support;

use fed_support::*;
use quorate_node::fedbench::{Proc, free_port};
use quorate_proto::note::Ed25519Verifier;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn forked_log_is_caught_by_every_honest_node() {
    let fed = Fed::init(4, "eq");
    let (a, b, c, x) = (&fed.specs[0], &fed.specs[1], &fed.specs[2], &fed.specs[3]);
    // X' = X's data dir copied before either runs: same log key, same PeerId.
    let mut x2 = x.clone();
    x2.dir = fed.path("x-fork");
    x2.gossip_port = free_port().unwrap();
    copy_dir(&x.dir, &x2.dir);

    let _pa = Proc::spawn(bin(), a, &a.config(&[b, c, x], "")).unwrap();
    let _pb = Proc::spawn(bin(), b, &b.config(&[a, c, &x2], "")).unwrap();
    let _pc = Proc::spawn(bin(), c, &c.config(&[a, b, x], "")).unwrap();
    let px = Proc::spawn(bin(), x, &x.config(&[a, c], "")).unwrap();
    let px2 = Proc::spawn(bin(), &x2, &x2.config(&[b], "")).unwrap();
    let honest = [&_pa, &_pb, &_pc];

    // Same size, different entries.
    assert_eq!(px.submit(&envelope("honest", 1)).unwrap(), 1);
    assert_eq!(px2.submit(&envelope("forked", 1)).unwrap(), 1);

    let xv = x.log_verifier();
    for (i, p) in honest.iter().enumerate() {
        let texts = wait_for(30, "equivocation evidence", || {
            let t = equivocations(p);
            (!t.is_empty()).then_some(t)
        });
        let mut ok = false;
        for t in &texts {
            let e = parse_evidence(t);
            let v = e.verify(&xv).expect("evidence verifies with X's log key");
            assert_eq!(v.origin(), x.origin);
            // ... and with no other key.
            for other in [a, b, c] {
                assert!(e.verify(&other.log_verifier()).is_err());
            }
            let unrelated = Ed25519Verifier::from_vkey(
                &quorate_proto::note::Signer::generate(&x.origin, [9; 32])
                    .unwrap()
                    .vkey(),
            )
            .unwrap();
            assert!(e.verify(&unrelated).is_err());
            ok = true;
        }
        assert!(ok, "node {i}");
        // The node's witness now refuses X, even a checkpoint it would have accepted.
        let (_, note) = px.get("/checkpoint").unwrap();
        let (status, body) = p
            .post(
                "/add-checkpoint",
                "text/plain",
                &add_checkpoint_body(0, &[], &note),
            )
            .unwrap();
        assert_eq!(status, 403, "node {i}: {}", String::from_utf8_lossy(&body));
        let (_, m) = p.get("/metrics").unwrap();
        let m = String::from_utf8(m).unwrap();
        assert!(!m.contains("quorate_equivocations 0\n"), "{m}");
    }
    // Honest logs are unaffected: A is still cosigned by B and C.
    let ws = vec![b.witness_verifier(), c.witness_verifier()];
    _pa.submit(&envelope("a", 1)).unwrap();
    wait_for(20, "A cosigned by B and C", || {
        let (s, n) = cosigned(&_pa, a, &ws);
        (s == 1 && n == 2).then_some(())
    });
}

/// A fork at different sizes where the smaller size is a power of two: the log's
/// consistency proof omits the old root, so the node reads the larger tree's tiles from
/// the peer's `url` to build the evidence. Only B can: A's copy of X is honest and cannot
/// prove anything up to the forked size. Each order of arrival at B is its own test: B
/// holding the honest checkpoint when the forked one arrives, and B holding the forked
/// one when the honest, older one arrives (which B once dropped as a late copy, so the
/// fork went unnoticed whenever X's checkpoint reached B second).
fn fork_at_different_sizes(tag: &str, larger_first: bool) {
    let fed = Fed::init(3, tag);
    let (a, b, x) = (&fed.specs[0], &fed.specs[1], &fed.specs[2]);
    let mut x2 = x.clone();
    x2.dir = fed.path("x-fork");
    x2.gossip_port = free_port().unwrap();
    copy_dir(&x.dir, &x2.dir);

    let px = Proc::spawn(bin(), x, &x.config(&[a], "")).unwrap();
    let px2 = Proc::spawn(bin(), &x2, &x2.config(&[b], "")).unwrap();
    let mut xu = x.clone();
    xu.url = Some(format!("http://{}", px.http));
    let mut x2u = x2.clone();
    x2u.url = Some(format!("http://{}", px2.http));
    let pa = Proc::spawn(bin(), a, &a.config(&[b, &xu], "")).unwrap();
    let pb = Proc::spawn(bin(), b, &b.config(&[a, &x2u], "")).unwrap();

    // One batch each, so the only checkpoints are of sizes 2 and 3 (no same-size pair).
    let batch = |tag: &str, n: u64| {
        let envs: Vec<Vec<u8>> = (0..n).map(|k| envelope(tag, k)).collect();
        quorate_node::api::join_batch(&envs)
    };
    let ct = quorate_node::api::BATCH_CONTENT_TYPE;
    let honest = || {
        let r = px
            .post("/v1/attestations", ct, &batch("honest", 2))
            .unwrap();
        assert_eq!(r.0, 201);
    };
    let forked = || {
        let r = px2
            .post("/v1/attestations", ct, &batch("forked", 3))
            .unwrap();
        assert_eq!(r.0, 201);
    };
    let b_holds = |size: u64| {
        wait_for(30, &format!("B to hold X's checkpoint {size}"), || {
            (seen_size(&pb, &x.origin) == Some(size)).then_some(())
        })
    };
    if larger_first {
        forked();
        b_holds(3);
        honest();
    } else {
        honest();
        b_holds(2);
        forked();
    }
    let xv = x.log_verifier();
    for p in [&pa, &pb] {
        let texts = wait_for(30, "equivocation evidence", || {
            let t = equivocations(p);
            (!t.is_empty()).then_some(t)
        });
        for t in &texts {
            let v = parse_evidence(t).verify(&xv).unwrap();
            assert_eq!(v.origin(), x.origin);
        }
    }
    // B built it from tiles: sizes 2 and 3, with a prefix line.
    let texts = equivocations(&pb);
    assert!(texts.iter().any(|t| t.contains("\nprefix ")), "{texts:?}");
}

#[test]
fn fork_at_different_sizes_is_caught_through_tiles() {
    fork_at_different_sizes("eqt", false);
}

#[test]
fn fork_whose_larger_side_arrives_first_is_caught() {
    fork_at_different_sizes("eql", true);
}
