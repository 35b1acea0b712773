//! The embedded witness over HTTP (C2SP tlog-witness answers), and a peer publishing
//! wrongly signed checkpoints of another log over gossip.

mod fed_support;

use std::time::Duration;

use fed_support::*;
use quorate_node::datadir::DataDir;
use quorate_node::fedbench::http_full;
use quorate_node::gossip::{
    Gossip, GossipConfig, GossipLimits, GossipMessage, PeerInfo, Request, Response,
    identity_from_skey,
};
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
use quorate_proto::merkle::{self, MemoryLog};
use quorate_proto::note::{self, Signer};

fn tree(n: u64) -> MemoryLog {
    let mut l = MemoryLog::new();
    for i in 0..n {
        l.append(format!("entry {i}").as_bytes());
    }
    l
}

#[test]
fn add_checkpoint_statuses() {
    let fed = Fed::init(2, "c2sp");
    let (n, p) = (&fed.specs[0], &fed.specs[1]);
    // P is configured but never started: we play its log by hand with its key.
    let pn = fed.start_full(0, "");
    let pkey = DataDir::new(&p.dir).load_key().unwrap();
    let t = tree(4);
    let cp2 = pkey.sign_checkpoint(2, tree(2).root()).unwrap();
    let cp4 = pkey.sign_checkpoint(4, t.root()).unwrap();
    let post = |body: Vec<u8>| {
        let (s, head, b) = http_full(
            pn.http,
            "POST",
            "/add-checkpoint",
            Some("text/plain"),
            &body,
        )
        .unwrap();
        (
            s,
            head.to_ascii_lowercase(),
            String::from_utf8_lossy(&b).into_owned(),
        )
    };

    let (s, _, lines) = post(add_checkpoint_body(0, &[], &cp2));
    assert_eq!(s, 200, "{lines}");
    let cosigned =
        note::add_signatures(std::str::from_utf8(&cp2).unwrap(), &parse_lines(&lines)).unwrap();
    let v = verify_checkpoint(
        cosigned.as_bytes(),
        &p.log_verifier(),
        &[n.witness_verifier()],
    )
    .unwrap();
    v.require_witnesses(1).unwrap();

    // Wrong old size: 409 with the size it holds.
    let (s, head, body) = post(add_checkpoint_body(0, &[], &cp4));
    assert_eq!((s, body.as_str()), (409, "2\n"));
    assert!(head.contains("content-type: text/x.tlog.size"), "{head}");
    // Bad proof: 422.
    let (s, _, body) = post(add_checkpoint_body(2, &[[5; 32]], &cp4));
    assert_eq!(s, 422, "{body}");
    // Good proof: 200.
    let proof = merkle::prove_tree(4, 2, &t).unwrap();
    let (s, _, body) = post(add_checkpoint_body(2, &proof, &cp4));
    assert_eq!(s, 200, "{body}");
    // Unknown origin: 404.
    let stranger = Signer::generate("stranger.example/log", [3; 32]).unwrap();
    let text = Checkpoint::new("stranger.example/log", 4, t.root(), vec![])
        .unwrap()
        .to_text();
    let cpx = note::sign(&text, &[&stranger]).unwrap().into_bytes();
    let (s, _, _) = post(add_checkpoint_body(0, &[], &cpx));
    assert_eq!(s, 404);
    // P's origin signed by another key: 403.
    let wrong = Signer::generate(&p.origin, [4; 32]).unwrap();
    let text = Checkpoint::new(&p.origin, 4, t.root(), vec![])
        .unwrap()
        .to_text();
    let cpw = note::sign(&text, &[&wrong]).unwrap().into_bytes();
    let (s, _, _) = post(add_checkpoint_body(4, &[], &cpw));
    assert_eq!(s, 403);
    // Malformed: 400.
    let (s, _, _) = post(b"old x\n\n".to_vec());
    assert_eq!(s, 400);
    // The node's own log is never cosigned by its own witness over gossip, and the
    // equivocation list is the witness's (empty here).
    assert!(equivocations(&pn).is_empty());
}

