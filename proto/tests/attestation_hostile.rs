//! Hostile inputs: tampering, truncation, non-canonical encodings, oversized fields, wrong
//! keys, random bytes. Every case must be an error, never a panic.

use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use prost::Message;
use quorate_proto::attestation::{
    self, Attestation, AttestationError, Digest, Evidence, Reviewer, ReviewerKind, Scope, Verdict,
    pb,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn sample(k: &SigningKey) -> Attestation {
    Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: "rand".into(),
        version: "0.9.0".into(),
        digest: Digest::Sha256([0x11; 32]),
        delta_from: None,
        criteria: vec!["safe-to-run".into()],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: "R".into(),
            public_key: k.verifying_key().to_bytes(),
        },
        organisation: "Org".into(),
        time: 1_700_000_000,
        notes: "ok".into(),
        links: vec!["https://example.org/r".into()],
        supersedes: None,
    }
}

/// Envelope around arbitrary payload bytes, correctly signed: isolates payload checks
/// from the signature check.
fn sign_raw(payload: &[u8], k: &SigningKey) -> Vec<u8> {
    let mut msg = attestation::SIGNATURE_DOMAIN.to_vec();
    msg.extend_from_slice(payload);
    pb::Envelope {
        payload: payload.to_vec(),
        signature: k.sign(&msg).to_bytes().to_vec(),
    }
    .encode_to_vec()
}

fn sample_pb(k: &SigningKey) -> pb::Attestation {
    pb::Attestation::decode(sample(k).encode_payload().as_slice()).unwrap()
}

fn sign_pb(m: &pb::Attestation, k: &SigningKey) -> Vec<u8> {
    sign_raw(&m.encode_to_vec(), k)
}

fn good() -> (SigningKey, Vec<u8>) {
    let k = key(1);
    let env = attestation::sign(&sample(&k), &k).unwrap();
    (k, env)
}

#[test]
fn sign_raw_matches_sign() {
    let (k, env) = good();
    assert_eq!(sign_raw(&sample(&k).encode_payload(), &k), env);
}

#[test]
fn empty_input() {
    assert_eq!(
        attestation::verify(&[]),
        Err(AttestationError::Missing {
            field: "envelope.payload".into()
        })
    );
    assert_eq!(
        Attestation::decode_payload(&[]),
        Err(AttestationError::UnsupportedSchemaVersion { got: 0 })
    );
}

#[test]
fn every_truncation_rejected() {
    let (_, env) = good();
    for n in 0..env.len() {
        assert!(
            attestation::verify(&env[..n]).is_err(),
            "prefix {n} accepted"
        );
    }
}

#[test]
fn every_single_byte_flip_rejected() {
    let (_, env) = good();
    for i in 0..env.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut t = env.clone();
            t[i] ^= mask;
            assert!(
                attestation::verify(&t).is_err(),
                "byte {i} ^ {mask:#x} accepted"
            );
        }
    }
}

/// The key cache changes no decision: every truncation and byte flip of a good envelope,
/// and an envelope whose reviewer key is small-order, get the same result from
/// `verify_cached` (with the good key already cached) and `verify_on_this_thread` as
/// from `verify`.
#[test]
fn cached_keys_decide_as_verify_does() {
    let (k, env) = good();
    let mut cache = attestation::KeyCache::new();
    let first = attestation::verify_cached(&env, &mut cache).expect("good envelope");
    attestation::verify_on_this_thread(&env).expect("good envelope, per-thread cache");
    assert_eq!(
        first.leaf_hash(),
        attestation::verify(&env).expect("good").leaf_hash()
    );
    let same = |t: &[u8], cache: &mut attestation::KeyCache| {
        let a = attestation::verify(t).map(|v| *v.leaf_hash());
        let b = attestation::verify_cached(t, cache).map(|v| *v.leaf_hash());
        assert_eq!(a, b, "verify and verify_cached disagree on {t:02x?}");
        let c = attestation::verify_on_this_thread(t).map(|v| *v.leaf_hash());
        assert_eq!(
            a, c,
            "verify and verify_on_this_thread disagree on {t:02x?}"
        );
    };
    for n in 0..env.len() {
        same(&env[..n], &mut cache);
    }
    for i in 0..env.len() {
        let mut t = env.clone();
        t[i] ^= 0x01;
        same(&t, &mut cache);
    }
    // A small-order reviewer key (the identity point), "signed" by the good key.
    let mut m = sample_pb(&k);
    if let Some(r) = m.reviewer.as_mut() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        r.public_key = identity.to_vec();
    }
    let weak = sign_pb(&m, &k);
    assert_eq!(
        attestation::verify_cached(&weak, &mut cache).err(),
        Some(AttestationError::BadPublicKey)
    );
    same(&weak, &mut cache);
}

