//! Sequencer and admission tests on real redb files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use quorate_node::sequencer::{
    Ack, AdmissionError, AdmissionLimits, LogKey, ReviewerSet, Sequencer, SequencerConfig,
    SubmitError, admit, init_log,
};
use quorate_node::store::Store;
use quorate_proto::attestation::{self, Attestation, Digest, Reviewer, Verdict};
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint};
use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::Signer;

const ORIGIN: &str = "example.org/quorate/test-log";

fn log_signer() -> Signer {
    Signer::generate(ORIGIN, [42; 32]).unwrap()
}

fn log_key() -> LogKey {
    LogKey::new(ORIGIN, log_signer()).unwrap()
}

fn reviewer(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

fn envelope(k: &SigningKey, package: &str, version: &str) -> Vec<u8> {
    let att = Attestation {
        ecosystem: "crates.io".into(),
        package: package.into(),
        version: version.into(),
        digest: Digest::Sha256([0x11; 32]),
        delta_from: None,
        criteria: vec!["safe-to-run".into()],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            name: "R".into(),
            public_key: k.verifying_key().to_bytes(),
        },
        organisation: "Org".into(),
        time: 1_700_000_000,
        notes: "ok".into(),
        links: vec![],
        supersedes: None,
    };
    attestation::sign(&att, k).unwrap()
}

fn reviewers(n: u8) -> ReviewerSet {
    ReviewerSet::new((0..n).map(|i| reviewer(i).verifying_key().to_bytes()))
}

struct Log {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<Store>,
    seq: Arc<Sequencer>,
    reviewers: ReviewerSet,
}

fn start(config: SequencerConfig) -> Log {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let store = Arc::new(init_log(&path, &log_key()).unwrap());
    let seq = Arc::new(Sequencer::start(store.clone(), log_key(), config).unwrap());
    Log {
        _dir: dir,
        path,
        store,
        seq,
        reviewers: reviewers(5),
    }
}

fn verified_checkpoint(note: &[u8]) -> Checkpoint {
    let v = log_signer().verifier();
    verify_checkpoint(note, &v, &[])
        .unwrap()
        .checkpoint()
        .clone()
}

/// Checks an ack's signature and inclusion proof for `env`.
fn check_ack(ack: &Ack, env: &[u8]) -> Checkpoint {
    check_ack_cached(ack, env, &mut HashMap::new())
}