fn parse_lines(text: &str) -> Vec<note::NoteSignature> {
    use base64::Engine as _;
    text.lines()
        .map(|l| {
            let rest = l.strip_prefix("\u{2014} ").unwrap();
            let (name, b64) = rest.split_once(' ').unwrap();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            note::NoteSignature::new(
                name,
                u32::from_be_bytes(raw[..4].try_into().unwrap()),
                raw[4..].to_vec(),
            )
            .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongly_signed_gossip_does_not_change_state() {
    let fed = Fed::init(3, "bad");
    let (n, p, q) = (&fed.specs[0], &fed.specs[1], &fed.specs[2]);
    let pn = fed.start_full(0, "");
    // Q is played by this test's own transport, with Q's real identity.
    let qkey = identity_from_skey(&DataDir::new(&q.dir).log_skey().unwrap()).unwrap();
    let limits = GossipLimits {
        heartbeat: Duration::from_millis(200),
        redial_min: Duration::from_millis(100),
        redial_max: Duration::from_millis(800),
        request_timeout: Duration::from_secs(5),
        ..GossipLimits::default()
    };
    let (qh, mut events) = Gossip::start(
        GossipConfig {
            listen: q.gossip_addr().parse().unwrap(),
            peers: vec![PeerInfo::parse(&n.peer_id, &n.gossip_addr(), &n.origin).unwrap()],
            limits,
        },
        qkey,
    )
    .await
    .unwrap();
    // Answer N's requests with errors; we only care about what N keeps.
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let quorate_node::gossip::GossipEvent::Request { reply, .. } = ev {
                let _ = reply.send(Response::error(404, "nothing here"));
            }
        }
    });
    let npeer: libp2p::PeerId = n.peer_id.parse().unwrap();
    let publish = |msg: GossipMessage| {
        let qh = qh.clone();
        async move {
            for _ in 0..200 {
                match qh.publish(&msg).await {
                    Ok(_) => return,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            panic!("could not publish");
        }
    };
    let ask_p = || {
        let qh = qh.clone();
        let origin = p.origin.clone();
        async move {
            qh.request(npeer, Request::Checkpoint { origin })
                .await
                .unwrap()
        }
    };

    // A valid checkpoint of P relayed by Q is accepted and kept.
    let pkey = DataDir::new(&p.dir).load_key().unwrap();
    let good = pkey.sign_checkpoint(4, tree(4).root()).unwrap();
    publish(GossipMessage::Checkpoint {
        origin: p.origin.clone(),
        note: good.clone(),
    })
    .await;
    let mut kept = None;
    for _ in 0..100 {
        if let Response::Checkpoint(c) = ask_p().await {
            kept = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kept.as_deref(), Some(&good[..]));

    // Wrongly signed checkpoints of P (larger, and same size with another root).
    let wrong = Signer::generate(&p.origin, [0xee; 32]).unwrap();
    for (size, root) in [(9, tree(9).root()), (4, [1; 32])] {
        let text = Checkpoint::new(&p.origin, size, root, vec![])
            .unwrap()
            .to_text();
        publish(GossipMessage::Checkpoint {
            origin: p.origin.clone(),
            note: note::sign(&text, &[&wrong]).unwrap().into_bytes(),
        })
        .await;
    }
    for _ in 0..100 {
        if metric(&pn, "quorate_gossip_rejected_total") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&pn, "quorate_gossip_rejected_total"), 2);
    assert_eq!(ask_p().await, Response::Checkpoint(good));
    assert!(equivocations(&pn).is_empty());
    // Garbage evidence is rejected too and stores nothing.
    publish(GossipMessage::Equivocation {
        evidence: b"quorate-equivocation/v1\ncheckpoint AAAA\ncheckpoint AAAA\n".to_vec(),
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(equivocations(&pn).is_empty());
    assert!(pn.get("/healthz").unwrap().0 == 200);
    qh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_c2sp_witness_cosigns_over_http() {
    use quorate_proto::cosignature::CosignatureSigner;
    use quorate_witness::{SystemClock, Witness};

    let fed = Fed::init(1, "ext");
    let n = &fed.specs[0];
    // A standalone C2SP witness (the quorate-witness library) on loopback HTTP.
    let signer = CosignatureSigner::generate("witness.example/ext", [5; 32]).unwrap();
    let wv = signer.verifier();
    let w = Witness::open(
        signer,
        vec![n.log_verifier()],
        &fed.path("ext-witness.redb"),
        SystemClock,
    )
    .unwrap();
    let app = quorate_witness::router(std::sync::Arc::new(w));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let waddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // No [gossip] section: a standalone log that asks an external witness.
    let config = format!(
        "batch_delay_ms = 5\n[[external_witness]]\nurl = \"http://{waddr}\"\nvkey = {:?}\n",
        wv.vkey()
    );
    let pn = tokio::task::spawn_blocking({
        let spec = n.clone();
        move || quorate_node::fedbench::Proc::spawn(bin(), &spec, &config).unwrap()
    })
    .await
    .unwrap();
    for k in 0..3 {
        pn.submit(&envelope("ext", k)).unwrap();
        let want = k + 1;
        let mut ok = false;
        for _ in 0..200 {
            let (_, body) = pn.get("/checkpoint").unwrap();
            if verify_checkpoint(&body, &n.log_verifier(), std::slice::from_ref(&wv))
                .is_ok_and(|v| v.checkpoint().size() == want && v.cosignatures().len() == 1)
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(ok, "checkpoint {want} cosigned by the external witness");
    }
}

#[test]
fn fork_proven_over_http_is_gossiped() {
    let fed = Fed::init(3, "hg");
    let (p, m) = (&fed.specs[1], &fed.specs[2]);
    // N and M run; P's log is played by hand.
    let pn = fed.start_full(0, "");
    let pm = fed.start_full(2, "");
    wait_for(20, "N and M cosign each other", || {
        has_cosig(&pm, m, &fed.specs[0].witness_verifier(), 0).then_some(())
    });
    let pkey = DataDir::new(&p.dir).load_key().unwrap();
    let a = pkey.sign_checkpoint(2, tree(2).root()).unwrap();
    let b = pkey.sign_checkpoint(2, [9; 32]).unwrap();
    let (s, _) = pn
        .post(
            "/add-checkpoint",
            "text/plain",
            &add_checkpoint_body(0, &[], &a),
        )
        .unwrap();
    assert_eq!(s, 200);
    let (s, _) = pn
        .post(
            "/add-checkpoint",
            "text/plain",
            &add_checkpoint_body(2, &[], &b),
        )
        .unwrap();
    assert_eq!(s, 409);
    assert_eq!(equivocations(&pn).len(), 1);
    let texts = wait_for(20, "evidence gossiped to M", || {
        let t = equivocations(&pm);
        (!t.is_empty()).then_some(t)
    });
    parse_evidence(&texts[0]).verify(&p.log_verifier()).unwrap();
}
