//! The add-checkpoint contract on the wire, status by status, against a real server on
//! 127.0.0.1, with checkpoints from a real growing log.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{NOW, TempDir, TestLog, body, http};
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::{CosignatureSigner, CosignatureVerifier};
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::tree_hash;
use quorate_proto::note::{self, Signer};
use quorate_witness::{
    CosignOutcome, MAX_EVIDENCE_PER_ORIGIN, MAX_REQUEST_BYTES, Recorded, Witness, WitnessClient,
    router,
};

struct Server {
    addr: SocketAddr,
    witness: Arc<Witness>,
    verifier: CosignatureVerifier,
    _rt: tokio::runtime::Runtime,
    _dir: TempDir,
}

fn server(logs: &[&TestLog]) -> Server {
    let dir = TempDir::new("http");
    let signer = CosignatureSigner::generate("witness.example/w1", [42; 32]).unwrap();
    let verifier = signer.verifier();
    let w = Witness::open(
        signer,
        logs.iter().map(|l| l.signer.verifier()).collect(),
        &dir.path().join("w.redb"),
        || NOW,
    )
    .unwrap();
    let witness = Arc::new(w);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(witness.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    Server {
        addr,
        witness,
        verifier,
        _rt: rt,
        _dir: dir,
    }
}

impl Server {
    fn add(&self, body: &[u8]) -> common::RawResponse {
        http(self.addr, "POST", "/add-checkpoint", body)
    }

    /// Asserts a 200 whose body is one cosignature line that verifies on `note`.
    fn assert_cosigned(&self, log: &TestLog, resp: &common::RawResponse, note: &[u8]) {
        assert_eq!(resp.status, 200, "{}", resp.text());
        let text = resp.text();
        assert!(text.starts_with("\u{2014} witness.example/w1 "), "{text}");
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text}"
        );
        let mut cosigned = String::from_utf8(note.to_vec()).unwrap();
        cosigned.push_str(&text);
        let v = verify_checkpoint(
            cosigned.as_bytes(),
            &log.signer.verifier(),
            std::slice::from_ref(&self.verifier),
        )
        .unwrap();
        v.require_witnesses(1).unwrap();
        assert_eq!(v.cosignatures()[0].timestamp(), NOW);
    }
}

