//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-*`:
//! valid values built with the fixed fuzzing keys (so the targets' signature-gated paths
//! are reachable), the C2SP specs' examples, and small excerpts of the shared test
//! vectors. The committed corpora are these seeds plus what fuzzing found, minimised with
//! `cargo fuzz cmin`; rerun this only to rebuild them from scratch:
//!
//! ```sh
//! cargo run -p quorate-fuzz --example seeds -- ../shared
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use quorate_client::cargo_vet::{AuditsFile, ImportOptions, import};
use quorate_fuzz::join_parts;
use quorate_fuzz::keys::{LOG_NAME, log_signer, witness_signer};
use quorate_node::gossip::wire::{GossipMessage, Request, Response, WireLimits};
use quorate_proto::attestation::{self, Digest};
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::{self, Hash, MemoryLog};
use quorate_proto::note;
use quorate_proto::tile::{self, Tile};
use quorate_proto::tlog_proof::TlogProof;
use quorate_witness::AddCheckpointRequest;

struct Seeds {
    root: PathBuf,
}

impl Seeds {
    fn put(&self, target: &str, name: &str, data: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("corpus directory");
        fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
    }
}

fn checkpoint_text(size: u64, root: &Hash) -> String {
    Checkpoint::new(LOG_NAME, size, *root, Vec::new())
        .expect("valid checkpoint")
        .to_text()
}

/// A checkpoint signed by the fuzzing log and cosigned by the fuzzing witness.
fn signed(size: u64, root: &Hash) -> String {
    let text = checkpoint_text(size, root);
    let note = note::sign(&text, &[log_signer()]).expect("sign");
    let cosig = witness_signer()
        .cosign(&text, 1_700_000_000)
        .expect("cosign");
    note::add_signatures(&note, &[cosig]).expect("add cosignature")
}

fn log_of(n: usize) -> (MemoryLog, Vec<Vec<u8>>) {
    let mut log = MemoryLog::new();
    let mut entries = Vec::new();
    for i in 0..n {
        let e = format!("fuzz entry {i}").into_bytes();
        log.append(&e);
        entries.push(e);
    }
    (log, entries)
}

/// `path\ndata` parts for every tile (and entry bundle) of a log.
fn tile_parts(log: &MemoryLog, entries: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in tile::tiles_for_size(log.size()) {
        let data = tile::read_tile_data(&t, log).expect("tile data");
        let mut p = format!("{}\n", t.path()).into_bytes();
        p.extend_from_slice(&data);
        out.push(p);
        if t.level() == 0 {
            let start = (t.index() * 256) as usize;
            let es: Vec<&[u8]> = entries[start..start + usize::from(t.width())]
                .iter()
                .map(Vec::as_slice)
                .collect();
            let mut p = format!("{}\n", t.entries_path()).into_bytes();
            p.extend_from_slice(&tile::encode_entry_bundle(&es).expect("bundle"));
            out.push(p);
        }
    }
    out
}

fn code_blocks(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        if line.starts_with("```") {
            match cur.take() {
                Some(b) => out.push(b),
                None => cur = Some(String::new()),
            }
        } else if let Some(b) = &mut cur {
            b.push_str(line);
            b.push('\n');
        }
    }
    out
}

/// The first `n` lines of a file (a small excerpt of a big vector).
fn head(path: &Path, n: usize) -> Vec<u8> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut s: String = text.lines().take(n).collect::<Vec<_>>().join("\n");
    s.push('\n');
    s.into_bytes()
}