/// As [`check_ack`], verifying each distinct checkpoint note once (Ed25519 is slow in
/// debug builds).
fn check_ack_cached(ack: &Ack, env: &[u8], seen: &mut HashMap<Vec<u8>, Checkpoint>) -> Checkpoint {
    let cp = seen
        .entry(ack.checkpoint.clone())
        .or_insert_with(|| verified_checkpoint(&ack.checkpoint))
        .clone();
    assert_eq!(cp.origin(), ORIGIN);
    assert_eq!(cp.size(), ack.size);
    merkle::check_record(
        &ack.proof,
        ack.size,
        cp.root_hash(),
        ack.index,
        &merkle::leaf_hash(env),
    )
    .unwrap();
    cp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submitters_get_valid_consistent_acks() {
    let log = start(SequencerConfig::default());
    let reviewers = Arc::new(log.reviewers.clone());
    let mut tasks = Vec::new();
    for t in 0..50u32 {
        let seq = log.seq.clone();
        let reviewers = reviewers.clone();
        tasks.push(tokio::spawn(async move {
            let key = reviewer((t % 5) as u8);
            let mut out = Vec::new();
            for i in 0..40u32 {
                let env = envelope(&key, &format!("pkg-{t}"), &format!("1.0.{i}"));
                let admitted = admit(&env, &reviewers, &AdmissionLimits::default()).unwrap();
                let ack = seq.submit(admitted).await.unwrap();
                assert!(!ack.duplicate);
                out.push((env, ack));
            }
            out
        }));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.unwrap());
    }
    assert_eq!(acks.len(), 2000);

    // Every ack verifies; indexes are exactly 0..2000; one checkpoint per size.
    let mut indexes = HashSet::new();
    let mut checkpoints: BTreeMap<u64, (Hash, Vec<u8>)> = BTreeMap::new();
    let mut seen = HashMap::new();
    for (env, ack) in &acks {
        let cp = check_ack_cached(ack, env, &mut seen);
        assert!(indexes.insert(ack.index));
        let prev = checkpoints.insert(ack.size, (*cp.root_hash(), ack.checkpoint.clone()));
        if let Some(prev) = prev {
            assert_eq!(
                prev.1, ack.checkpoint,
                "two checkpoints at size {}",
                ack.size
            );
        }
        assert_eq!(log.store.entry(ack.index).unwrap(), *env);
    }
    assert_eq!(indexes, (0..2000).collect());
    assert_eq!(log.store.size().unwrap(), 2000);
    // Batching happened, within the limit.
    assert!(
        checkpoints.len() < 2000,
        "{} checkpoints for 2000 entries",
        checkpoints.len()
    );

    // Successive checkpoints are consistent, and each is the stored one for its size.
    let snap = log.store.snapshot().unwrap();
    let sizes: Vec<u64> = checkpoints.keys().copied().collect();
    for w in sizes.windows(2) {
        let (old, new) = (w[0], w[1]);
        assert!(new - old <= 256);
        let proof = merkle::prove_tree(new, old, &snap).unwrap();
        merkle::check_tree(&proof, new, &checkpoints[&new].0, old, &checkpoints[&old].0).unwrap();
    }
    for (size, (_, note)) in &checkpoints {
        assert_eq!(snap.checkpoint_at(*size).unwrap().as_ref(), Some(note));
    }

    // Resubmitting returns the existing index, flagged, with a proof to the latest tree.
    for (env, first) in acks.iter().step_by(97) {
        let admitted = admit(env, &log.reviewers, &AdmissionLimits::default()).unwrap();
        let ack = log.seq.submit(admitted).await.unwrap();
        assert!(ack.duplicate);
        assert_eq!(ack.index, first.index);
        assert_eq!(ack.size, 2000);
        check_ack(&ack, env);
    }
    assert_eq!(log.store.size().unwrap(), 2000);
    assert_eq!(
        log.store
            .lookup_package("crates.io", "pkg-7", "1.0.3")
            .unwrap()
            .len(),
        1
    );

    log.seq.shutdown().await;
    log.store.verify_full().unwrap();
}

#[tokio::test]
async fn batches_respect_max_batch_and_restart_continues_the_log() {
    let config = SequencerConfig {
        max_batch: 16,
        batch_delay: Duration::from_millis(20),
        queue_capacity: 1000,
    };
    let log = start(config);
    let key = reviewer(0);
    let envs: Vec<Vec<u8>> = (0..100)
        .map(|i| envelope(&key, "serde", &format!("1.{i}.0")))
        .collect();
    // All queued before the sequencer runs (current-thread runtime), so batches are full.
    let futs: Vec<_> = envs
        .iter()
        .map(|e| {
            let a = admit(e, &log.reviewers, &AdmissionLimits::default()).unwrap();
            log.seq.submit(a)
        })
        .collect();
    let mut sizes = HashSet::new();
    for (f, env) in futs.into_iter().zip(&envs) {
        let ack = f.await.unwrap();
        check_ack(&ack, env);
        sizes.insert(ack.size);
    }
    let mut sizes: Vec<u64> = sizes.into_iter().collect();
    sizes.sort();
    assert_eq!(sizes, [16, 32, 48, 64, 80, 96, 100]);

    // Restart: the sequencer releases the store on shutdown; reopen and keep going.
    log.seq.shutdown().await;
    let (old_size, old_note) = log.store.latest_checkpoint().unwrap();
    let Log {
        _dir,
        path,
        store,
        seq,
        reviewers,
    } = log;
    drop((store, seq));
    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(
        store.latest_checkpoint().unwrap(),
        (old_size, old_note.clone())
    );
    let seq = Sequencer::start(store.clone(), log_key(), config).unwrap();
    let env = envelope(&key, "serde", "2.0.0");
    let ack = seq
        .submit(admit(&env, &reviewers, &AdmissionLimits::default()).unwrap())
        .await
        .unwrap();
    assert_eq!((ack.index, ack.size), (100, 101));
    let new_cp = check_ack(&ack, &env);
    let old_cp = verified_checkpoint(&old_note);
    let proof = merkle::prove_tree(101, 100, &store.snapshot().unwrap()).unwrap();
    merkle::check_tree(&proof, 101, new_cp.root_hash(), 100, old_cp.root_hash()).unwrap();
    seq.shutdown().await;
}