#[test]
fn statuses_on_the_wire_over_a_growing_log() {
    let mut log = TestLog::new("log.example/a", 1);
    let other = TestLog::new("log.example/unknown", 2);
    let s = server(&[&log]);

    assert_eq!(http(s.addr, "GET", "/healthz", b"").text(), "ok\n");

    // First contact: old 0, empty proof.
    log.grow(5, "a");
    let cp5 = log.checkpoint();
    let r = s.add(&log.body_from(0));
    s.assert_cosigned(&log, &r, &cp5);

    // Replay of the current checkpoint (old == size, empty proof, same root): re-cosigned.
    let r = s.add(&log.body_from(5));
    s.assert_cosigned(&log, &r, &cp5);

    // Stale old size: 409 with the latest size and text/x.tlog.size.
    let r = s.add(&log.body_from(0));
    assert_eq!(r.status, 409);
    assert_eq!(r.header("content-type"), Some("text/x.tlog.size"));
    assert_eq!(r.text(), "5\n");
    let r = s.add(&body(3, &[], &cp5));
    assert_eq!((r.status, r.text().as_str()), (409, "5\n"));

    // Several rounds of growth, each cosigned and verified (power-of-two sizes included).
    let mut old = 5;
    for grow in [1, 2, 8, 16, 1, 31] {
        log.grow(grow, "a");
        let r = s.add(&log.body_from(old));
        s.assert_cosigned(&log, &r, &log.checkpoint());
        old = log.size();
    }
    assert_eq!(s.witness.latest(log.origin()).unwrap().unwrap().size, old);

    // 404: unknown origin.
    let mut other = other;
    other.grow(1, "x");
    assert_eq!(s.add(&other.body_from(0)).status, 404);

    // 403: right origin, wrong key (same name, different key).
    let impostor = Signer::generate(log.origin(), [99; 32]).unwrap();
    let forged = log.checkpoint_signed_by(&impostor);
    assert_eq!(s.add(&body(old, &[], &forged)).status, 403);
    // 403: only an unrelated signature.
    let stranger = Signer::generate("someone.example", [98; 32]).unwrap();
    let unsigned = log.checkpoint_signed_by(&stranger);
    assert_eq!(s.add(&body(old, &[], &unsigned)).status, 403);

    // 422: a corrupted consistency proof (not evidence of a fork by itself).
    let before = log.size();
    log.grow(7, "a");
    let mut proof = log.proof_from(before);
    proof[0][0] ^= 1;
    let r = s.add(&body(before, &proof, &log.checkpoint()));
    assert_eq!(r.status, 422, "{}", r.text());
    // 422: the right proof for the wrong sizes; and a missing proof.
    let wrong = log.proof_from(before - 1);
    assert_eq!(s.add(&body(before, &wrong, &log.checkpoint())).status, 422);
    assert_eq!(s.add(&body(before, &[], &log.checkpoint())).status, 422);
    // 422: a proof between equal sizes must be empty.
    let cur = s.witness.latest(log.origin()).unwrap().unwrap();
    assert_eq!(s.add(&body(before, &proof[..1], &cur.note)).status, 422);
    assert!(s.witness.equivocations().unwrap().is_empty());
    assert!(!s.witness.is_equivocating(log.origin()));

    // 400: old larger than the checkpoint size (a rollback presented with the current old).
    assert_eq!(s.add(&body(before, &[], &cp5)).status, 400);
    // An older checkpoint presented as if it were current: 409, never cosigned.
    assert_eq!(s.add(&body(5, &[], &cp5)).status, 409);

    // The good request still works after all that.
    let r = s.add(&log.body_from(before));
    s.assert_cosigned(&log, &r, &log.checkpoint());

    // Malformed bodies: 400.
    let good = log.body_from(log.size());
    let mut non_utf8 = good.clone();
    let at = non_utf8.len() - 5;
    non_utf8[at] = 0xff;
    let mut bad_b64 = b"old 1\n!!notbase64!!\n\n".to_vec();
    bad_b64.extend_from_slice(&log.checkpoint());
    let mut no_blank = format!("old {}\n", log.size()).into_bytes();
    no_blank.extend_from_slice(&log.checkpoint());
    let mut leading_zero = format!("old 0{}\n\n", log.size()).into_bytes();
    leading_zero.extend_from_slice(&log.checkpoint());
    let mut checkpoint_garbage = format!("old {}\n\n", log.size()).into_bytes();
    checkpoint_garbage.extend_from_slice(
        b"log.example/a\nnot a size\nxyz\n\n\xe2\x80\x94 log.example/a AAAAAAAA\n",
    );
    let oversized = vec![b'o'; MAX_REQUEST_BYTES + 1];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", b"hello witness".to_vec()),
        ("truncated", good[..good.len() - 20].to_vec()),
        ("truncated header", b"old 12".to_vec()),
        ("non-UTF-8", non_utf8),
        ("bad base64 proof line", bad_b64),
        ("missing blank line", no_blank),
        ("leading zero", leading_zero),
        ("garbage checkpoint", checkpoint_garbage),
        ("oversized", oversized),
    ];
    for (what, b) in cases {
        let r = s.add(&b);
        assert_eq!(r.status, 400, "{what}: {}", r.text());
    }
    // Wrong method.
    assert_eq!(http(s.addr, "GET", "/add-checkpoint", b"").status, 405);
    // State unchanged by every refusal.
    assert_eq!(
        s.witness.latest(log.origin()).unwrap().unwrap().size,
        log.size()
    );
}

#[test]
fn first_contact_rules() {
    let mut log = TestLog::new("log.example/b", 3);
    let s = server(&[&log]);
    log.grow(6, "b");
    // Old 0 with a non-empty proof: the proof MUST be empty.
    let r = s.add(&body(0, &log.proof_from(3), &log.checkpoint()));
    assert_eq!(r.status, 422);
    // Old 3 before anything was cosigned: 409 "0\n".
    let r = s.add(&log.body_from(3));
    assert_eq!((r.status, r.text().as_str()), (409, "0\n"));
    assert_eq!(r.header("content-type"), Some("text/x.tlog.size"));
    // A size-0 checkpoint must carry the empty-tree root.
    let empty = TestLog::new("log.example/b", 3);
    let r = s.add(&empty.body_from(0));
    s.assert_cosigned(&empty, &r, &empty.checkpoint());
    let r = s.add(&log.body_from(0));
    s.assert_cosigned(&log, &r, &log.checkpoint());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_talks_to_the_server() {
    let mut log = TestLog::new("log.example/c", 4);
    let s = tokio::task::spawn_blocking({
        let l = TestLog::new("log.example/c", 4);
        move || server(&[&l])
    })
    .await
    .unwrap();
    let url = format!("http://{}", s.addr);
    log.grow(3, "c");
    let cp = log.checkpoint();
    let out = quorate_witness::request_cosignature(&url, 0, &[], &cp)
        .await
        .unwrap();
    let CosignOutcome::Cosigned(sigs) = out else {
        panic!("{out:?}")
    };
    let with = note::add_signatures(std::str::from_utf8(&cp).unwrap(), &sigs).unwrap();
    verify_checkpoint(
        with.as_bytes(),
        &log.signer.verifier(),
        std::slice::from_ref(&s.verifier),
    )
    .unwrap()
    .require_witnesses(1)
    .unwrap();
    // Keep-alive client: conflict, then retry from the size the witness reports.
    let client = WitnessClient::new(&url).unwrap();
    log.grow(10, "c");
    let cp = log.checkpoint();
    let out = client.add_checkpoint(0, &[], &cp).await.unwrap();
    assert_eq!(out, CosignOutcome::Conflict { size: 3 });
    let out = client
        .add_checkpoint(3, &log.proof_from(3), &cp)
        .await
        .unwrap();
    assert!(
        matches!(out, CosignOutcome::Cosigned(ref v) if v.len() == 1 && v[0].name() == "witness.example/w1")
    );
    let err = client
        .add_checkpoint(13, &[[0; 32]], &cp)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            quorate_witness::ClientError::Status { status: 422, .. }
        ),
        "{err}"
    );
    drop(client);
    tokio::task::spawn_blocking(move || drop(s)).await.unwrap();
}