fn main() {
    let shared = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "../shared".into()),
    );
    let s = Seeds {
        root: Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
    };

    // Specs' examples, each code block a seed of the matching target.
    for (spec, target) in [
        ("signed-note.md", "note"),
        ("tlog-checkpoint.md", "checkpoint"),
        ("tlog-cosignature.md", "cosignature"),
        ("tlog-proof.md", "tlog_proof"),
        ("tlog-policy.md", "policy"),
        ("tlog-witness.md", "witness_request"),
        ("tlog-tiles.md", "tile"),
    ] {
        let md = fs::read_to_string(shared.join("specs-c2sp").join(spec)).expect("spec");
        for (i, b) in code_blocks(&md).iter().enumerate() {
            s.put(target, &format!("spec-{i}"), b.as_bytes());
        }
    }

    // Go's signed-note vectors.
    let v: serde_json::Value = serde_json::from_slice(
        &fs::read(shared.join("vectors/signed-note.json")).expect("signed-note.json"),
    )
    .expect("JSON");
    for (i, c) in v["cases"].as_array().expect("cases").iter().enumerate() {
        if let Some(n) = c["note"].as_str() {
            s.put("note", &format!("go-{i}"), n.as_bytes());
            s.put("checkpoint", &format!("go-{i}"), n.as_bytes());
        }
    }
    for (i, k) in v["keys"].as_array().expect("keys").iter().enumerate() {
        let both = format!(
            "{}\n{}\n",
            k["vkey"].as_str().unwrap_or(""),
            k["skey"].as_str().unwrap_or("")
        );
        s.put("note", &format!("go-key-{i}"), both.as_bytes());
    }

    // A small log, its checkpoints, proofs and tiles.
    let (log5, entries5) = log_of(5);
    let (log3, _) = log_of(3);
    let root5 = log5.root();
    let note5 = signed(5, &root5);
    let note3 = signed(3, &log3.root());
    s.put("note", "log5", note5.as_bytes());
    s.put("checkpoint", "log5", note5.as_bytes());
    let ext = Checkpoint::new(LOG_NAME, 5, root5, vec!["ext line".into()])
        .unwrap()
        .to_text();
    s.put(
        "checkpoint",
        "extension",
        note::sign(&ext, &[log_signer()]).unwrap().as_bytes(),
    );

    let cosig = witness_signer()
        .cosign(&checkpoint_text(5, &root5), 1_700_000_000)
        .unwrap();
    s.put(
        "cosignature",
        "raw",
        &witness_signer()
            .cosign_raw(&checkpoint_text(5, &root5), 7)
            .unwrap(),
    );
    let mut ok = vec![0u8];
    ok.extend_from_slice(cosig.to_line().as_bytes());
    s.put("cosignature", "response-200", &ok);
    s.put("cosignature", "response-409", b"\x0617\n");

    let proof = merkle::prove_record(5, 2, &log5).unwrap();
    let tp = TlogProof {
        extra: Some(b"extra data".to_vec()),
        index: 2,
        proof: proof.clone(),
        checkpoint: note5.clone().into_bytes(),
    };
    s.put("tlog_proof", "log5", &tp.to_text());

    let cons = merkle::prove_tree(5, 3, &log5).unwrap();
    let req = AddCheckpointRequest::new(3, cons.clone(), note5.clone().into_bytes());
    s.put("witness_request", "log5", &req.to_bytes());
    s.put(
        "witness_request",
        "old0",
        &AddCheckpointRequest::new(0, Vec::new(), note3.clone().into_bytes()).to_bytes(),
    );

    // Evidence: same size with two roots, and an inconsistent prefix.
    let fork = signed(5, &[9; 32]);
    let same = Equivocation::same_size(note5.as_bytes(), fork.as_bytes());
    s.put("equivocation", "same-size", same.to_text().as_bytes());
    let bad3 = signed(3, &[8; 32]);
    let prefix = merkle::tree_hash(3, &log5).unwrap();
    let pre = Equivocation::with_prefix(bad3.as_bytes(), note5.as_bytes(), prefix, cons.clone());
    s.put("equivocation", "prefix", pre.to_text().as_bytes());

    // Gossip and fetch messages.
    let limits = WireLimits::default();
    let origin = LOG_NAME.to_owned();
    let msgs: Vec<(&str, Vec<u8>)> = vec![
        (
            "gossip-checkpoint",
            GossipMessage::Checkpoint {
                origin: origin.clone(),
                note: note5.clone().into_bytes(),
            }
            .encode(&limits)
            .unwrap(),
        ),
        (
            "gossip-evidence",
            GossipMessage::Equivocation {
                evidence: same.to_text().into_bytes(),
            }
            .encode(&limits)
            .unwrap(),
        ),
        (
            "req-proof",
            Request::ConsistencyProof {
                origin: origin.clone(),
                old: 3,
                new: 5,
            }
            .encode(&limits)
            .unwrap(),
        ),
        (
            "req-checkpoint",
            Request::Checkpoint {
                origin: origin.clone(),
            }
            .encode(&limits)
            .unwrap(),
        ),
        (
            "req-cosign",
            Request::Cosign {
                origin: origin.clone(),
                old_size: 3,
                proof: cons.clone(),
                note: note5.clone().into_bytes(),
            }
            .encode(&limits)
            .unwrap(),
        ),
        (
            "req-evidence",
            Request::Equivocations.encode(&limits).unwrap(),
        ),
        (
            "resp-proof",
            Response::Proof(cons.clone()).encode(&limits).unwrap(),
        ),
        (
            "resp-checkpoint",
            Response::Checkpoint(note5.clone().into_bytes())
                .encode(&limits)
                .unwrap(),
        ),
        (
            "resp-cosigned",
            Response::Cosigned(cosig.to_line().into_bytes())
                .encode(&limits)
                .unwrap(),
        ),
        (
            "resp-conflict",
            Response::Conflict { size: 3 }.encode(&limits).unwrap(),
        ),
        (
            "resp-error",
            Response::error(429, "rate limited")
                .encode(&limits)
                .unwrap(),
        ),
        (
            "resp-evidence",
            Response::Evidence(vec![
                same.to_text().into_bytes(),
                pre.to_text().into_bytes(),
            ])
            .encode(&limits)
            .unwrap(),
        ),
    ];
    for (name, m) in msgs {
        s.put("gossip_wire", name, &m);
    }

    // Tiles of a 300-entry log (a full and a partial level-0 tile, a level-1 tile), and
    // the entry bundles against their tiles.
    let (log300, entries300) = log_of(300);
    let mut header = 300u64.to_be_bytes().to_vec();
    header.extend_from_slice(&log300.root());
    header.extend_from_slice(&260u64.to_be_bytes());
    let tp300 = tile_parts(&log300, &entries300);
    let mut ps: Vec<&[u8]> = vec![&header];
    ps.extend(
        tp300
            .iter()
            .filter(|p| !p.starts_with(b"tile/entries"))
            .map(Vec::as_slice),
    );
    s.put("tile", "log300", &join_parts(&ps));
    let t = Tile::new(0, 0, 5).unwrap();
    let es: Vec<&[u8]> = entries5.iter().map(Vec::as_slice).collect();
    let bundle = tile::encode_entry_bundle(&es).unwrap();
    s.put("entry_bundle", "plain", &bundle);
    let mut eh = 5u16.to_be_bytes().to_vec();
    eh.extend_from_slice(&0u64.to_be_bytes());
    let td = tile::read_tile_data(&t, &log5).unwrap();
    s.put("entry_bundle", "checked", &join_parts(&[&eh, &bundle, &td]));

    // The mirror cache: checkpoint text, tiles and bundles, evidence.
    for (name, log, entries) in [("log5", &log5, &entries5), ("log300", &log300, &entries300)] {
        let text = checkpoint_text(log.size(), &log.root());
        let tiles = tile_parts(log, entries);
        let mut ps: Vec<&[u8]> = vec![text.as_bytes()];
        ps.extend(tiles.iter().map(Vec::as_slice));
        s.put("mirror_cache", name, &join_parts(&ps));
    }
    let ev = format!("equivocations/{}\n{}", "0a", same.to_text());
    let text = checkpoint_text(5, &root5);
    let tiles5 = tile_parts(&log5, &entries5);
    let mut ps: Vec<&[u8]> = vec![text.as_bytes(), ev.as_bytes()];
    ps.extend(tiles5.iter().map(Vec::as_slice));
    s.put("mirror_cache", "evidence", &join_parts(&ps));
    let json = serde_json::json!({"equivocations": [{"evidence": same.to_text()}]});
    s.put("mirror_cache", "evidence-json", json.to_string().as_bytes());

    // Policies.
    let policy = format!(
        "# fuzz policy\nwitness W1 {w} https://w1.example/\nwitness W2 {w2}\ngroup g 1 W1 W2\nquorum g\n\
         log {l2} https://plain.example/\nreview-log DE {l} https://log.example/\n\
         reviewer DE {r}\nreview-witness DE W1\nreview-quorum 1\ncriteria safe-to-run\n\
         implies a b\nveto none\nmax-checkpoint-age 86400\ndelta-across-jurisdictions yes\n\
         accept-unknown-digests no\n",
        w = witness_signer().vkey(),
        w2 = quorate_proto::cosignature::CosignatureSigner::generate("w2.example", [3; 32])
            .unwrap()
            .vkey(),
        l = log_signer().vkey(),
        l2 = note::Signer::generate("plain.example/log", [4; 32])
            .unwrap()
            .vkey(),
        r = note::Signer::generate("reviewer.example", [5; 32])
            .unwrap()
            .vkey(),
    );
    s.put("policy", "full", policy.as_bytes());

    // Lockfiles, audits and index lines: small excerpts of the shared vectors.
    s.put(
        "lockfile",
        "ripgrep",
        &head(&shared.join("locks/ripgrep-14.1.0.Cargo.lock"), 60),
    );
    s.put(
        "lockfile",
        "v1",
        b"[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
          [[package]]\nname = \"b\"\nversion = \"0.1.0\"\nsource = \"git+https://example.com/b#abc\"\n\n\
          [metadata]\n\"checksum a 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)\" = \"b2969dcb958b36655471fc61f7e416fa76033bdd4bfed0678d8fee1e2d07a1f0\"\n",
    );
    let audits = b"[criteria.crypto-reviewed]\ndescription = \"crypto\"\nimplies = \"safe-to-run\"\n\n\
        [[wildcard-audits.x]]\nwho = \"A <a@example.com>\"\ncriteria = \"safe-to-deploy\"\nuser-id = 1\nstart = \"2019-05-09\"\nend = \"2027-04-23\"\n\n\
        [[audits.anyhow]]\nwho = \"A <a@example.com>\"\ncriteria = \"safe-to-deploy\"\nversion = \"1.0.79\"\nnotes = \"fine\"\n\n\
        [[audits.anyhow]]\nwho = [\"A\", \"B\"]\ncriteria = [\"safe-to-run\", \"crypto-reviewed\"]\ndelta = \"1.0.79 -> 1.0.80\"\n\n\
        [[audits.bad]]\ncriteria = \"safe-to-deploy\"\nviolation = \"<2.0\"\n\n\
        [[trusted.serde]]\ncriteria = \"safe-to-deploy\"\nuser-id = 3\nstart = \"2019-05-09\"\nend = \"2027-04-23\"\n";
    s.put("cargo_vet", "mixed", audits);
    s.put(
        "cargo_vet",
        "mozilla",
        &head(&shared.join("audits/mozilla.toml"), 80),
    );
    s.put(
        "crates_index",
        "two",
        b"{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"b2969dcb958b36655471fc61f7e416fa76033bdd4bfed0678d8fee1e2d07a1f0\",\"features\":{},\"yanked\":false}\n\
          {\"name\":\"a\",\"vers\":\"1.0.1\",\"deps\":[],\"cksum\":\"080e9890a082662b09c1ad45f567faeeb47f22b5fb23895fbe1e651e718e25ca\",\"features\":{},\"yanked\":true}\n",
    );

    // Attestations: the audits above, imported and signed.
    let file = AuditsFile::parse(std::str::from_utf8(audits).unwrap()).unwrap();
    let mut digests = BTreeMap::new();
    digests.insert(
        ("anyhow".to_owned(), "1.0.79".to_owned()),
        Digest::Sha256([2; 32]),
    );
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let imported = import(
        &file,
        &ImportOptions {
            organisation: "Fuzz".into(),
            reviewer_key: key.verifying_key().to_bytes(),
            time: 1_700_000_000,
            digests: &digests,
        },
    );
    for (i, a) in imported.attestations.iter().enumerate() {
        let env = attestation::sign(a, &key).expect("sign attestation");
        s.put("attestation", &format!("import-{i}"), &env);
        s.put("attestation", &format!("payload-{i}"), &a.encode_payload());
    }
    s.put("attestation", "spec", b"cargo/serde@1.0.210");

    // The fields for other ecosystems and evidence: several artifacts, a partial scope,
    // each evidence kind, a sealed commitment and its reveal.
    for (i, a) in evidence_examples(&key).iter().enumerate() {
        let env = attestation::sign(a, &key).expect("sign attestation");
        s.put("attestation", &format!("evidence-{i}"), &env);
        s.put(
            "attestation",
            &format!("evidence-payload-{i}"),
            &a.encode_payload(),
        );
    }
    for (name, text) in [
        ("purl-npm", "pkg:npm/%40scope/name@1.2.3"),
        (
            "purl-golang",
            "pkg:golang/github.com/BurntSushi/toml@v2.0.0%2Bincompatible",
        ),
        (
            "purl-maven",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        ),
        ("purl-pypi", "pkg:pypi/zope-interface@6.0"),
        (
            "digest-sri",
            "sha512-EREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREREQ==",
        ),
        (
            "digest-h1",
            "h1:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=",
        ),
        (
            "digest-sha256",
            "sha256:abababababababababababababababababababababababababababababababab",
        ),
    ] {
        s.put("attestation", name, text.as_bytes());
    }
}

