//! Attestation round trips, validation rules, CLI helpers and the golden test vector.

use ed25519_dalek::SigningKey;
use quorate_proto::attestation::{
    self, Artifact, Attestation, AttestationError, DeltaBase, Digest, Evidence, Reviewer,
    ReviewerKind, Scope, SupersedeKind, Supersedes, Verdict,
};

#[path = "common/evidence.rs"]
mod schema;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Also the golden vector's attestation (with key(7)): editing it changes `GOLDEN_*`.
fn sample(k: &SigningKey) -> Attestation {
    Attestation {
        ecosystem: "cargo".into(),
        package: "serde".into(),
        version: "1.0.210".into(),
        digest: Digest::from_hex(
            "c8e5b2a5b4d6e8f1a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9",
        )
        .unwrap(),
        delta_from: Some(DeltaBase {
            version: "1.0.209".into(),
            digest: Digest::Unknown,
        }),
        // The same .crate file's SHA-512, as a further digest of the release.
        artifacts: vec![Artifact {
            name: "serde-1.0.210.crate".into(),
            digests: vec![Digest::Sha512([0x5e; 64])],
        }],
        scope: Some(Scope::Partial {
            omitted: vec!["benches/".into()],
            reason: "not built into dependants".into(),
        }),
        criteria: vec!["safe-to-deploy".into(), "example::crypto-reviewed".into()],
        verdict: Verdict::Certify,
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: "Ada Reviewer".into(),
            public_key: k.verifying_key().to_bytes(),
        },
        organisation: "Example Review Institute".into(),
        time: 1_735_689_600,
        notes: "Read the diff.\nNo unsafe added.".into(),
        links: vec!["https://example.org/reviews/serde-1.0.210".into()],
        supersedes: Some(Supersedes {
            leaf_hash: [0xab; 32],
            kind: SupersedeKind::Replace,
        }),
    }
}

fn minimal(k: &SigningKey) -> Attestation {
    Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "npm".into(),
        package: "@scope/pkg".into(),
        version: "2.0.0".into(),
        digest: Digest::Unknown,
        delta_from: None,
        criteria: vec!["safe-to-run".into()],
        verdict: Verdict::Violation {
            range: ">=1.0.0, <2.0.1".into(),
        },
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: String::new(),
            public_key: k.verifying_key().to_bytes(),
        },
        organisation: String::new(),
        time: 1,
        notes: String::new(),
        links: vec![],
        supersedes: None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn payload_round_trip() {
    let k = key(1);
    for att in [sample(&k), minimal(&k)] {
        att.validate().unwrap();
        let bytes = att.encode_payload();
        assert_eq!(Attestation::decode_payload(&bytes).unwrap(), att);
    }
}

#[test]
fn sign_verify_round_trip() {
    let k = key(2);
    for att in [sample(&k), minimal(&k)] {
        let env = attestation::sign(&att, &k).unwrap();
        let v = attestation::verify(&env).unwrap();
        assert_eq!(v.attestation(), &att);
        assert_eq!(v.reviewer_key(), &k.verifying_key().to_bytes());
        assert_eq!(v.envelope_bytes(), env.as_slice());
        assert_eq!(v.payload_bytes(), att.encode_payload().as_slice());
        // Signing is deterministic, so the same attestation is the same log entry.
        assert_eq!(attestation::sign(&att, &k).unwrap(), env);
    }
}

#[test]
fn leaf_hash_is_rfc6962() {
    use sha2::Digest as _;
    let k = key(3);
    let env = attestation::sign(&sample(&k), &k).unwrap();
    let v = attestation::verify(&env).unwrap();
    let mut h = sha2::Sha256::new();
    h.update([0u8]);
    h.update(&env);
    let want: [u8; 32] = h.finalize().into();
    assert_eq!(v.leaf_hash(), &want);
}

#[test]
fn sign_rejects_wrong_key() {
    let att = sample(&key(4));
    assert_eq!(
        attestation::sign(&att, &key(5)),
        Err(AttestationError::KeyMismatch)
    );
}

#[test]
fn sign_validates() {
    let k = key(6);
    let mut att = sample(&k);
    att.package = "has space".into();
    assert!(matches!(
        attestation::sign(&att, &k),
        Err(AttestationError::BadChar { ref field, ch: ' ', offset: 3 }) if field == "package"
    ));
}