#[test]
fn forked_log_is_refused_and_evidence_is_stored() {
    let mut log = TestLog::new("log.example/fork", 5);
    let s = server(&[&log]);
    log.grow(8, "shared");
    let mut fork = TestLog::fork_of(&log, 5); // same key
    log.grow(2, "honest");
    fork.grow(2, "evil");
    // The witness follows the honest branch to size 10.
    let r = s.add(&log.body_from(0));
    s.assert_cosigned(&log, &r, &log.checkpoint());

    // Same size, different root: 409 (plain text), evidence stored.
    let r = s.add(&fork.body_from(10));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_ne!(r.header("content-type"), Some("text/x.tlog.size"));
    let ev = s.witness.equivocations().unwrap();
    assert_eq!(ev.len(), 1);
    let parsed = Equivocation::parse(ev[0].evidence.as_bytes()).unwrap();
    let v = parsed.verify(&log.signer.verifier()).unwrap();
    assert_eq!(v.origin(), log.origin());
    assert!(s.witness.is_equivocating(log.origin()));

    // From now on the log is refused with 403, even for consistent checkpoints.
    log.grow(3, "honest");
    let r = s.add(&log.body_from(10));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("equivocat"), "{}", r.text());

    // Evidence is served as JSON texts.
    let r = http(s.addr, "GET", "/v1/equivocations", b"");
    assert_eq!(r.status, 200);
    let list: Vec<String> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(list, vec![ev[0].evidence.clone()]);
}

#[test]
fn inconsistent_proof_from_a_fork_yields_evidence() {
    let mut log = TestLog::new("log.example/fork2", 6);
    let s = server(&[&log]);
    log.grow(8, "shared");
    let mut fork = TestLog::fork_of(&log, 6);
    log.grow(2, "honest");
    fork.grow(7, "evil");
    let r = s.add(&log.body_from(0));
    s.assert_cosigned(&log, &r, &log.checkpoint());
    // The fork's own (valid for its tree) proof from 10 to 17 does not verify against the
    // cosigned root at 10: 422, and it proves the log signed two histories.
    let r = s.add(&fork.body_from(10));
    assert_eq!(r.status, 422, "{}", r.text());
    let ev = s.witness.equivocations().unwrap();
    assert_eq!(ev.len(), 1, "evidence expected");
    Equivocation::parse(ev[0].evidence.as_bytes())
        .unwrap()
        .verify(&log.signer.verifier())
        .unwrap();
    assert!(s.witness.is_equivocating(log.origin()));
    assert_eq!(s.witness.latest(log.origin()).unwrap().unwrap().size, 10);
}

