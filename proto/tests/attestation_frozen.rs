//! `quorate.attestation.v1` is frozen: these vectors pin the exact bytes of every kind of
//! attestation the schema can carry (each ecosystem, each digest algorithm, each evidence
//! kind, each reviewer kind, partial scope, several artifacts, a delta, a withdrawal, a
//! sealed commitment and its reveal), signed with fixed keys. They are published in
//! `specs/vectors/attestation-v1.json` for other implementations.
//!
//! If this test fails, a change altered the bytes or the meaning of attestations already
//! in logs: that is a format break, never a vector to regenerate. A new field needs a new
//! schema version (specs/formats.md, "Schema versioning").
//!
//! `QUORATE_WRITE_VECTORS=1` rewrites the file (and fails, so it cannot pass that way);
//! it exists for the one-time creation of the vectors.

#[path = "common/evidence.rs"]
mod evidence;

use ed25519_dalek::SigningKey;
use quorate_proto::attestation::{
    self, Artifact, Attestation, DeltaBase, Digest, Evidence, Reviewer, ReviewerKind, Scope,
    SupersedeKind, Supersedes, Verdict, verify_reveal,
};
use serde_json::{Value, json};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../specs/vectors/attestation-v1.json"
);

/// SHA-256 of `proto/schema/attestation.proto` as frozen. Comments may not change either:
/// the file is the schema's text of record.
const SCHEMA_SHA256: &str = "8fa30fb0f7a9a9fe37fbeed50be8d2eda29518628c2e3e0f4fa9084e0b88f2f9";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn base(
    k: &SigningKey,
    ecosystem: &str,
    package: &str,
    version: &str,
    digest: Digest,
) -> Attestation {
    Attestation {
        ecosystem: ecosystem.into(),
        package: package.into(),
        version: version.into(),
        digest,
        delta_from: None,
        artifacts: vec![],
        scope: Some(Scope::Full),
        criteria: vec!["safe-to-deploy".into()],
        verdict: Verdict::Certify,
        evidence: Some(Evidence::SourceReview),
        reviewer: Reviewer {
            name: format!("reviewer-{}", k.verifying_key().to_bytes()[0]),
            public_key: k.verifying_key().to_bytes(),
            kind: ReviewerKind::Human,
        },
        organisation: "Vector Institute".into(),
        time: 1_764_720_000,
        notes: String::new(),
        links: vec![],
        supersedes: None,
        reveal: None,
    }
}

