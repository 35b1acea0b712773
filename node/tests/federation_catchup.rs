//! Partition / restart: a node that was down catches up and resumes witnessing by
//! itself; a restarted witness still refuses checkpoints inconsistent with what it
//! cosigned before.

mod fed_support;

use fed_support::*;
use quorate_node::datadir::DataDir;
use quorate_node::fedbench::Proc;

#[test]
fn stopped_node_catches_up_and_resumes_witnessing() {
    let fed = Fed::init(3, "cu");
    let (a, b, c) = (&fed.specs[0], &fed.specs[1], &fed.specs[2]);
    let pa = fed.start_full(0, "");
    let pb = fed.start_full(1, "");
    let mut pc = fed.start_full(2, "");
    pa.submit(&envelope("a", 0)).unwrap();
    wait_for(20, "A cosigned by B and C", || {
        (has_cosig(&pa, a, &b.witness_verifier(), 1) && has_cosig(&pa, a, &c.witness_verifier(), 1))
            .then_some(())
    });

    // C goes down; A and B keep logging.
    pc.stop();
    for k in 1..6 {
        pa.submit(&envelope("a", k)).unwrap();
        pb.submit(&envelope("b", k)).unwrap();
    }
    wait_for(20, "A at 6 cosigned by B", || {
        has_cosig(&pa, a, &b.witness_verifier(), 6).then_some(())
    });
    assert!(!has_cosig(&pa, a, &c.witness_verifier(), 6));

    // C comes back with no operator action: its cosignature reappears on A and B.
    pc = fed.start_full(2, "");
    wait_for(30, "C's cosignature back on A and B", || {
        (has_cosig(&pa, a, &c.witness_verifier(), 6) && has_cosig(&pb, b, &c.witness_verifier(), 5))
            .then_some(())
    });
    // And C's own log is witnessed again.
    pc.submit(&envelope("c", 0)).unwrap();
    wait_for(20, "C cosigned by A and B", || {
        (has_cosig(&pc, c, &a.witness_verifier(), 1) && has_cosig(&pc, c, &b.witness_verifier(), 1))
            .then_some(())
    });
    for p in [&pa, &pb, &pc] {
        assert!(equivocations(p).is_empty());
    }
}

#[test]
fn restarted_witness_refuses_an_inconsistent_checkpoint() {
    let fed = Fed::init(2, "rw");
    let (a, b) = (&fed.specs[0], &fed.specs[1]);
    let pa = fed.start_full(0, "");
    let mut pb = fed.start_full(1, "");
    for k in 0..3 {
        pa.submit(&envelope("a", k)).unwrap();
    }
    wait_for(20, "A at 3 cosigned by B", || {
        has_cosig(&pa, a, &b.witness_verifier(), 3).then_some(())
    });
    // Restart B's node (its witness).
    pb.stop();
    let pb = Proc::spawn(bin(), b, &fed.full_config(1, "")).unwrap();

    // A forged checkpoint validly signed with A's key: size 3, another root.
    let key = DataDir::new(&a.dir).load_key().unwrap();
    let forged = key.sign_checkpoint(3, [7; 32]).unwrap();
    let (status, body) = pb
        .post(
            "/add-checkpoint",
            "text/plain",
            &add_checkpoint_body(3, &[], &forged),
        )
        .unwrap();
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    // Same size, different root, both signed by A: the witness kept evidence, refuses
    // A from now on, and the evidence spreads to A's own node.
    let texts = equivocations(&pb);
    assert_eq!(texts.len(), 1);
    parse_evidence(&texts[0]).verify(&a.log_verifier()).unwrap();
    let (_, note) = pa.get("/checkpoint").unwrap();
    let (status, _) = pb
        .post(
            "/add-checkpoint",
            "text/plain",
            &add_checkpoint_body(3, &[], &note),
        )
        .unwrap();
    assert_eq!(status, 403);
    wait_for(20, "evidence gossiped to A", || {
        (!equivocations(&pa).is_empty()).then_some(())
    });
}

#[test]
fn restarted_witness_refuses_a_larger_fork() {
    let fed = Fed::init(2, "rl");
    let (a, b) = (&fed.specs[0], &fed.specs[1]);
    let pa = fed.start_full(0, "");
    let mut pb = fed.start_full(1, "");
    for k in 0..3 {
        pa.submit(&envelope("a", k)).unwrap();
    }
    wait_for(20, "A at 3 cosigned by B", || {
        has_cosig(&pa, a, &b.witness_verifier(), 3).then_some(())
    });
    pb.stop();
    let pb = Proc::spawn(bin(), b, &fed.full_config(1, "")).unwrap();
    // Size 5 with a root that has no valid proof from the cosigned size 3.
    let key = DataDir::new(&a.dir).load_key().unwrap();
    let forged = key.sign_checkpoint(5, [7; 32]).unwrap();
    let (status, body) = pb
        .post(
            "/add-checkpoint",
            "text/plain",
            &add_checkpoint_body(3, &[[1; 32], [2; 32], [3; 32]], &forged),
        )
        .unwrap();
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    // From a stale old size: 409 with the size it holds.
    let (status, body) = pb
        .post(
            "/add-checkpoint",
            "text/plain",
            &add_checkpoint_body(0, &[], &forged),
        )
        .unwrap();
    assert_eq!((status, body.as_slice()), (409, &b"3\n"[..]));
}

#[test]
fn silent_external_witness_does_not_hold_up_new_checkpoints() {
    // A "witness" that accepts connections and never answers.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let vkey = quorate_proto::cosignature::CosignatureSigner::generate("silent.example/w", [8; 32])
        .unwrap()
        .vkey();
    let extra = format!(
        "witness_quorum_wait_ms = 200\ncosign_timeout_ms = 20000\n\
         [[external_witness]]\nurl = \"http://{}\"\nvkey = {vkey:?}\n",
        blackhole.local_addr().unwrap()
    );
    let fed = Fed::init(3, "sx");
    let (a, b, c) = (&fed.specs[0], &fed.specs[1], &fed.specs[2]);
    let pa = match Proc::spawn(bin(), a, &fed.full_config(0, &extra)) {
        Ok(p) => p,
        Err(e) => panic!("{e:#}"),
    };
    let _pb = fed.start_full(1, "");
    let _pc = fed.start_full(2, "");
    for k in 0..5u64 {
        let size = pa.submit(&envelope("a", k)).unwrap();
        wait_for(3, "new checkpoint cosigned by both peers", || {
            (has_cosig(&pa, a, &b.witness_verifier(), size)
                && has_cosig(&pa, a, &c.witness_verifier(), size))
            .then_some(())
        });
    }
    drop(blackhole);
}