#[test]
fn outside_evidence_is_verified_and_deduplicated() {
    let mut log = TestLog::new("log.example/gossip", 7);
    let mut unrelated = TestLog::new("log.example/other", 8);
    let s = server(&[&log, &unrelated]);
    log.grow(5, "shared");
    let mut fork = TestLog::fork_of(&log, 7);
    log.grow(1, "honest");
    fork.grow(4, "evil");
    let (a, b) = (log.checkpoint(), fork.checkpoint());
    let prefix = tree_hash(6, &fork.tree).unwrap();
    let proof = fork.proof_from(6);
    let e = Equivocation::with_prefix(&a, &b, prefix, proof);
    assert_eq!(
        s.witness
            .record_equivocation(e.to_text().as_bytes())
            .unwrap(),
        Recorded::New
    );
    assert_eq!(
        s.witness
            .record_equivocation(e.to_text().as_bytes())
            .unwrap(),
        Recorded::Known
    );
    assert!(s.witness.is_equivocating(log.origin()));
    assert!(!s.witness.is_equivocating(unrelated.origin()));
    // Garbage and non-conflicting pairs are rejected (422 over HTTP).
    assert!(s.witness.record_equivocation(b"nonsense").is_err());
    let same = Equivocation::same_size(&a, &a);
    let r = http(
        s.addr,
        "POST",
        "/v1/equivocations",
        same.to_text().as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let r = http(s.addr, "POST", "/v1/equivocations", e.to_text().as_bytes());
    assert_eq!((r.status, r.text().as_str()), (200, "known\n"));
    // The unrelated log is still cosigned.
    unrelated.grow(2, "u");
    s.assert_cosigned(
        &unrelated,
        &s.add(&unrelated.body_from(0)),
        &unrelated.checkpoint(),
    );
    let r = s.add(&log.body_from(0));
    assert_eq!(r.status, 403);
}

#[test]
fn concurrent_requests_from_one_old_size_never_both_succeed() {
    let mut log = TestLog::new("log.example/race", 9);
    let s = server(&[&log]);
    log.grow(4, "r");
    s.assert_cosigned(&log, &s.add(&log.body_from(0)), &log.checkpoint());
    for round in 0..5 {
        let old = log.size();
        // Many different extensions of the same old size, all valid on their own.
        let mut bodies = Vec::new();
        for k in 1..=8 {
            let mut l = TestLog::fork_of(&log, 9);
            l.grow(k, "r");
            bodies.push((l.size(), l.body_from(old)));
        }
        let addr = s.addr;
        let results: Vec<(u64, common::RawResponse)> = std::thread::scope(|sc| {
            let hs: Vec<_> = bodies
                .iter()
                .map(|(size, b)| {
                    sc.spawn(move || (*size, http(addr, "POST", "/add-checkpoint", b)))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: Vec<u64> = results
            .iter()
            .filter(|(_, r)| r.status == 200)
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(ok.len(), 1, "round {round}: {results:?}");
        for (_, r) in results.iter().filter(|(_, r)| r.status != 200) {
            assert_eq!(r.status, 409, "round {round}: {}", r.text());
            assert_eq!(r.text(), format!("{}\n", ok[0]));
        }
        let stored = s.witness.latest(log.origin()).unwrap().unwrap();
        assert_eq!(stored.size, ok[0]);
        // Continue from the winner.
        log.grow((ok[0] - old) as usize, "r");
        assert_eq!(stored.root, log.tree.root());
    }
}

/// The permanent refusal of an equivocating log says so on the wire (its own content type,
/// a body naming the log and the reason) and the client reports it as that, not as a
/// bad signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocating_log_refusal_names_the_log_and_the_client_reports_it() {
    let mut log = TestLog::new("log.example/eqv", 5);
    log.grow(8, "shared");
    let mut fork = TestLog::fork_of(&log, 5);
    log.grow(2, "honest");
    fork.grow(2, "evil");
    let s = tokio::task::spawn_blocking({
        let l = TestLog::new("log.example/eqv", 5);
        move || server(&[&l])
    })
    .await
    .unwrap();
    let (honest, forked) = (log.body_from(0), fork.body_from(10));
    let s = tokio::task::spawn_blocking(move || {
        assert_eq!(s.add(&honest).status, 200);
        assert_eq!(s.add(&forked).status, 409);
        s
    })
    .await
    .unwrap();
    assert!(s.witness.is_equivocating("log.example/eqv"));

    // On the wire: 403, the extension's content type, first line naming the origin.
    log.grow(3, "honest");
    let next = log.body_from(10);
    let addr = s.addr;
    let r = tokio::task::spawn_blocking(move || http(addr, "POST", "/add-checkpoint", &next))
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/x.quorate.equivocating")
    );
    assert_eq!(
        quorate_witness::EQUIVOCATING_CONTENT_TYPE,
        "text/x.quorate.equivocating"
    );
    let text = r.text();
    assert_eq!(
        text.lines().next(),
        Some("log equivocated: log.example/eqv"),
        "{text}"
    );
    assert!(text.contains("/v1/equivocations"), "{text}");

    // The client names the refusal and the log.
    let client = WitnessClient::new(&format!("http://{addr}")).unwrap();
    let err = client
        .add_checkpoint(10, &log.proof_from(10), &log.checkpoint())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, quorate_witness::ClientError::Equivocating { origin } if origin == "log.example/eqv"),
        "{err:?}"
    );
    assert!(err.to_string().contains("equivocated"), "{err}");
    // A bad signature is still a plain 403 status.
    let other = Signer::generate("log.example/eqv", [77; 32]).unwrap();
    let text = quorate_proto::checkpoint::Checkpoint::new("log.example/eqv", 1, [1; 32], vec![])
        .unwrap()
        .to_text();
    let forged = note::sign(&text, &[&other]).unwrap().into_bytes();
    let err = client.add_checkpoint(0, &[], &forged).await.unwrap_err();
    assert!(
        matches!(
            err,
            quorate_witness::ClientError::Status { status: 403, .. }
        ),
        "{err:?}"
    );
    drop(client);
    tokio::task::spawn_blocking(move || drop(s)).await.unwrap();
}

/// `note` with a junk signature line appended (a name no one here has a key for).
fn with_junk(note: &[u8], i: u32) -> Vec<u8> {
    use base64::Engine as _;
    let mut raw = i.to_be_bytes().to_vec();
    raw.extend_from_slice(&[7u8; 64]);
    let line = format!(
        "\u{2014} junk.example/w{i} {}\n",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    [note, line.as_bytes()].concat()
}

#[test]
fn evidence_is_stored_once_per_canonical_form_and_a_few_times_per_origin() {
    let mut log = TestLog::new("log.example/flood", 9);
    let s = server(&[&log]);
    log.grow(4, "shared");
    // Forks of size 6 under the log's key, each with its own content.
    let forks: Vec<Vec<u8>> = (0..MAX_EVIDENCE_PER_ORIGIN + 2)
        .map(|k| {
            let mut f = TestLog::fork_of(&log, 9);
            f.grow(2, &format!("evil{k}"));
            f.checkpoint()
        })
        .collect();
    log.grow(2, "honest");
    let a = log.checkpoint();

    // 40 copies of one piece of evidence, each with its own junk line: one is new.
    let mut answers = std::collections::BTreeMap::new();
    for i in 0..40 {
        let e = Equivocation::same_size(&a, &with_junk(&forks[0], i));
        let r = http(s.addr, "POST", "/v1/equivocations", e.to_text().as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        *answers.entry(r.text()).or_insert(0) += 1;
    }
    assert_eq!(
        answers,
        [("known\n".to_string(), 39), ("new\n".to_string(), 1)].into()
    );
    let stored = s.witness.equivocations().unwrap();
    assert_eq!(stored.len(), 1);
    // What is stored is the canonical form: no junk line.
    assert_eq!(
        stored[0].evidence,
        Equivocation::same_size(&a, &forks[0]).to_text()
    );
    assert_eq!(s.witness.evidence_count().unwrap(), 1);

    // Distinct forks: stored up to the per-origin bound, then "enough".
    let mut answers = Vec::new();
    for f in &forks[1..] {
        let e = Equivocation::same_size(&a, f);
        let r = http(s.addr, "POST", "/v1/equivocations", e.to_text().as_bytes());
        answers.push(r.text());
    }
    let news = answers.iter().filter(|a| *a == "new\n").count() as u64;
    assert_eq!(news, MAX_EVIDENCE_PER_ORIGIN - 1, "{answers:?}");
    assert!(answers.ends_with(&["enough\n".to_string(), "enough\n".to_string()]));
    assert_eq!(s.witness.evidence_count().unwrap(), MAX_EVIDENCE_PER_ORIGIN);

    // Paging: one item per page, following the Link header, yields each item once.
    let all: Vec<String> = {
        let r = http(s.addr, "GET", "/v1/equivocations", b"");
        assert!(r.header("link").is_none());
        serde_json::from_slice(&r.body).unwrap()
    };
    assert_eq!(all.len() as u64, MAX_EVIDENCE_PER_ORIGIN);
    let (mut paged, mut next) = (Vec::new(), Some("/v1/equivocations?limit=1".to_string()));
    while let Some(path) = next.take() {
        let r = http(s.addr, "GET", &path, b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let page: Vec<String> = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(page.len(), 1);
        paged.extend(page);
        next = r.header("link").map(|l| {
            l.strip_prefix('<')
                .and_then(|l| l.split_once('>'))
                .unwrap()
                .0
                .to_string()
        });
    }
    assert_eq!(paged, all);
    for bad in ["limit=0", "limit=65", "after=zz", "page=2"] {
        let r = http(s.addr, "GET", &format!("/v1/equivocations?{bad}"), b"");
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}