/// Every case: a name, what it shows, the key and the attestation.
fn cases() -> Vec<(&'static str, &'static str, SigningKey, Attestation)> {
    let k1 = key(11);
    let k2 = key(12);
    let k3 = key(13);
    let mut v = Vec::new();

    let a = base(&k1, "cargo", "serde", "1.0.210", Digest::Sha256([0x21; 32]));
    v.push((
        "cargo-source-review",
        "a full source review of a crate at its SHA-256",
        k1.clone(),
        a,
    ));

    let mut a = base(&k1, "cargo", "serde", "1.0.211", Digest::Sha256([0x22; 32]));
    a.delta_from = Some(DeltaBase {
        version: "1.0.210".into(),
        digest: Digest::Sha256([0x21; 32]),
    });
    a.scope = Some(Scope::Partial {
        omitted: vec!["benches/".into(), "tests/".into()],
        reason: "not built into dependants".into(),
    });
    a.criteria = vec!["safe-to-deploy".into(), "example::crypto-reviewed".into()];
    a.notes = "Read the diff.\nNo unsafe added.".into();
    a.links = vec!["https://example.org/reviews/serde-1.0.211".into()];
    v.push((
        "cargo-delta-partial",
        "a delta review with partial scope, two criteria, notes and a link",
        k1.clone(),
        a,
    ));

    let mut a = base(
        &k2,
        "npm",
        "@types/node",
        "22.10.1",
        Digest::Sha512([0x33; 64]),
    );
    a.reviewer.kind = ReviewerKind::Tool;
    v.push((
        "npm-sha512-tool",
        "a scoped npm package at its SHA-512 (integrity), reviewed by a tool",
        k2.clone(),
        a,
    ));

    let mut a = base(
        &k2,
        "pypi",
        "annotated-types",
        "0.7.0",
        Digest::Sha256([0x41; 32]),
    );
    a.artifacts = vec![Artifact {
        name: "annotated_types-0.7.0-py3-none-any.whl".into(),
        digests: vec![Digest::Sha256([0x42; 32]), Digest::Sha512([0x43; 64])],
    }];
    a.reviewer.kind = ReviewerKind::LlmAgent;
    v.push((
        "pypi-artifacts-llm",
        "one review covering a PyPI sdist (digest) and its wheel (artifacts), by an LLM agent",
        k2.clone(),
        a,
    ));

    let a = base(
        &k3,
        "golang",
        "github.com/Azure/azure-sdk-for-go/sdk/azcore",
        "v1.21.1",
        Digest::GoH1([0x51; 32]),
    );
    v.push((
        "golang-h1",
        "a Go module (case kept) at its h1: hash",
        k3.clone(),
        a,
    ));

    let a = base(
        &k3,
        "maven",
        "org.apache.logging.log4j:log4j-core",
        "2.17.1",
        Digest::Unknown,
    );
    v.push((
        "maven-no-digest",
        "a Maven artifact reviewed without a digest",
        k3.clone(),
        a,
    ));

    let mut a = base(&k3, "generic", "xz", "5.6.1", Digest::Sha256([0x56; 32]));
    a.verdict = Verdict::Informational;
    a.evidence = Some(evidence::archive(&["m4/build-to-host.m4"], 1));
    v.push((
        "generic-archive-mismatch",
        "a release tarball that differs from its tagged source",
        k3.clone(),
        a,
    ));

    let mut a = base(&k1, "generic", "xz", "5.4.6", Digest::Sha256([0x54; 32]));
    a.evidence = Some(evidence::archive(&[], 0));
    v.push((
        "generic-archive-match",
        "a release tarball equal to its tagged source",
        k1.clone(),
        a,
    ));

    let mut a = base(
        &k1,
        "cargo",
        "ripgrep",
        "14.1.0",
        Digest::Sha256([0x14; 32]),
    );
    a.evidence = Some(evidence::rebuild(
        Digest::Sha256([0xe0; 32]),
        "https://github.com/BurntSushi/ripgrep",
    ));
    v.push((
        "reproducible-build",
        "a rebuild that reproduced the digest",
        k1.clone(),
        a,
    ));

    let mut a = base(
        &k2,
        "cargo",
        "ripgrep",
        "14.1.0",
        Digest::Sha256([0x14; 32]),
    );
    a.evidence = Some(evidence::fuzzing(
        vec!["parse_args".into(), "glob".into()],
        7200,
    ));
    v.push((
        "fuzzing",
        "two harnesses, two hours, no findings",
        k2.clone(),
        a,
    ));

    let mut a = base(&k2, "generic", "xz", "5.6.0", Digest::Sha256([0x60; 32]));
    a.verdict = Verdict::Informational;
    a.evidence = Some(evidence::bench("5.4.6", 1_500_000));
    v.push((
        "benchmark-delta",
        "a benchmark 1.5x slower than the previous release",
        k2.clone(),
        a,
    ));

    let mut a = base(&k3, "generic", "xz", "5.6.0", Digest::Unknown);
    a.verdict = Verdict::Informational;
    a.evidence = Some(evidence::maintainer_change());
    v.push((
        "maintainer-change",
        "a new maintainer, as an informational signal",
        k3.clone(),
        a,
    ));

    let mut a = base(&k1, "cargo", "serde", "1.0.210", Digest::Sha256([0x21; 32]));
    a.criteria = vec!["safe-to-deploy".into()];
    a.supersedes = Some(Supersedes {
        leaf_hash: [0xab; 32],
        kind: SupersedeKind::Withdraw,
    });
    v.push((
        "withdrawal",
        "a review withdrawing an earlier one by its leaf hash",
        k1.clone(),
        a,
    ));

    let mut a = base(&k1, "cargo", "serde", "1.0.212", Digest::Sha256([0x23; 32]));
    a.verdict = Verdict::Violation {
        range: ">=1.0.212".into(),
    };
    a.version = ">=1.0.212".into();
    a.digest = Digest::Unknown;
    v.push((
        "violation",
        "a violation of every version in a range",
        k1.clone(),
        a,
    ));

    // Sealed: the commitment hides `inner`; the reveal opens it.
    let mut inner = base(&k3, "generic", "xz", "5.6.1", Digest::Sha256([0x56; 32]));
    inner.verdict = Verdict::Violation {
        range: ">=5.6.0".into(),
    };
    inner.notes = "Backdoor in build-to-host.m4.".into();
    let salt = [0x5a; 32];
    let commitment = Attestation::sealed_commitment(&inner, &salt, 1_764_720_100);
    let c_env = attestation::sign(&commitment, &k3).expect("commitment signs");
    let c = attestation::verify(&c_env).expect("commitment verifies");
    let reveal = Attestation::revealing(&inner, *c.leaf_hash(), salt);
    v.push((
        "sealed-commitment",
        "a sealed commitment to an embargoed violation",
        k3.clone(),
        commitment,
    ));
    v.push((
        "sealed-reveal",
        "the reveal that opens the commitment above",
        k3.clone(),
        reveal,
    ));
    v
}

