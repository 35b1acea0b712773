//! A small real federation for tests and benches: real reviewer keys and signed
//! attestations, real RFC 6962 logs (proto `MemoryLog`), real signed checkpoints, real
//! witness cosignatures and real C2SP tlog-proofs. Nothing here fakes a verified type.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use quorate_client::policy::Policy;
use quorate_client::quorum::{Evaluator, Inclusion, Query, TrustedCheckpoint};
use quorate_proto::attestation::{
    self, Attestation, DeltaBase, Digest, Evidence, Reviewer, ReviewerKind, Scope, SupersedeKind,
    Supersedes, Verdict, VerifiedAttestation,
};
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::merkle::{self, MemoryLog};
use quorate_proto::note::{self, Signer};
use quorate_proto::tlog_proof::TlogProof;

/// The time tests evaluate at.
pub const NOW: u64 = 1_800_000_000;

pub fn seed(tag: &str) -> [u8; 32] {
    let mut s = [0u8; 32];
    for (i, b) in tag.bytes().enumerate() {
        s[i % 32] ^= b.wrapping_add(i as u8);
    }
    s[31] ^= tag.len() as u8;
    s
}

pub fn digest(n: u8) -> Digest {
    Digest::Sha256([n; 32])
}

pub struct Person {
    pub name: String,
    pub key: SigningKey,
}

impl Person {
    pub fn new(name: &str) -> Person {
        Person {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed(&format!("reviewer {name}"))),
        }
    }
    pub fn vkey(&self) -> String {
        note::format_vkey(&self.name, 0x01, self.key.verifying_key().as_bytes()).unwrap()
    }
}

/// One review log operated by a jurisdiction.
pub struct LogFx {
    pub jurisdiction: String,
    pub signer: Signer,
    pub tree: MemoryLog,
    pub entries: Vec<Vec<u8>>,
}

impl LogFx {
    pub fn origin(&self) -> String {
        self.signer.name().to_owned()
    }

    /// The current checkpoint, signed by the log and cosigned by `cosigners` at `ts`.
    pub fn checkpoint(&self, cosigners: &[&CosignatureSigner], ts: u64) -> String {
        let cp =
            Checkpoint::new(&self.origin(), self.tree.size(), self.tree.root(), vec![]).unwrap();
        let signed = note::sign(&cp.to_text(), &[&self.signer]).unwrap();
        let cosigs: Vec<_> = cosigners
            .iter()
            .map(|w| w.cosign(&cp.to_text(), ts).unwrap())
            .collect();
        note::add_signatures(&signed, &cosigs).unwrap()
    }

    /// A C2SP tlog-proof for entry `index` against `checkpoint`.
    pub fn proof(&self, index: u64, checkpoint: &str) -> TlogProof {
        TlogProof {
            extra: None,
            index,
            proof: merkle::prove_record(self.tree.size(), index, &self.tree).unwrap(),
            checkpoint: checkpoint.as_bytes().to_vec(),
        }
    }
}

pub struct Fed {
    pub witnesses: Vec<CosignatureSigner>,
    pub logs: Vec<LogFx>,
}

impl Fed {
    /// One log per jurisdiction (origin `<lowercase j>.example/log`) and `n_witnesses`
    /// witnesses `w0..`.
    pub fn new(jurisdictions: &[&str], n_witnesses: usize) -> Fed {
        Fed {
            witnesses: (0..n_witnesses)
                .map(|i| {
                    CosignatureSigner::generate(
                        &format!("witness{i}.example"),
                        seed(&format!("w{i}")),
                    )
                    .unwrap()
                })
                .collect(),
            logs: jurisdictions
                .iter()
                .map(|j| {
                    let origin = format!("{}.example/log", j.to_lowercase());
                    LogFx {
                        jurisdiction: (*j).to_owned(),
                        signer: Signer::generate(&origin, seed(&origin)).unwrap(),
                        tree: MemoryLog::new(),
                        entries: Vec::new(),
                    }
                })
                .collect(),
        }
    }

    /// Policy text: every witness, a group `witnesses` needing `min_witnesses` of them,
    /// every log as a review-log, `review-quorum k`, then `extra` lines.
    pub fn policy_text(&self, k: usize, min_witnesses: usize, extra: &str) -> String {
        let mut t = String::new();
        for (i, w) in self.witnesses.iter().enumerate() {
            t.push_str(&format!("witness w{i} {}\n", w.vkey()));
        }
        if self.witnesses.is_empty() || min_witnesses == 0 {
            t.push_str("quorum none\n");
        } else {
            let names: Vec<String> = (0..self.witnesses.len()).map(|i| format!("w{i}")).collect();
            t.push_str(&format!(
                "group witnesses {min_witnesses} {}\nquorum witnesses\n",
                names.join(" ")
            ));
        }
        for l in &self.logs {
            t.push_str(&format!(
                "review-log {} {} https://{}\n",
                l.jurisdiction,
                l.signer.vkey(),
                l.origin()
            ));
        }
        t.push_str(&format!("review-quorum {k}\n{extra}"));
        t
    }