#[test]
fn trailing_bytes_rejected() {
    let (_, env) = good();
    for tail in [
        &[0u8][..],
        &[0x00, 0x00],
        &[0xff],
        &[0x12, 0x00],
        &[0x1a, 0x00],
    ] {
        let mut t = env.clone();
        t.extend_from_slice(tail);
        assert!(attestation::verify(&t).is_err(), "tail {tail:?} accepted");
    }
}

#[test]
fn unknown_field_in_envelope_rejected() {
    let (_, mut env) = good();
    env.extend_from_slice(&[0x18, 0x01]); // field 3, varint 1
    assert_eq!(
        attestation::verify(&env),
        Err(AttestationError::NonCanonical {
            message: "envelope"
        })
    );
}

#[test]
fn duplicate_field_in_envelope_rejected() {
    let (_, env) = good();
    let e = pb::Envelope::decode(env.as_slice()).unwrap();
    // A second signature field: prost keeps the last one, which is the valid signature.
    let mut t = vec![0x12, 0x40];
    t.extend_from_slice(&[0u8; 64]);
    t.extend_from_slice(&env);
    assert_eq!(pb::Envelope::decode(t.as_slice()).unwrap(), e);
    assert_eq!(
        attestation::verify(&t),
        Err(AttestationError::NonCanonical {
            message: "envelope"
        })
    );
}

#[test]
fn unknown_field_in_payload_rejected_even_if_signed() {
    let k = key(2);
    let mut payload = sample(&k).encode_payload();
    payload.extend_from_slice(&[0xf8, 0x07, 0x01]); // field 127, varint 1
    assert_eq!(
        attestation::verify(&sign_raw(&payload, &k)),
        Err(AttestationError::NonCanonical { message: "payload" })
    );
}

#[test]
fn duplicate_field_in_payload_rejected_even_if_signed() {
    let k = key(3);
    let mut payload = sample(&k).encode_payload();
    // ecosystem (field 2) again: prost keeps the later value, so both readings are plausible.
    payload.extend_from_slice(&[0x12, 0x03, b'n', b'p', b'm']);
    assert_eq!(
        attestation::verify(&sign_raw(&payload, &k)),
        Err(AttestationError::NonCanonical { message: "payload" })
    );
}

#[test]
fn explicit_default_and_non_minimal_varint_rejected() {
    let k = key(4);
    let payload = sample(&k).encode_payload();
    assert_eq!(&payload[..2], &[0x08, 0x01]);
    // schema_version = 1 as a two-byte varint.
    let mut t = vec![0x08, 0x81, 0x00];
    t.extend_from_slice(&payload[2..]);
    assert_eq!(
        Attestation::decode_payload(&t),
        Err(AttestationError::NonCanonical { message: "payload" })
    );
    // notes (field 21) written explicitly as the empty default, which the encoder omits.
    let mut m = sample_pb(&k);
    m.notes.clear();
    let mut t = m.encode_to_vec();
    t.extend_from_slice(&[0xaa, 0x01, 0x00]);
    assert_eq!(
        Attestation::decode_payload(&t),
        Err(AttestationError::NonCanonical { message: "payload" })
    );
}

