//! Sealed attestations: a commitment logged now, a reveal logged later that must open it.

use ed25519_dalek::SigningKey;
use quorate_proto::attestation::{
    self, Attestation, Digest, Evidence, Reviewer, ReviewerKind, Scope, SealError, Verdict,
    VerifiedAttestation, commitment_hash, verify_reveal,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The embargoed finding: a violation of `xz` 5.6.0 and later.
fn inner(k: &SigningKey) -> Attestation {
    Attestation {
        ecosystem: "generic".into(),
        package: "xz".into(),
        version: "5.6.1".into(),
        digest: Digest::Sha256([0x56; 32]),
        delta_from: None,
        artifacts: vec![],
        scope: Some(Scope::Full),
        criteria: vec!["safe-to-deploy".into()],
        verdict: Verdict::Violation {
            range: ">=5.6.0".into(),
        },
        evidence: Some(Evidence::SourceReview),
        reviewer: Reviewer {
            name: "Embargoed Analyst".into(),
            public_key: k.verifying_key().to_bytes(),
            kind: ReviewerKind::Human,
        },
        organisation: "Institute".into(),
        time: 1_711_000_000,
        notes: "Backdoor in the release tarball's build-to-host.m4.".into(),
        links: vec![],
        supersedes: None,
        reveal: None,
    }
}

fn logged(a: &Attestation, k: &SigningKey) -> VerifiedAttestation {
    attestation::verify(&attestation::sign(a, k).unwrap()).unwrap()
}

const SALT: [u8; 32] = [0x5a; 32];

fn commit_and_reveal(k: &SigningKey) -> (VerifiedAttestation, VerifiedAttestation) {
    let inner = inner(k);
    let c = logged(
        &Attestation::sealed_commitment(&inner, &SALT, 1_711_000_100),
        k,
    );
    let r = logged(&Attestation::revealing(&inner, *c.leaf_hash(), SALT), k);
    (c, r)
}

#[test]
fn reveal_opens_its_commitment() {
    let k = key(1);
    let (c, r) = commit_and_reveal(&k);
    assert_eq!(verify_reveal(&c, &r), Ok(()));
    // The commitment hides the content: only the release and the reviewer show.
    let ca = c.attestation();
    assert!(ca.criteria.is_empty() && ca.notes.is_empty() && ca.evidence.is_none());
    assert!(!ca.digest.is_recorded());
    assert!(!c.payload_bytes().windows(8).any(|w| w == b"Backdoor"));
    // The reveal is an ordinary violation, counted on its own.
    assert!(matches!(r.attestation().verdict, Verdict::Violation { .. }));
    // The hash is the documented one.
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"quorate/sealed/v1\n");
    h.update(SALT);
    h.update(inner(&k).encode_payload());
    let want: [u8; 32] = h.finalize().into();
    assert_eq!(ca.verdict, Verdict::Sealed { commitment: want });
    assert_eq!(commitment_hash(r.attestation(), &SALT), want);
}

#[test]
fn wrong_salt_refused() {
    let k = key(2);
    let (c, _) = commit_and_reveal(&k);
    let r = logged(
        &Attestation::revealing(&inner(&k), *c.leaf_hash(), [0x00; 32]),
        &k,
    );
    assert_eq!(verify_reveal(&c, &r), Err(SealError::HashMismatch));
}

#[test]
fn different_payload_refused() {
    let k = key(3);
    let (c, _) = commit_and_reveal(&k);
    // The reviewer "reveals" something milder than what was committed.
    let mut milder = inner(&k);
    milder.verdict = Verdict::Violation {
        range: "=5.6.1".into(),
    };
    let r = logged(&Attestation::revealing(&milder, *c.leaf_hash(), SALT), &k);
    assert_eq!(verify_reveal(&c, &r), Err(SealError::HashMismatch));
    // Or for another release.
    let mut other = inner(&k);
    other.version = "5.6.2".into();
    let r = logged(&Attestation::revealing(&other, *c.leaf_hash(), SALT), &k);
    assert_eq!(
        verify_reveal(&c, &r),
        Err(SealError::IdentityMismatch { field: "version" })
    );
}

#[test]
fn different_reviewer_key_refused() {
    let (k, mallory) = (key(4), key(5));
    let (c, _) = commit_and_reveal(&k);
    // Mallory re-signs the exact revealed content under her key: the key check refuses,
    // and the hash (which covers the reviewer key) would not match either.
    let mut stolen = inner(&k);
    stolen.reviewer.public_key = mallory.verifying_key().to_bytes();
    let r = logged(
        &Attestation::revealing(&stolen, *c.leaf_hash(), SALT),
        &mallory,
    );
    assert_eq!(verify_reveal(&c, &r), Err(SealError::ReviewerMismatch));
    assert_ne!(
        commitment_hash(&stolen, &SALT),
        commitment_hash(&inner(&k), &SALT)
    );
}

#[test]
fn reveal_of_unknown_commitment_refused() {
    let k = key(6);
    let (c, _) = commit_and_reveal(&k);
    let r = logged(&Attestation::revealing(&inner(&k), [0xee; 32], SALT), &k);
    assert!(matches!(
        verify_reveal(&c, &r),
        Err(SealError::UnknownCommitment { .. })
    ));
    // Not a commitment / not a reveal at all.
    let plain = logged(&inner(&k), &k);
    assert_eq!(
        verify_reveal(&plain, &plain),
        Err(SealError::NotACommitment)
    );
    assert_eq!(verify_reveal(&c, &plain), Err(SealError::NotAReveal));
}

#[test]
fn commitment_cannot_carry_content() {
    let k = key(7);
    let mut c = Attestation::sealed_commitment(&inner(&k), &SALT, 1);
    c.links = vec!["https://example.org/advisory".into()];
    let err = attestation::sign(&c, &k).unwrap_err();
    assert!(err.to_string().contains("links"), "{err}");
    let mut c = Attestation::sealed_commitment(&inner(&k), &SALT, 1);
    c.reveal = Some(attestation::Reveal {
        commitment_leaf_hash: [1; 32],
        salt: SALT,
    });
    assert!(
        attestation::sign(&c, &k)
            .unwrap_err()
            .to_string()
            .contains("reveal")
    );
}