fn evidence_examples(key: &ed25519_dalek::SigningKey) -> Vec<attestation::Attestation> {
    use attestation::{
        ArchiveMatchesSource, Artifact, Attestation, Evidence, Fuzzing, MaintainerChange,
        MaintainerChangeKind, Reviewer, ReviewerKind, Scope, Verdict,
    };
    let base = Attestation {
        ecosystem: "pypi".into(),
        package: "zope-interface".into(),
        version: "6.0".into(),
        digest: Digest::Sha256([3; 32]),
        delta_from: None,
        artifacts: vec![Artifact {
            name: "zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl".into(),
            digests: vec![Digest::Sha256([4; 32]), Digest::Sha512([5; 64])],
        }],
        scope: Some(Scope::Partial {
            omitted: vec!["tests/".into()],
            reason: "not installed".into(),
        }),
        criteria: vec!["safe-to-deploy".into()],
        verdict: Verdict::Certify,
        evidence: Some(Evidence::SourceReview),
        reviewer: Reviewer {
            name: "Fuzz".into(),
            public_key: key.verifying_key().to_bytes(),
            kind: ReviewerKind::LlmAgent,
        },
        organisation: "Fuzz".into(),
        time: 1_700_000_000,
        notes: String::new(),
        links: vec![],
        supersedes: None,
        reveal: None,
    };
    let mut archive = base.clone();
    archive.verdict = Verdict::Informational;
    archive.evidence = Some(Evidence::ArchiveMatchesSource(ArchiveMatchesSource {
        source_revision: "v6.0".into(),
        source_uri: "git+https://github.com/zopefoundation/zope.interface".into(),
        differing_paths: vec!["m4/build-to-host.m4".into()],
        differing_count: 1,
        allowed_generated: vec!["configure".into()],
    }));
    let mut fuzzing = base.clone();
    fuzzing.evidence = Some(Evidence::Fuzzing(Fuzzing {
        harnesses: vec!["parse".into()],
        duration_seconds: 3600,
        findings: 0,
    }));
    let mut maintainer = base.clone();
    maintainer.verdict = Verdict::Informational;
    maintainer.evidence = Some(Evidence::MaintainerChange(MaintainerChange {
        kind: MaintainerChangeKind::OwnershipTransfer,
        subject: "new-owner".into(),
        source: "https://example.org/transfer".into(),
    }));
    let salt = [7; 32];
    let commitment = Attestation::sealed_commitment(&base, &salt, 1_700_000_001);
    let commitment_leaf = *attestation::verify(&attestation::sign(&commitment, key).unwrap())
        .unwrap()
        .leaf_hash();
    let reveal = Attestation::revealing(&base, commitment_leaf, salt);
    vec![base, archive, fuzzing, maintainer, commitment, reveal]
}