fn field_of(e: &AttestationError) -> &str {
    match e {
        AttestationError::TooLong { field, .. }
        | AttestationError::TooMany { field, .. }
        | AttestationError::Missing { field }
        | AttestationError::WrongLength { field, .. }
        | AttestationError::BadChar { field, .. }
        | AttestationError::Invalid { field, .. }
        | AttestationError::Duplicate { field, .. }
        | AttestationError::UnsupportedEnum { field, .. } => field,
        other => panic!("unexpected error kind {other:?}"),
    }
}

/// Each rule, applied to an otherwise valid attestation, with the field the error must name.
#[test]
fn validation_names_the_field() {
    let k = key(7);
    type Edit = fn(&mut Attestation);
    let cases: &[(&str, Edit)] = &[
        ("ecosystem", |a| a.ecosystem = String::new()),
        ("ecosystem", |a| a.ecosystem = "Crates.io".into()),
        ("ecosystem", |a| a.ecosystem = ".io".into()),
        ("ecosystem", |a| a.ecosystem = "a".repeat(33)),
        ("package", |a| a.package = String::new()),
        ("package", |a| a.package = "ser\u{7f}de".into()),
        ("package", |a| a.package = "serde\u{202e}".into()),
        ("package", |a| a.package = "se\trde".into()),
        ("package", |a| a.package = "x".repeat(257)),
        ("version", |a| a.version = String::new()),
        ("version", |a| a.version = "1.0 ".into()),
        ("version", |a| a.version = "1".repeat(129)),
        ("delta_from.version", |a| {
            a.delta_from = Some(DeltaBase {
                version: "\n".into(),
                digest: Digest::Unknown,
            })
        }),
        ("criteria", |a| a.criteria.clear()),
        ("criteria", |a| a.criteria = vec!["c".into(); 33]),
        ("criteria", |a| a.criteria = vec!["x".into(), "x".into()]),
        ("criteria[1]", |a| a.criteria[1] = "safe to run".into()),
        ("criteria[0]", |a| a.criteria[0] = "-leading".into()),
        ("criteria[0]", |a| a.criteria[0] = "c".repeat(65)),
        ("criteria[0]", |a| a.criteria[0] = String::new()),
        ("violation.range", |a| {
            a.verdict = Verdict::Violation {
                range: String::new(),
            }
        }),
        ("violation.range", |a| {
            a.verdict = Verdict::Violation {
                range: "<1\n".into(),
            }
        }),
        ("violation.range", |a| {
            a.verdict = Verdict::Violation {
                range: "<".repeat(257),
            }
        }),
        ("reviewer.name", |a| a.reviewer.name = "\u{1b}[31m".into()),
        ("reviewer.name", |a| a.reviewer.name = "n".repeat(257)),
        ("organisation", |a| a.organisation = "o".repeat(257)),
        ("organisation", |a| a.organisation = "a\nb".into()),
        ("time", |a| a.time = 0),
        ("time", |a| a.time = attestation::MAX_TIME + 1),
        ("notes", |a| a.notes = "n".repeat(16 * 1024 + 1)),
        ("notes", |a| a.notes = "bell\u{7}".into()),
        ("links", |a| a.links = vec!["https://e.org".into(); 17]),
        ("links[0]", |a| a.links[0] = "ftp://e.org".into()),
        ("links[0]", |a| a.links[0] = "https://e.org/a b".into()),
        ("links[0]", |a| a.links[0] = String::new()),
        ("links[0]", |a| {
            a.links[0] = format!("https://e.org/{}", "a".repeat(2048))
        }),
        // Identity: purl types only, each ecosystem's normalised names and versions.
        ("ecosystem", |a| a.ecosystem = "crates.io".into()),
        ("package", |a| a.package = "9serde".into()),
        ("version", |a| a.version = "latest".into()),
        ("version", |a| a.version = "1.0".into()),
        ("delta_from.version", |a| {
            a.delta_from = Some(DeltaBase {
                version: "v1.0.0".into(),
                digest: Digest::Unknown,
            })
        }),
        // Artifacts.
        ("artifacts", |a| {
            a.artifacts = (0..65)
                .map(|i| Artifact {
                    name: format!("f{i}"),
                    digests: vec![Digest::Sha256([i as u8; 32])],
                })
                .collect()
        }),
        ("artifacts[0].name", |a| {
            a.artifacts[0].name = "dir/x.whl".into()
        }),
        ("artifacts[0].name", |a| a.artifacts[0].name = "..".into()),
        ("artifacts[0].name", |a| a.artifacts[0].name = String::new()),
        ("artifacts[0].digests", |a| a.artifacts[0].digests.clear()),
        ("artifacts[0].digests", |a| {
            a.artifacts[0].digests = vec![Digest::Sha512([1; 64]), Digest::Sha256([2; 32])]
        }),
        ("artifacts[0].digests", |a| {
            a.artifacts[0].digests = vec![Digest::Sha1([1; 20]); 5]
        }),
        ("artifacts[0].digests", |a| {
            a.artifacts[0].digests = vec![a.digest]
        }),
        ("artifacts[0].digests[0]", |a| {
            a.artifacts[0].digests = vec![Digest::Unknown]
        }),
        ("artifacts.name", |a| {
            let mut b = a.artifacts[0].clone();
            b.digests = vec![Digest::Sha256([9; 32])];
            a.artifacts.push(b)
        }),
        ("digest", |a| a.digest = Digest::Unknown),
        // Scope.
        ("scope", |a| a.scope = None),
        ("scope.omitted", |a| {
            a.scope = Some(Scope::Partial {
                omitted: vec![],
                reason: "r".into(),
            })
        }),
        ("scope.omitted", |a| {
            a.scope = Some(Scope::Partial {
                omitted: vec!["x".into(); 65],
                reason: "r".into(),
            })
        }),
        ("scope.omitted[0]", |a| {
            a.scope = Some(Scope::Partial {
                omitted: vec!["a\nb".into()],
                reason: "r".into(),
            })
        }),
        ("scope.reason", |a| {
            a.scope = Some(Scope::Partial {
                omitted: vec!["tests".into()],
                reason: String::new(),
            })
        }),
        ("scope.reason", |a| {
            a.scope = Some(Scope::Partial {
                omitted: vec!["tests".into()],
                reason: "r".repeat(1025),
            })
        }),
        // Evidence and the verdicts each kind allows.
        ("evidence", |a| a.evidence = None),
        ("verdict", |a| a.verdict = Verdict::Informational),
        ("verdict", |a| {
            a.evidence = Some(schema::maintainer_change())
        }),
        ("verdict", |a| {
            a.evidence = Some(schema::archive(&["configure"], 1));
        }),
        ("evidence.archive_matches_source.differing_paths", |a| {
            a.verdict = Verdict::Informational;
            a.evidence = Some(schema::archive(&["b", "a"], 2));
        }),
        ("evidence.archive_matches_source.differing_paths[0]", |a| {
            a.verdict = Verdict::Informational;
            a.evidence = Some(schema::archive(&["../etc/passwd"], 1));
        }),
        ("evidence.archive_matches_source.differing_paths[0]", |a| {
            a.verdict = Verdict::Informational;
            a.evidence = Some(schema::archive(&["/abs"], 1));
        }),
        ("evidence.archive_matches_source.differing_count", |a| {
            a.verdict = Verdict::Informational;
            a.evidence = Some(schema::archive(&["a"], 2));
        }),
        ("evidence.archive_matches_source.differing_count", |a| {
            a.evidence = Some(schema::archive(&[], 1));
        }),
        ("evidence.archive_matches_source.source_uri", |a| {
            let mut e = schema::archive(&[], 0);
            if let Evidence::ArchiveMatchesSource(b) = &mut e {
                b.source_uri = "ftp://example.org/xz".into();
            }
            a.evidence = Some(e);
        }),
        ("evidence.archive_matches_source.allowed_generated", |a| {
            let mut e = schema::archive(&["configure"], 1);
            if let Evidence::ArchiveMatchesSource(b) = &mut e {
                b.allowed_generated = vec!["configure".into()];
            }
            a.verdict = Verdict::Informational;
            a.evidence = Some(e);
        }),
        ("evidence.fuzzing.harnesses", |a| {
            a.evidence = Some(schema::fuzzing(vec![], 60));
        }),
        ("evidence.fuzzing.harnesses[0]", |a| {
            a.evidence = Some(schema::fuzzing(vec!["a b".into()], 60));
        }),
        ("evidence.fuzzing.duration_seconds", |a| {
            a.evidence = Some(schema::fuzzing(vec!["parse".into()], 0));
        }),
        ("evidence.benchmark_delta.ratio_ppm", |a| {
            a.evidence = Some(schema::bench("1.0.209", 0));
        }),
        ("evidence.benchmark_delta.baseline_version", |a| {
            a.evidence = Some(schema::bench("latest", 1_000_000));
        }),
        ("evidence.reproducible_build.build_environment", |a| {
            a.evidence = Some(schema::rebuild(
                Digest::Unknown,
                "https://github.com/serde-rs/serde",
            ));
        }),
        ("evidence.reproducible_build.source_uri", |a| {
            a.evidence = Some(schema::rebuild(Digest::Sha256([3; 32]), "file:///src"));
        }),
        ("evidence.maintainer_change.source", |a| {
            a.verdict = Verdict::Informational;
            let mut e = schema::maintainer_change();
            if let Evidence::MaintainerChange(m) = &mut e {
                m.source = "javascript:alert(1)".into();
            }
            a.evidence = Some(e);
        }),
        // A sealed commitment hides everything but who sealed what release.
        ("digest", |a| {
            a.verdict = Verdict::Sealed {
                commitment: [1; 32],
            }
        }),
        ("criteria", |a| {
            *a = Attestation::sealed_commitment(a, &[0; 32], 1);
            a.criteria = vec!["safe-to-run".into()];
        }),
        ("evidence", |a| {
            *a = Attestation::sealed_commitment(a, &[0; 32], 1);
            a.evidence = Some(Evidence::SourceReview);
        }),
        ("notes", |a| {
            *a = Attestation::sealed_commitment(a, &[0; 32], 1);
            a.notes = "hint".into();
        }),
    ];
    for (i, (field, edit)) in cases.iter().enumerate() {
        let mut att = sample(&k);
        edit(&mut att);
        let err = att
            .validate()
            .expect_err(&format!("case {i} ({field}) accepted"));
        assert_eq!(field_of(&err), *field, "case {i}: {err}");
        // The decoder applies the same rules to the same bytes.
        let err2 = Attestation::decode_payload(&att.encode_payload()).unwrap_err();
        assert_eq!(err, err2, "case {i}");
    }
}