fn vectors() -> Value {
    let list: Vec<Value> = cases()
        .into_iter()
        .map(|(name, what, k, a)| {
            let env = attestation::sign(&a, &k).unwrap_or_else(|e| panic!("{name}: {e}"));
            let v = attestation::verify(&env).unwrap_or_else(|e| panic!("{name}: {e}"));
            json!({
                "name": name,
                "description": what,
                "signing_key_seed_hex": hex(&k.to_bytes()),
                "public_key_hex": hex(&k.verifying_key().to_bytes()),
                "envelope_hex": hex(&env),
                "payload_hex": hex(v.payload_bytes()),
                "leaf_hash_hex": hex(v.leaf_hash()),
            })
        })
        .collect();
    json!({
        "schema": "quorate.attestation.v1",
        "frozen": "2026-12-03",
        "about": "Signed attestation envelopes (specs/formats.md). Each verifies with Ed25519 verify_strict over \"quorate/attestation/v1\\n\"-prefixed payload bytes per specs/formats.md; leaf_hash is RFC 6962 SHA-256(0x00 || envelope).",
        "vectors": list,
    })
}

#[test]
fn attestation_v1_vectors_are_frozen() {
    let want = vectors();
    let text = serde_json::to_string_pretty(&want).expect("json") + "\n";
    if std::env::var_os("QUORATE_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(VECTORS).parent().expect("dir"))
            .expect("mkdir");
        std::fs::write(VECTORS, &text).expect("write vectors");
        panic!("wrote {VECTORS}; unset QUORATE_WRITE_VECTORS to check it");
    }
    let have = std::fs::read_to_string(VECTORS).expect("specs/vectors/attestation-v1.json");
    assert!(
        have == text,
        "quorate.attestation.v1 is frozen: the bytes of an attestation changed ({VECTORS})"
    );
}

/// The published vectors, read as another implementation would: each envelope verifies,
/// has its leaf hash, and re-encodes to itself; the reveal opens the commitment.
#[test]
fn published_vectors_verify() {
    let have: Value =
        serde_json::from_str(&std::fs::read_to_string(VECTORS).expect("vectors")).expect("json");
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    };
    let list = have["vectors"].as_array().expect("vectors");
    assert_eq!(list.len(), cases().len());
    let mut by_name = std::collections::HashMap::new();
    for v in list {
        let env = unhex(v["envelope_hex"].as_str().expect("envelope"));
        let a = attestation::verify(&env).expect("a published vector verifies");
        assert_eq!(hex(a.leaf_hash()), v["leaf_hash_hex"]);
        assert_eq!(
            hex(&a.attestation().reviewer.public_key),
            v["public_key_hex"]
        );
        assert_eq!(
            attestation::sign(
                a.attestation(),
                &SigningKey::from_bytes(
                    &unhex(v["signing_key_seed_hex"].as_str().expect("seed"))
                        .try_into()
                        .expect("32")
                )
            )
            .expect("sign"),
            env
        );
        by_name.insert(v["name"].as_str().expect("name").to_owned(), a);
    }
    verify_reveal(&by_name["sealed-commitment"], &by_name["sealed-reveal"])
        .expect("the reveal opens the commitment");
}

#[test]
fn schema_file_is_frozen() {
    use sha2::Digest as _;
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/attestation.proto"
    ))
    .expect("schema file");
    assert_eq!(
        hex(&sha2::Sha256::digest(&text)),
        SCHEMA_SHA256,
        "proto/schema/attestation.proto changed: quorate.attestation.v1 is frozen"
    );
}