#[test]
fn resigned_by_other_key_rejected() {
    let (k, _) = good();
    // Valid signature by key 9 over a payload that names key 1 as reviewer.
    let env = sign_raw(&sample(&k).encode_payload(), &key(9));
    assert_eq!(
        attestation::verify(&env),
        Err(AttestationError::BadSignature)
    );
}

#[test]
fn payload_swapped_between_envelopes_rejected() {
    let k = key(5);
    let a = sample(&k);
    let mut b = sample(&k);
    b.version = "0.9.1".into();
    let ea = pb::Envelope::decode(attestation::sign(&a, &k).unwrap().as_slice()).unwrap();
    let eb = pb::Envelope::decode(attestation::sign(&b, &k).unwrap().as_slice()).unwrap();
    let swapped = pb::Envelope {
        payload: eb.payload,
        signature: ea.signature,
    };
    assert_eq!(
        attestation::verify(&swapped.encode_to_vec()),
        Err(AttestationError::BadSignature)
    );
}

#[test]
fn domain_separation() {
    // A signature over the bare payload (no domain prefix) must not verify.
    let k = key(6);
    let payload = sample(&k).encode_payload();
    let env = pb::Envelope {
        signature: k.sign(&payload).to_bytes().to_vec(),
        payload,
    };
    assert_eq!(
        attestation::verify(&env.encode_to_vec()),
        Err(AttestationError::BadSignature)
    );
}

#[test]
fn signature_length_checked() {
    let (_, env) = good();
    let mut e = pb::Envelope::decode(env.as_slice()).unwrap();
    e.signature.pop();
    assert_eq!(
        attestation::verify(&e.encode_to_vec()),
        Err(AttestationError::WrongLength {
            field: "envelope.signature".into(),
            expected: 64,
            got: 63
        })
    );
}

#[test]
fn schema_version_checked() {
    let k = key(7);
    for v in [0u32, 2, u32::MAX] {
        let mut m = sample_pb(&k);
        m.schema_version = v;
        assert_eq!(
            attestation::verify(&sign_pb(&m, &k)),
            Err(AttestationError::UnsupportedSchemaVersion { got: v })
        );
    }
}

fn verify_err(m: &pb::Attestation, k: &SigningKey) -> AttestationError {
    attestation::verify(&sign_pb(m, k)).unwrap_err()
}