#[test]
fn limits_are_inclusive() {
    let k = key(8);
    let mut att = sample(&k);
    // generic names and versions take any alphanumerics, so every limit is reachable.
    att.ecosystem = "generic".into();
    att.package = "p".repeat(attestation::MAX_PACKAGE_BYTES);
    att.artifacts.clear();
    att.scope = Some(Scope::Full);
    att.version = "v".repeat(attestation::MAX_VERSION_BYTES);
    att.criteria = (0..attestation::MAX_CRITERIA)
        .map(|i| format!("{i:0>64}"))
        .collect();
    att.verdict = Verdict::Violation {
        range: "<".repeat(attestation::MAX_RANGE_BYTES),
    };
    att.reviewer.name = "n".repeat(attestation::MAX_REVIEWER_NAME_BYTES);
    att.organisation = "o".repeat(attestation::MAX_ORGANISATION_BYTES);
    att.notes = "n".repeat(attestation::MAX_NOTES_BYTES);
    att.links = (0..attestation::MAX_LINKS)
        .map(|_| format!("https://{}", "l".repeat(attestation::MAX_LINK_BYTES - 8)))
        .collect();
    att.time = attestation::MAX_TIME;
    att.delta_from = Some(DeltaBase {
        version: "d".repeat(attestation::MAX_VERSION_BYTES),
        digest: Digest::Sha256([1; 32]),
    });
    // Every field of the original schema at its limit still fits in one envelope.
    let env = attestation::sign(&att, &k).unwrap();
    assert!(env.len() < 54 * 1024, "{}", env.len());
    assert_eq!(attestation::verify(&env).unwrap().attestation(), &att);
}