    pub fn policy(&self, k: usize, min_witnesses: usize, extra: &str) -> Policy {
        Policy::parse(&self.policy_text(k, min_witnesses, extra)).unwrap()
    }

    pub fn log(&mut self, j: &str) -> &mut LogFx {
        self.logs.iter_mut().find(|l| l.jurisdiction == j).unwrap()
    }

    /// Signs `att` with `by` and appends it to `j`'s log; returns the leaf hash.
    pub fn publish(&mut self, j: &str, att: &Attestation, by: &Person) -> [u8; 32] {
        let env = attestation::sign(att, &by.key).unwrap();
        let leaf = merkle::leaf_hash(&env);
        let log = self.log(j);
        log.tree.append(&env);
        log.entries.push(env);
        leaf
    }

    /// Loads every entry of every log into an evaluator with tlog-proofs against a
    /// checkpoint cosigned by the first `cosigners` witnesses at `ts`.
    pub fn load<'p>(&self, policy: &'p Policy, cosigners: usize, ts: u64) -> Evaluator<'p> {
        let mut ev = Evaluator::new(policy);
        let ws: Vec<&CosignatureSigner> = self.witnesses.iter().take(cosigners).collect();
        for l in &self.logs {
            let cp = l.checkpoint(&ws, ts);
            for (i, env) in l.entries.iter().enumerate() {
                let v = attestation::verify(env).unwrap();
                let inc = Inclusion::from_proof(policy, &v, &l.proof(i as u64, &cp));
                ev.add(&l.origin(), v, inc).unwrap();
            }
        }
        ev
    }

    /// As [`Fed::load`], verifying each log's checkpoint once (the fast path).
    pub fn load_fast<'p>(&self, policy: &'p Policy, cosigners: usize, ts: u64) -> Evaluator<'p> {
        let mut ev = Evaluator::new(policy);
        let ws: Vec<&CosignatureSigner> = self.witnesses.iter().take(cosigners).collect();
        for l in &self.logs {
            let cp = l.checkpoint(&ws, ts);
            let tc = TrustedCheckpoint::verify(policy, cp.as_bytes()).unwrap();
            for (i, env) in l.entries.iter().enumerate() {
                let v: VerifiedAttestation = attestation::verify(env).unwrap();
                let proof = merkle::prove_record(l.tree.size(), i as u64, &l.tree).unwrap();
                let inc = tc.inclusion(&v, i as u64, &proof);
                ev.add(&l.origin(), v, inc).unwrap();
            }
        }
        ev
    }
}

/// A certify attestation of crates.io `pkg`.
pub fn review(
    pkg: &str,
    version: &str,
    digest: Digest,
    delta_from: Option<(&str, Digest)>,
    criteria: &[&str],
    by: &Person,
    org: &str,
) -> Attestation {
    Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: pkg.into(),
        version: version.into(),
        digest,
        delta_from: delta_from.map(|(v, d)| DeltaBase {
            version: v.into(),
            digest: d,
        }),
        criteria: criteria.iter().map(|c| (*c).to_owned()).collect(),
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: by.name.clone(),
            public_key: by.key.verifying_key().to_bytes(),
        },
        organisation: org.into(),
        time: NOW - 86_400,
        notes: String::new(),
        links: vec![],
        supersedes: None,
    }
}

/// A full safe-to-deploy review.
pub fn full(pkg: &str, version: &str, digest: Digest, by: &Person) -> Attestation {
    review(pkg, version, digest, None, &["safe-to-deploy"], by, "org")
}

pub fn violation(pkg: &str, range: &str, criteria: &[&str], by: &Person) -> Attestation {
    let mut a = review(pkg, "0.0.0", Digest::Unknown, None, criteria, by, "org");
    a.verdict = Verdict::Violation {
        range: range.into(),
    };
    a
}

pub fn withdrawal(of: [u8; 32], kind: SupersedeKind, base: Attestation) -> Attestation {
    let mut a = base;
    a.supersedes = Some(Supersedes {
        leaf_hash: of,
        kind,
    });
    a
}

pub fn query(pkg: &str, version: &str, digest: Digest) -> Query {
    Query {
        ecosystem: "cargo".into(),
        package: pkg.into(),
        version: version.into(),
        digest,
    }
}