#[test]
fn structural_rules_on_decode() {
    let k = key(8);
    type Edit = fn(&mut pb::Attestation);
    let cases: &[(Edit, AttestationError)] = &[
        (
            |m| m.digest = None,
            AttestationError::Missing {
                field: "digest".into(),
            },
        ),
        (
            |m| m.digest.as_mut().unwrap().value.push(0),
            AttestationError::WrongLength {
                field: "digest.value".into(),
                expected: 32,
                got: 33,
            },
        ),
        (
            |m| m.digest.as_mut().unwrap().value.clear(),
            AttestationError::WrongLength {
                field: "digest.value".into(),
                expected: 32,
                got: 0,
            },
        ),
        (
            |m| m.digest.as_mut().unwrap().algorithm = 0,
            AttestationError::UnsupportedEnum {
                field: "digest.algorithm".into(),
                got: 0,
            },
        ),
        (
            |m| m.digest.as_mut().unwrap().algorithm = 99,
            AttestationError::UnsupportedEnum {
                field: "digest.algorithm".into(),
                got: 99,
            },
        ),
        (
            // "Not recorded" must not smuggle a value.
            |m| m.digest.as_mut().unwrap().algorithm = pb::DigestAlgorithm::NotRecorded as i32,
            AttestationError::WrongLength {
                field: "digest.value".into(),
                expected: 0,
                got: 32,
            },
        ),
        (
            |m| {
                m.delta_from = Some(pb::DeltaBase {
                    version: "0.8.0".into(),
                    digest: None,
                })
            },
            AttestationError::Missing {
                field: "delta_from.digest".into(),
            },
        ),
        (
            |m| m.verdict = None,
            AttestationError::Missing {
                field: "verdict".into(),
            },
        ),
        (
            |m| m.reviewer = None,
            AttestationError::Missing {
                field: "reviewer".into(),
            },
        ),
        (
            |m| m.reviewer.as_mut().unwrap().public_key.truncate(31),
            AttestationError::WrongLength {
                field: "reviewer.public_key".into(),
                expected: 32,
                got: 31,
            },
        ),
        (
            |m| {
                m.supersedes = Some(pb::Supersedes {
                    leaf_hash: vec![1; 31],
                    kind: pb::SupersedeKind::Withdraw as i32,
                })
            },
            AttestationError::WrongLength {
                field: "supersedes.leaf_hash".into(),
                expected: 32,
                got: 31,
            },
        ),
        (
            |m| {
                m.supersedes = Some(pb::Supersedes {
                    leaf_hash: vec![1; 32],
                    kind: 0,
                })
            },
            AttestationError::UnsupportedEnum {
                field: "supersedes.kind".into(),
                got: 0,
            },
        ),
        (
            |m| m.package.clear(),
            AttestationError::Missing {
                field: "package".into(),
            },
        ),
        (
            |m| m.criteria.clear(),
            AttestationError::Missing {
                field: "criteria".into(),
            },
        ),
        (
            |m| {
                m.verdict = Some(pb::attestation::Verdict::Violation(pb::Violation {
                    range: String::new(),
                }))
            },
            AttestationError::Missing {
                field: "violation.range".into(),
            },
        ),
        // Fields added for multi-ecosystem releases and evidence.
        (
            |m| m.reviewer.as_mut().unwrap().kind = 0,
            AttestationError::UnsupportedEnum {
                field: "reviewer.kind".into(),
                got: 0,
            },
        ),
        (
            |m| m.reviewer.as_mut().unwrap().kind = 4,
            AttestationError::UnsupportedEnum {
                field: "reviewer.kind".into(),
                got: 4,
            },
        ),
        (
            |m| m.scope = None,
            AttestationError::Missing {
                field: "scope".into(),
            },
        ),
        (
            |m| m.scope.as_mut().unwrap().kind = 0,
            AttestationError::UnsupportedEnum {
                field: "scope.kind".into(),
                got: 0,
            },
        ),
        (
            // A full scope cannot smuggle an omission list.
            |m| m.scope.as_mut().unwrap().omitted = vec!["tests".into()],
            AttestationError::Invalid {
                field: "scope".into(),
                reason: "a full scope lists nothing omitted and no reason",
            },
        ),
        (
            |m| m.evidence = None,
            AttestationError::Missing {
                field: "evidence".into(),
            },
        ),
        (
            |m| {
                m.evidence = Some(pb::Evidence {
                    kind: Some(pb::evidence::Kind::MaintainerChange(pb::MaintainerChange {
                        kind: 0,
                        subject: "x".into(),
                        source: "https://e.org".into(),
                    })),
                })
            },
            AttestationError::UnsupportedEnum {
                field: "evidence.maintainer_change.kind".into(),
                got: 0,
            },
        ),
        (
            |m| {
                m.evidence = Some(pb::Evidence {
                    kind: Some(pb::evidence::Kind::ReproducibleBuild(
                        pb::ReproducibleBuild {
                            source_revision: "abc".into(),
                            source_uri: "https://e.org/r".into(),
                            builder: "b".into(),
                            build_environment: None,
                        },
                    )),
                })
            },
            AttestationError::Missing {
                field: "evidence.reproducible_build.build_environment".into(),
            },
        ),
        (
            |m| {
                m.artifacts = vec![pb::Artifact {
                    name: "rand-0.9.0.crate".into(),
                    digests: vec![pb::ArtifactDigest {
                        algorithm: pb::DigestAlgorithm::Sha512 as i32,
                        value: vec![1; 32],
                    }],
                }]
            },
            AttestationError::WrongLength {
                field: "artifacts[0].digests[0].value".into(),
                expected: 64,
                got: 32,
            },
        ),
        (
            |m| {
                m.digest.as_mut().unwrap().algorithm = pb::DigestAlgorithm::Sha1 as i32;
            },
            AttestationError::WrongLength {
                field: "digest.value".into(),
                expected: 20,
                got: 32,
            },
        ),
        (
            |m| {
                m.verdict = Some(pb::attestation::Verdict::Sealed(pb::Sealed {
                    commitment: vec![1; 31],
                }))
            },
            AttestationError::WrongLength {
                field: "sealed.commitment".into(),
                expected: 32,
                got: 31,
            },
        ),
        (
            |m| {
                m.reveal = Some(pb::Reveal {
                    commitment_leaf_hash: vec![1; 32],
                    salt: vec![2; 16],
                })
            },
            AttestationError::WrongLength {
                field: "reveal.salt".into(),
                expected: 32,
                got: 16,
            },
        ),
        (
            |m| m.ecosystem = "crates.io".into(),
            AttestationError::Invalid {
                field: "ecosystem".into(),
                reason: "not a supported purl type (cargo, npm, pypi, golang, maven, generic)",
            },
        ),
    ];
    for (i, (edit, want)) in cases.iter().enumerate() {
        let mut m = sample_pb(&k);
        edit(&mut m);
        assert_eq!(&verify_err(&m, &k), want, "case {i}");
    }
}