/// Group commit (the default): a lone submission is committed at once, with no timer
/// involved (the paused clock never moves), and what queued up while a commit ran shares
/// the next commit.
#[tokio::test(start_paused = true)]
async fn group_commit_waits_for_no_timer_and_batches_what_queued() {
    assert!(SequencerConfig::default().batch_delay.is_zero());
    let log = start(SequencerConfig::default());
    let key = reviewer(4);
    let admitted = |i: u32| {
        admit(
            &envelope(&key, "group", &format!("1.0.{i}")),
            &log.reviewers,
            &AdmissionLimits::default(),
        )
        .unwrap()
    };
    let t0 = tokio::time::Instant::now();
    let ack = log.seq.submit(admitted(0)).await.unwrap();
    assert_eq!((ack.index, ack.size), (0, 1));
    // A batch delay would have let the paused clock auto-advance to its deadline.
    assert_eq!(
        tokio::time::Instant::now(),
        t0,
        "a lone submission waited for a timer"
    );

    // Ten submissions queued before the sequencer task runs again (current-thread
    // runtime) all join the one next commit.
    let futs: Vec<_> = (1..=10).map(|i| log.seq.submit(admitted(i))).collect();
    for f in futs {
        assert_eq!(f.await.unwrap().size, 11);
    }
    assert_eq!(tokio::time::Instant::now(), t0);
    log.seq.shutdown().await;
}

#[tokio::test]
async fn duplicates_inside_one_batch() {
    let log = start(SequencerConfig::default());
    let env = envelope(&reviewer(1), "rand", "0.9.0");
    let a = admit(&env, &log.reviewers, &AdmissionLimits::default()).unwrap();
    let (x, y) = (log.seq.submit(a.clone()), log.seq.submit(a));
    let (x, y) = (x.await.unwrap(), y.await.unwrap());
    assert_eq!((x.index, x.duplicate), (0, false));
    assert_eq!((y.index, y.duplicate), (0, true));
    assert_eq!(x.checkpoint, y.checkpoint);
    assert_eq!(log.store.size().unwrap(), 1);
}

#[tokio::test]
async fn empty_log_has_a_signed_checkpoint() {
    let log = start(SequencerConfig::default());
    let (size, note) = log.store.latest_checkpoint().unwrap();
    assert_eq!(size, 0);
    let cp = verified_checkpoint(&note);
    assert_eq!((cp.origin(), cp.size()), (ORIGIN, 0));
    assert_eq!(*cp.root_hash(), merkle::empty_root());
}

#[tokio::test]
async fn refuses_to_continue_a_log_under_another_identity() {
    let log = start(SequencerConfig::default());
    let other_key = LogKey::new(ORIGIN, Signer::generate(ORIGIN, [7; 32]).unwrap()).unwrap();
    let err = Sequencer::start(log.store.clone(), other_key, SequencerConfig::default());
    assert!(err.is_err());
    let other_origin = LogKey::new(
        "example.org/other",
        Signer::generate(ORIGIN, [42; 32]).unwrap(),
    )
    .unwrap();
    let err = Sequencer::start(log.store.clone(), other_origin, SequencerConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("origin"), "{err}");
    assert!(
        Sequencer::start(
            log.store.clone(),
            log_key(),
            SequencerConfig {
                max_batch: 0,
                ..SequencerConfig::default()
            }
        )
        .is_err()
    );
}

#[tokio::test]
async fn full_queue_is_refused_not_buffered() {
    let log = start(SequencerConfig {
        max_batch: 4,
        batch_delay: Duration::from_millis(10),
        queue_capacity: 3,
    });
    let key = reviewer(2);
    let envs: Vec<Vec<u8>> = (0..5)
        .map(|i| envelope(&key, "tokio", &format!("1.{i}.0")))
        .collect();
    // Nothing runs until we await (current-thread runtime), so the 4th and 5th find the
    // queue full.
    let mut futs: Vec<_> = envs
        .iter()
        .map(|e| {
            log.seq
                .submit(admit(e, &log.reviewers, &AdmissionLimits::default()).unwrap())
        })
        .collect();
    let fifth = futs.pop().unwrap();
    let fourth = futs.pop().unwrap();
    assert_eq!(fourth.await.unwrap_err(), SubmitError::QueueFull);
    assert_eq!(fifth.await.unwrap_err(), SubmitError::QueueFull);
    for (f, env) in futs.into_iter().zip(&envs) {
        check_ack(&f.await.unwrap(), env);
    }
    assert_eq!(SubmitError::QueueFull.to_string(), "queue full");
}

