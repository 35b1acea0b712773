//! The three real audits files of shared/audits, each imported by its own organisation
//! through its own `quorate-node` (one jurisdiction each), then `quorate check` of the
//! real zellij lockfile from the verified mirror: every verdict must equal the in-memory
//! evaluator's over the same attestations. Skips visibly without ../shared.

#[path = "../../proto/tests/common/mod.rs"]
mod common;
mod nodes;

use std::collections::BTreeMap;

use nodes::*;
use quorate_client::cargo_vet::{self, AuditsFile, ImportOptions};
use quorate_client::check::Queries;
use quorate_client::keys;
use quorate_client::lockfile::Lockfile;
use quorate_client::policy::Policy;
use quorate_client::quorum::{Evaluator, TrustedCheckpoint};
use quorate_proto::attestation;
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::merkle::{self, MemoryLog};
use quorate_proto::note::{self, Signer};

const ORGS: [(&str, &str); 3] = [("mozilla", "MOZ"), ("google", "GOO"), ("isrg", "ISRG")];
const TIME: u64 = 1_750_000_000;

/// The in-memory verdicts: same attestations, logs of our own, same quorum.
fn in_memory(
    lock: &Lockfile,
    dir: &std::path::Path,
    k: usize,
) -> BTreeMap<String, (bool, Vec<String>)> {
    let digests = lock.crates_io_digests();
    let mut logs = Vec::new();
    let mut text = String::from("quorum none\n");
    for (org, j) in ORGS {
        let audits = AuditsFile::parse(
            &std::fs::read_to_string(common::shared_file(&format!("audits/{org}.toml")).unwrap())
                .unwrap(),
        )
        .unwrap();
        let (_, key) = keys::load_reviewer_key(&dir.join(format!("{org}-reviewer.key"))).unwrap();
        let imported = cargo_vet::import(
            &audits,
            &ImportOptions {
                organisation: org.into(),
                reviewer_key: key.verifying_key().to_bytes(),
                time: TIME,
                digests: &digests,
            },
        );
        let signer = Signer::generate(&format!("{org}.memory/log"), [org.len() as u8; 32]).unwrap();
        let mut tree = MemoryLog::new();
        let mut envs = Vec::new();
        for a in &imported.attestations {
            let e = attestation::sign(a, &key).unwrap();
            tree.append(&e);
            envs.push(e);
        }
        text.push_str(&format!(
            "review-log {j} {} https://{org}.memory/\n",
            signer.vkey()
        ));
        logs.push((signer, tree, envs));
    }
    text.push_str(&format!("review-quorum {k}\n"));
    let policy = Policy::parse(&text).unwrap();
    let mut ev = Evaluator::new(&policy);
    for (signer, tree, envs) in &logs {
        let cp = Checkpoint::new(signer.name(), tree.size(), tree.root(), vec![]).unwrap();
        let note = note::sign(&cp.to_text(), &[signer]).unwrap();
        let tc = TrustedCheckpoint::verify(&policy, note.as_bytes()).unwrap();
        for (i, e) in envs.iter().enumerate() {
            let v = attestation::verify(e).unwrap();
            let proof = merkle::prove_record(tree.size(), i as u64, tree).unwrap();
            let inc = tc.inclusion(&v, i as u64, &proof);
            ev.add(signer.name(), v, inc).unwrap();
        }
    }
    let q =
        Queries::from_parsed(&quorate_client::lockfile::ParsedLockfile::from_cargo(lock).unwrap());
    q.queries
        .iter()
        .map(|x| {
            let v = ev.evaluate(x, TIME + 60);
            (
                format!("{}@{}", x.package, x.version),
                (v.pass, v.certified_by),
            )
        })
        .collect()
}

#[test]
fn real_audits_through_three_nodes_agree_with_the_in_memory_evaluator() {
    let Some(lock_path) = common::shared_file("locks/zellij.Cargo.lock") else {
        return;
    };
    let t = Tmp::new("shared");
    let dir = t.path();
    let lock = Lockfile::parse(&std::fs::read_to_string(&lock_path).unwrap()).unwrap();
    let empty_index = dir.join("index-cache");
    let mut insts = Vec::new();
    for (org, j) in ORGS {
        let (key, pubf) = reviewer(dir, &format!("{org}-reviewer"));
        let inst = Institute::start(dir, j, &[&pubf]);
        let audits = common::shared_file(&format!("audits/{org}.toml")).unwrap();
        let o = q(&[
            "import",
            "cargo-vet",
            s(&audits),
            "--key",
            s(&key),
            "--org",
            org,
            "--lock",
            s(&lock_path),
            "--node",
            &inst.url,
            "--log",
            &inst.vkey,
            "--offline",
            "--index-cache",
            s(&empty_index),
            "--time",
            &TIME.to_string(),
        ]);
        let out = ok(&o);
        assert!(
            out.contains("0 failed; every inclusion proof verified under the log key"),
            "{out}"
        );
        insts.push(inst);
    }
    let cache = dir.join("cache");
    for k in [1, 2] {
        let mut text = String::from("quorum none\n");
        for i in &insts {
            text.push_str(&i.policy_line());
        }
        text.push_str(&format!("review-quorum {k}\n"));
        let pol = dir.join(format!("k{k}.policy"));
        std::fs::write(&pol, text).unwrap();
        let mut args = vec![
            "check".to_string(),
            s(&lock_path).into(),
            "--policy".into(),
            s(&pol).into(),
            "--cache".into(),
            s(&cache).into(),
            "--json".into(),
            "--now".into(),
            (TIME + 60).to_string(),
        ];
        if k == 2 {
            args.push("--offline".into());
        }
        let o = q(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let got = verdicts(&json(&o));
        let want = in_memory(&lock, dir, k);
        assert_eq!(got.len(), want.len());
        let passing = want.values().filter(|(p, _)| *p).count();
        assert!(
            passing > 0,
            "k={k}: nothing passes; the comparison would be vacuous"
        );
        for (name, w) in &want {
            assert_eq!(&got[name], w, "k={k}: {name}");
        }
        assert_eq!(
            o.status.code(),
            Some(if passing == want.len() { 0 } else { 1 })
        );
        eprintln!(
            "k={k}: {passing} of {} packages pass, CLI and in-memory agree",
            want.len()
        );
    }
}