/// Oversized fields arriving over the wire (bypassing `sign`'s validation) name the field
/// and the limit.
#[test]
fn oversized_fields_named_on_decode() {
    let k = key(10);
    type Edit = fn(&mut pb::Attestation);
    let cases: &[(&str, usize, usize, Edit)] = &[
        ("ecosystem", 32, 33, |m| m.ecosystem = "e".repeat(33)),
        ("package", 256, 300, |m| m.package = "p".repeat(300)),
        ("version", 128, 129, |m| m.version = "v".repeat(129)),
        ("delta_from.version", 128, 129, |m| {
            m.delta_from = Some(pb::DeltaBase {
                version: "v".repeat(129),
                digest: Some(pb::ArtifactDigest {
                    algorithm: pb::DigestAlgorithm::NotRecorded as i32,
                    value: vec![],
                }),
            })
        }),
        ("criteria", 32, 40, |m| {
            m.criteria = (0..40).map(|i| format!("c{i}")).collect()
        }),
        ("criteria[0]", 64, 65, |m| m.criteria[0] = "c".repeat(65)),
        ("violation.range", 256, 257, |m| {
            m.verdict = Some(pb::attestation::Verdict::Violation(pb::Violation {
                range: "<".repeat(257),
            }))
        }),
        ("reviewer.name", 256, 257, |m| {
            m.reviewer.as_mut().unwrap().name = "n".repeat(257)
        }),
        ("organisation", 256, 1000, |m| {
            m.organisation = "o".repeat(1000)
        }),
        ("notes", 16384, 16385, |m| m.notes = "n".repeat(16385)),
        ("links", 16, 17, |m| {
            m.links = vec!["https://e.org".into(); 17]
        }),
        ("links[0]", 2048, 2049, |m| {
            m.links[0] = format!("https://{}", "l".repeat(2041))
        }),
        ("artifacts", 64, 65, |m| {
            m.artifacts = (0..65u8)
                .map(|i| pb::Artifact {
                    name: format!("f{i}"),
                    digests: vec![pb::ArtifactDigest {
                        algorithm: pb::DigestAlgorithm::Sha256 as i32,
                        value: vec![i; 32],
                    }],
                })
                .collect()
        }),
        ("artifacts[0].digests", 4, 5, |m| {
            m.artifacts = vec![pb::Artifact {
                name: "f".into(),
                digests: vec![
                    pb::ArtifactDigest {
                        algorithm: pb::DigestAlgorithm::Sha256 as i32,
                        value: vec![7; 32],
                    };
                    5
                ],
            }]
        }),
        ("artifacts[0].name", 255, 256, |m| {
            m.artifacts = vec![pb::Artifact {
                name: "n".repeat(256),
                digests: vec![pb::ArtifactDigest {
                    algorithm: pb::DigestAlgorithm::Sha256 as i32,
                    value: vec![7; 32],
                }],
            }]
        }),
        ("scope.omitted", 64, 65, |m| {
            m.scope = Some(pb::Scope {
                kind: pb::ScopeKind::Partial as i32,
                omitted: vec!["x".into(); 65],
                reason: "r".into(),
            })
        }),
        (
            "evidence.archive_matches_source.differing_paths",
            64,
            65,
            |m| {
                m.verdict = Some(pb::attestation::Verdict::Informational(
                    pb::Informational {},
                ));
                m.evidence = Some(pb::Evidence {
                    kind: Some(pb::evidence::Kind::ArchiveMatchesSource(
                        pb::ArchiveMatchesSource {
                            source_revision: "v1".into(),
                            source_uri: "https://e.org/x".into(),
                            differing_paths: (0..65).map(|i| format!("p{i:03}")).collect(),
                            differing_count: 65,
                            allowed_generated: vec![],
                        },
                    )),
                })
            },
        ),
        (
            "evidence.archive_matches_source.differing_paths[0]",
            512,
            513,
            |m| {
                m.verdict = Some(pb::attestation::Verdict::Informational(
                    pb::Informational {},
                ));
                m.evidence = Some(pb::Evidence {
                    kind: Some(pb::evidence::Kind::ArchiveMatchesSource(
                        pb::ArchiveMatchesSource {
                            source_revision: "v1".into(),
                            source_uri: "https://e.org/x".into(),
                            differing_paths: vec!["p".repeat(513)],
                            differing_count: 1,
                            allowed_generated: vec![],
                        },
                    )),
                })
            },
        ),
        ("evidence.fuzzing.harnesses", 32, 33, |m| {
            m.evidence = Some(pb::Evidence {
                kind: Some(pb::evidence::Kind::Fuzzing(pb::Fuzzing {
                    harnesses: vec!["h".into(); 33],
                    duration_seconds: 1,
                    findings: 0,
                })),
            })
        }),
    ];
    for (field, limit, got, edit) in cases {
        let mut m = sample_pb(&k);
        edit(&mut m);
        let err = verify_err(&m, &k);
        let ok = match &err {
            AttestationError::TooLong {
                field: f,
                limit: l,
                got: g,
            }
            | AttestationError::TooMany {
                field: f,
                limit: l,
                got: g,
            } => f == field && l == limit && g == got,
            _ => false,
        };
        assert!(ok, "{field}: got {err}");
        // The message names the field for humans too.
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn oversized_envelope_rejected_before_decoding() {
    let k = key(11);
    let mut m = sample_pb(&k);
    m.notes = "n".repeat(70 * 1024);
    let env = sign_pb(&m, &k);
    assert!(matches!(
        attestation::verify(&env),
        Err(AttestationError::TooLong { ref field, limit: 65535, got }) if field == "envelope" && got == env.len()
    ));
    // Garbage of that size is refused by size, not parsed.
    assert!(matches!(
        attestation::verify(&vec![0xff; 65537]),
        Err(AttestationError::TooLong { ref field, .. }) if field == "envelope"
    ));
}

#[test]
fn invalid_utf8_rejected() {
    let k = key(12);
    let mut payload = sample(&k).encode_payload();
    // package is "rand" in field 3; corrupt it to invalid UTF-8 and re-sign.
    let pos = payload.windows(4).position(|w| w == b"rand").unwrap();
    payload[pos] = 0xff;
    assert!(matches!(
        attestation::verify(&sign_raw(&payload, &k)),
        Err(AttestationError::Decode {
            message: "payload",
            ..
        })
    ));
}

#[test]
fn deep_nesting_does_not_overflow() {
    // This schema nests messages only two deep, but unknown groups nest arbitrarily:
    // 100k unterminated start-group tags (field 127) must be an error, not a stack overflow.
    let p: Vec<u8> = [0xfbu8, 0x07].repeat(100_000);
    assert!(Attestation::decode_payload(&p).is_err());
    assert!(attestation::verify(&sign_raw(&p, &key(13))).is_err());
    // Deeply nested length-delimited values inside a known field are skipped as bytes.
    let mut q = Vec::new();
    for _ in 0..5_000 {
        let mut w = vec![0x2a];
        let mut n = q.len();
        while n >= 0x80 {
            w.push((n as u8) | 0x80);
            n >>= 7;
        }
        w.push(n as u8);
        w.extend_from_slice(&q);
        q = w;
    }
    assert!(Attestation::decode_payload(&q).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = attestation::verify(&bytes);
        let _ = Attestation::decode_payload(&bytes);
    }

    #[test]
    fn any_byte_flip_rejected(pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let (_, env) = good();
        let mut t = env.clone();
        t[pos.index(env.len())] ^= mask;
        prop_assert!(attestation::verify(&t).is_err());
    }

    /// Mutated payloads, re-signed so the signature is not what stops them: anything the
    /// decoder accepts must re-encode to exactly the same bytes.
    #[test]
    fn accepted_payloads_are_canonical(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let k = key(14);
        let mut p = sample(&k).encode_payload();
        for (pos, byte, op) in edits {
            let i = pos.index(p.len() + 1);
            match op {
                0 => p.insert(i, byte),
                1 if i < p.len() => { p.remove(i); }
                _ if i < p.len() => p[i] = byte,
                _ => {}
            }
        }
        if let Ok(v) = attestation::verify(&sign_raw(&p, &k)) {
            prop_assert_eq!(v.attestation().encode_payload(), p.clone());
            prop_assert_eq!(v.payload_bytes(), p.as_slice());
        }
    }

    #[test]
    fn valid_attestations_round_trip(
        pkg in "[a-z][a-z0-9_-]{0,40}",
        ver in "(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})\\.(0|[1-9][0-9]{0,2})(-[a-z][a-z0-9]{0,9})?",
        digest in proptest::option::of(any::<[u8; 32]>()),
        criteria in proptest::collection::btree_set("[a-z][a-z0-9-]{0,20}", 1..5),
        violation in proptest::option::of("[<>=^~]{0,2}[0-9]\\.[0-9]"),
        time in 1u64..=attestation::MAX_TIME,
        notes in "[ -~\n\t]{0,200}",
        seed in any::<u8>(),
    ) {
        let k = key(seed);
        let mut att = sample(&k);
        att.package = pkg;
        att.version = ver;
        att.digest = digest.map_or(Digest::Unknown, Digest::Sha256);
        att.criteria = criteria.into_iter().collect();
        att.verdict = violation.map_or(Verdict::Certify, |range| Verdict::Violation { range });
        att.time = time;
        att.notes = notes;
        let env = attestation::sign(&att, &k).unwrap();
        let v = attestation::verify(&env).unwrap();
        prop_assert_eq!(v.attestation(), &att);
    }
}

/// An evidence kind this schema does not know (a later schema's field inside `Evidence`)
/// is refused with a reason naming `evidence`, not only as non-canonical.
#[test]
fn unknown_evidence_kind_refused_with_reason() {
    let k = key(15);
    let p = sample(&k).encode_payload();
    // `evidence` (field 15) holding `source_review` (field 1, empty): 7a 02 0a 00.
    let at = p
        .windows(4)
        .position(|w| w == [0x7a, 0x02, 0x0a, 0x00])
        .unwrap();
    for unknown_tag in [0x3a, 0x52, 0x7a] {
        let mut q = p.clone();
        q[at + 2] = unknown_tag; // field 7, 10 or 15 (length-delimited), length 0
        let err = attestation::verify(&sign_raw(&q, &k)).unwrap_err();
        assert!(
            matches!(&err, AttestationError::Invalid { field, .. } if field == "evidence"),
            "{err}"
        );
        assert!(
            err.to_string().contains("unknown or missing evidence kind"),
            "{err}"
        );
    }
}