#[tokio::test]
async fn shutdown_drains_queued_work_then_refuses() {
    let log = start(SequencerConfig {
        max_batch: 8,
        batch_delay: Duration::from_secs(3600),
        queue_capacity: 100,
    });
    let key = reviewer(3);
    let envs: Vec<Vec<u8>> = (0..20)
        .map(|i| envelope(&key, "log", &format!("0.4.{i}")))
        .collect();
    let futs: Vec<_> = envs
        .iter()
        .map(|e| {
            log.seq
                .submit(admit(e, &log.reviewers, &AdmissionLimits::default()).unwrap())
        })
        .collect();
    // The hour-long delay would hold a partial batch; shutdown must flush it promptly.
    tokio::time::timeout(Duration::from_secs(10), log.seq.shutdown())
        .await
        .unwrap();
    for (f, env) in futs.into_iter().zip(&envs) {
        check_ack(&f.await.unwrap(), env);
    }
    assert_eq!(log.store.size().unwrap(), 20);
    let late = envelope(&key, "log", "0.5.0");
    let r = log
        .seq
        .submit(admit(&late, &log.reviewers, &AdmissionLimits::default()).unwrap())
        .await;
    assert_eq!(r.unwrap_err(), SubmitError::ShutDown);
    log.seq.shutdown().await; // idempotent
}

#[test]
fn admission_rejections_are_distinct_and_mapped() {
    let set = reviewers(2);
    let lim = AdmissionLimits::default();
    let good = envelope(&reviewer(0), "serde", "1.0.0");
    assert!(admit(&good, &set, &lim).is_ok());

    let e = admit(&[], &set, &lim).unwrap_err();
    assert_eq!((e.clone(), e.http_status()), (AdmissionError::Empty, 400));

    let small = AdmissionLimits {
        max_envelope_bytes: 10,
    };
    let e = admit(&good, &set, &small).unwrap_err();
    assert!(matches!(e, AdmissionError::TooLarge { limit: 10, .. }));
    assert_eq!(e.http_status(), 413);
    let huge = vec![0u8; attestation::MAX_ENVELOPE_BYTES + 1];
    let big_limit = AdmissionLimits {
        max_envelope_bytes: usize::MAX,
    };
    assert!(matches!(
        admit(&huge, &set, &big_limit),
        Err(AdmissionError::TooLarge { .. })
    ));

    let e = admit(b"not protobuf at all", &set, &lim).unwrap_err();
    assert!(matches!(e, AdmissionError::Malformed(_)), "{e}");
    assert_eq!(e.http_status(), 400);
    assert!(e.to_string().starts_with("malformed attestation"));

    let mut forged = good.clone();
    let last = forged.len() - 1; // the signature is the envelope's last field
    forged[last] ^= 1;
    let e = admit(&forged, &set, &lim).unwrap_err();
    assert!(matches!(e, AdmissionError::BadSignature(_)), "{e}");
    assert_eq!(e.http_status(), 400);

    let stranger = envelope(&reviewer(4), "serde", "1.0.0");
    let e = admit(&stranger, &set, &lim).unwrap_err();
    assert_eq!(
        e,
        AdmissionError::UnknownReviewer {
            name: attestation::verify(&stranger)
                .unwrap()
                .attestation()
                .reviewer
                .name
                .clone(),
            key: reviewer(4).verifying_key().to_bytes()
        }
    );
    assert_eq!(e.http_status(), 403);
    assert!(e.to_string().contains("not registered"));
    // Named as a signed-note key is (name+keyid), not as 64 hex digits.
    let hex: String = reviewer(4)
        .verifying_key()
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!e.to_string().contains(&hex), "{e}");
}
