//! The group commit of witness state: many logs cosigned at once share transactions, yet
//! each request is checked against everything committed before it, and everything
//! cosigned is on disk when the witness is dropped and reopened.

mod common;

use common::{NOW, TempDir, TestLog};
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_witness::{Witness, WitnessError};

fn open(path: &std::path::Path, logs: &[TestLog]) -> Witness {
    Witness::open(
        CosignatureSigner::generate("witness.example/group", [77; 32]).unwrap(),
        logs.iter().map(|l| l.signer.verifier()).collect(),
        path,
        || NOW,
    )
    .unwrap()
}

#[test]
fn concurrent_logs_are_cosigned_in_order_and_durably() {
    let dir = TempDir::new("group");
    let path = dir.path().join("w.redb");
    let mut logs: Vec<TestLog> = (0..16u8)
        .map(|i| TestLog::new(&format!("log.example/g{i}"), 60 + i))
        .collect();
    let w = open(&path, &logs);
    let verifier = w.verifier();
    for round in 0..4usize {
        std::thread::scope(|s| {
            for log in logs.iter_mut() {
                let (w, verifier) = (&w, &verifier);
                s.spawn(move || {
                    let old = log.size();
                    log.grow(round + 1, "g");
                    let line = w.add_checkpoint(&log.body_from(old)).unwrap();
                    let mut note = String::from_utf8(log.checkpoint()).unwrap();
                    note.push_str(&line);
                    verify_checkpoint(
                        note.as_bytes(),
                        &log.signer.verifier(),
                        std::slice::from_ref(verifier),
                    )
                    .unwrap()
                    .require_witnesses(1)
                    .unwrap();
                    // A stale old size is refused against the state just committed.
                    match w.add_checkpoint(&log.body_from(old)) {
                        Err(WitnessError::Conflict { latest_size }) => {
                            assert_eq!(latest_size, log.size())
                        }
                        other => panic!("replay from a stale size: {other:?}"),
                    }
                });
            }
        });
    }
    // Dropping the witness stops its committer and closes the file: it reopens at once,
    // holding every cosigned checkpoint.
    drop(w);
    let w = open(&path, &logs);
    for log in &logs {
        let stored = w.latest(log.origin()).unwrap().unwrap();
        assert_eq!(stored.size, log.size(), "{}", log.origin());
        assert_eq!(stored.root, log.tree.root());
    }
}