#[test]
fn weak_reviewer_key_rejected() {
    let k = key(9);
    let mut att = sample(&k);
    // The identity point: a small-order key that verify_strict would refuse.
    let mut id = [0u8; 32];
    id[0] = 1;
    att.reviewer.public_key = id;
    assert_eq!(att.validate(), Err(AttestationError::BadPublicKey));
}

#[test]
fn package_spec() {
    let ok = |s: &str| Attestation::parse_package_spec(s).unwrap();
    assert_eq!(
        ok("cargo/serde@1.0.210"),
        ("cargo".into(), "serde".into(), "1.0.210".into())
    );
    assert_eq!(
        ok("npm/@scope/pkg@2.0.0-rc.1"),
        ("npm".into(), "@scope/pkg".into(), "2.0.0-rc.1".into())
    );
    assert_eq!(
        ok("go/github.com/a/b@v1.2.3"),
        ("golang".into(), "github.com/a/b".into(), "v1.2.3".into())
    );
    // `crates.io` is accepted as input for cargo; signed data only ever says `cargo`.
    assert_eq!(ok("crates.io/serde@1.0.210").0, "cargo");
    assert_eq!(
        ok("pkg:npm/%40scope/pkg@2.0.0"),
        ("npm".into(), "@scope/pkg".into(), "2.0.0".into())
    );
    for bad in [
        "",
        "serde@1",
        "cargo/serde",
        "/serde@1",
        "cargo/@1",
        "cargo/serde@",
    ] {
        assert!(
            matches!(
                Attestation::parse_package_spec(bad),
                Err(AttestationError::PackageSpec { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Attestation::parse_package_spec("Crates!/serde@1.0.0"),
        Err(AttestationError::BadChar { ref field, .. }) if field == "ecosystem"
    ));
    assert!(matches!(
        Attestation::parse_package_spec("cargo/ser de@1.0.0"),
        Err(AttestationError::BadChar { ref field, .. }) if field == "package"
    ));
}

#[test]
fn digest_hex() {
    let d = Digest::from_hex(&"Ab".repeat(32)).unwrap();
    assert_eq!(d, Digest::Sha256([0xab; 32]));
    assert_eq!(d.to_string(), format!("sha256:{}", "ab".repeat(32)));
    for bad in [
        "",
        "ab",
        &"g0".repeat(32),
        &"a".repeat(63),
        &"a".repeat(65),
        &"é".repeat(32),
    ] {
        assert!(
            matches!(
                Digest::from_hex(bad),
                Err(AttestationError::DigestNotation { .. })
            ),
            "{bad:?}"
        );
    }
}

/// Golden vector. If this fails, the schema or encoder changed the bytes of existing
/// attestations: that is a format break, not a test to update casually.
#[test]
fn golden_vector() {
    let k = key(7);
    let att = sample(&k);
    let env = attestation::sign(&att, &k).unwrap();
    assert_eq!(hex(&att.reviewer.public_key), GOLDEN_PUBLIC_KEY);
    assert_eq!(hex(&env), GOLDEN_ENVELOPE);
    let v = attestation::verify(&env).unwrap();
    assert_eq!(hex(v.leaf_hash()), GOLDEN_LEAF_HASH);
    assert_eq!(v.attestation(), &att);
}

const GOLDEN_PUBLIC_KEY: &str = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";
const GOLDEN_ENVELOPE: &str = concat!(
    "0ad00308011205636172676f1a0573657264652207312e302e3231302a2408021220c8e5b2a5b4d6",
    "e8f1a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9320d0a07312e302e323039120208",
    "013a5b0a1373657264652d312e302e3231302e63726174651244080312405e5e5e5e5e5e5e5e5e5e",
    "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
    "5e5e5e5e5e5e5e5e5e5e5e5e5e5e42270802120862656e636865732f1a196e6f74206275696c7420",
    "696e746f20646570656e64616e7473520e736166652d746f2d6465706c6f7952186578616d706c65",
    "3a3a63727970746f2d72657669657765645a007a020a008201320a0c416461205265766965776572",
    "1220ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c18018a011845",
    "78616d706c652052657669657720496e737469747574659001808bd2bb06aa011f52656164207468",
    "6520646966662e0a4e6f20756e736166652061646465642eb2012968747470733a2f2f6578616d70",
    "6c652e6f72672f726576696577732f73657264652d312e302e323130ba01240a20ababababababab",
    "ababababababababababababababababababababababababab10021240301a3c039340aeb664cd6f",
    "101ba1d53eaf025c87ae44e0a8ccde64abd2114e7abe227ed37de7d026610077f64102a023741113",
    "a972bea17e994eff74af688100",
);
const GOLDEN_LEAF_HASH: &str = "d6d4ce7b610ea5cc0025c825fa52b311f2da59abc58e1bdf1502ff63fb1b90eb";

#[test]
fn versions_cannot_hold_a_slash() {
    // The node looks reviews up by `/v1/reviews/{eco}/{pkg}/{version}`: a version with a
    // `/` could be logged but never found.
    let err = Attestation::parse_package_spec("cargo/foo@1.0/x").unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
    assert!(Attestation::parse_package_spec("npm/@scope/pkg@1.0.0").is_ok());
}

/// A violation's `version` is a label: a version, or its range without whitespace (as
/// cargo-vet imports write it); anything else must be a version.
#[test]
fn violation_version_label() {
    let k = key(10);
    let mut att = minimal(&k);
    att.version = ">=1.0.0,<2.0.1".into();
    att.validate().unwrap();
    att.version = ">=1.0.0".into();
    assert!(att.validate().unwrap_err().to_string().contains("version"));
}
