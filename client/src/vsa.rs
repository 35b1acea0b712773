//! SLSA Verification Summary Attestations (VSA v1) in DSSE envelopes: what `check --vsa`
//! writes for each release that passed, so a deploy pipeline can verify one small signed
//! file instead of re-running the quorum.
//!
//! The statement is an in-toto Statement v1 (`_type` `https://in-toto.io/Statement/v1`)
//! with predicate type `https://slsa.dev/verification_summary/v1`; the envelope is DSSE
//! (payload type `application/vnd.in-toto+json`), signed with Ed25519 over
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`. Formats in
//! `specs/formats.md` ("Verification Summary Attestations").

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ed25519_dalek::{Signature, VerifyingKey};
use quorate_proto::attestation::Digest;
use quorate_proto::note::{Ed25519Verifier, Signer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::quorum::Counted;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Largest envelope [`verify`] reads: a VSA names at most a few hundred attestations.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// Most signatures [`verify`] tries.
pub const MAX_SIGNATURES: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VsaError {
    #[error("the envelope is {0} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not a DSSE envelope: {0}")]
    Envelope(String),
    #[error("payloadType is {0:?}, not {PAYLOAD_TYPE:?}")]
    PayloadType(String),
    #[error("payload is not base64")]
    PayloadBase64,
    #[error("the envelope has {0} signatures; at most {MAX_SIGNATURES} are read")]
    TooManySignatures(usize),
    #[error("no signature verifies under the key given (wrong key, or the envelope was altered)")]
    BadSignature,
    #[error("the signed payload is not an in-toto statement: {0}")]
    Statement(String),
}

/// The DSSE JSON envelope.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

/// A file's digests as an in-toto DigestSet: lowercase hex under the standard names, and
/// Go's `h1:` as `dirHash1` (its hex form, as the DigestSet spec gives it).
pub fn digest_set(d: &Digest) -> Option<(String, String)> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Some(match d {
        Digest::Sha256(b) => ("sha256".into(), hex(b)),
        Digest::Sha512(b) => ("sha512".into(), hex(b)),
        Digest::GoH1(b) => ("dirHash1".into(), hex(b)),
        Digest::Sha1(b) => ("sha1".into(), hex(b)),
        Digest::Unknown => return None,
    })
}

/// One subject: a file of the release and its digest.
pub struct Subject {
    pub name: String,
    pub digest: Digest,
}

/// Everything one VSA says.
pub struct Summary<'a> {
    pub subjects: Vec<Subject>,
    /// The release as a purl.
    pub resource_uri: String,
    pub verifier_id: String,
    /// RFC 3339, UTC.
    pub time_verified: String,
    pub policy_uri: String,
    pub policy_sha256: [u8; 32],
    pub counted: &'a [Counted],
    pub verified_levels: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The in-toto statement (JSON) for `s`.
pub fn statement(s: &Summary<'_>) -> Value {
    let subject: Vec<Value> = s
        .subjects
        .iter()
        .filter_map(|x| {
            let (alg, val) = digest_set(&x.digest)?;
            Some(json!({"name": x.name, "digest": {alg: val}}))
        })
        .collect();
    let inputs: Vec<Value> = s
        .counted
        .iter()
        .map(|c| {
            json!({
                "name": format!("{}#{}", c.origin, c.index),
                "digest": {"sha256": hex(&c.envelope_sha256)},
                "annotations": {
                    "logOrigin": c.origin,
                    "logIndex": c.index,
                    "leafHash": hex(&c.leaf_hash),
                    "jurisdiction": c.jurisdiction,
                },
            })
        })
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verifier": {
                "id": s.verifier_id,
                "version": {"quorate": env!("CARGO_PKG_VERSION")},
            },
            "timeVerified": s.time_verified,
            "resourceUri": s.resource_uri,
            "policy": {"uri": s.policy_uri, "digest": {"sha256": hex(&s.policy_sha256)}},
            "inputAttestations": inputs,
            "verificationResult": "PASSED",
            "verifiedLevels": s.verified_levels,
            "slsaVersion": "1.0",
        },
    })
}

/// Signs `statement` as a DSSE envelope; `keyid` is the signer's `NAME+KEYID` (a hint
/// only: verifiers must not decide by it).
pub fn sign(statement: &Value, signer: &Signer) -> Result<String, serde_json::Error> {
    let body = serde_json::to_vec(statement)?;
    let sig = signer.sign(&pae(PAYLOAD_TYPE, &body));
    let env = Envelope {
        payload: STANDARD.encode(&body),
        payload_type: PAYLOAD_TYPE.into(),
        signatures: vec![EnvelopeSignature {
            keyid: format!("{}+{:08x}", signer.name(), signer.key_id()),
            sig: STANDARD.encode(sig),
        }],
    };
    let mut s = serde_json::to_string_pretty(&env)?;
    s.push('\n');
    Ok(s)
}

fn b64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

/// A statement whose DSSE signature verified under the key given.
#[derive(Debug)]
pub struct VerifiedVsa {
    pub statement: Value,
}

impl VerifiedVsa {
    pub fn predicate(&self) -> &Value {
        &self.statement["predicate"]
    }
}

/// Verifies a DSSE envelope per the DSSE protocol (any one signature verifying under
/// `key` over PAE; keyids are ignored), then parses the statement and checks it is a
/// VSA v1 in-toto statement.
pub fn verify(bytes: &[u8], key: &Ed25519Verifier) -> Result<VerifiedVsa, VsaError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(VsaError::TooLarge(bytes.len()));
    }
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| VsaError::Envelope(e.to_string()))?;
    if env.signatures.len() > MAX_SIGNATURES {
        return Err(VsaError::TooManySignatures(env.signatures.len()));
    }
    let body = b64(&env.payload).ok_or(VsaError::PayloadBase64)?;
    let msg = pae(&env.payload_type, &body);
    let vk =
        VerifyingKey::from_bytes(&key.public_key_bytes()).map_err(|_| VsaError::BadSignature)?;
    let ok = env.signatures.iter().any(|s| {
        b64(&s.sig)
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .is_some_and(|b| vk.verify_strict(&msg, &Signature::from_bytes(&b)).is_ok())
    });
    if !ok {
        return Err(VsaError::BadSignature);
    }
    // Only now is the payload type (authenticated by PAE) worth judging.
    if env.payload_type != PAYLOAD_TYPE {
        return Err(VsaError::PayloadType(env.payload_type));
    }
    let statement: Value =
        serde_json::from_slice(&body).map_err(|e| VsaError::Statement(e.to_string()))?;
    let bad = |why: &str| VsaError::Statement(why.to_owned());
    if statement["_type"] != STATEMENT_TYPE {
        return Err(bad("_type is not https://in-toto.io/Statement/v1"));
    }
    if statement["predicateType"] != PREDICATE_TYPE {
        return Err(bad(
            "predicateType is not https://slsa.dev/verification_summary/v1",
        ));
    }
    if statement["subject"].as_array().is_none_or(Vec::is_empty) {
        return Err(bad("no subject"));
    }
    for f in [
        "verifier",
        "timeVerified",
        "resourceUri",
        "policy",
        "verificationResult",
    ] {
        if statement["predicate"][f].is_null() {
            return Err(VsaError::Statement(format!("predicate.{f} is missing")));
        }
    }
    Ok(VerifiedVsa { statement })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn signed_envelopes_verify_and_altered_ones_do_not() {
        let signer = Signer::generate("checker.example", [7; 32]).unwrap();
        let st = json!({"_type": STATEMENT_TYPE, "predicateType": PREDICATE_TYPE,
            "subject": [{"name": "a", "digest": {"sha256": "00"}}],
            "predicate": {"verifier": {"id": "urn:x"}, "timeVerified": "t", "resourceUri": "pkg:cargo/a@1",
                          "policy": {"uri": "file:///p"}, "verificationResult": "PASSED"}});
        let env = sign(&st, &signer).unwrap();
        let v = verify(env.as_bytes(), &signer.verifier()).unwrap();
        assert_eq!(v.predicate()["resourceUri"], "pkg:cargo/a@1");
        let other = Signer::generate("checker.example", [8; 32]).unwrap();
        assert_eq!(
            verify(env.as_bytes(), &other.verifier()).unwrap_err(),
            VsaError::BadSignature
        );
        let mut e: Envelope = serde_json::from_str(&env).unwrap();
        let mut body: Value =
            serde_json::from_slice(&STANDARD.decode(&e.payload).unwrap()).unwrap();
        body["predicate"]["resourceUri"] = json!("pkg:cargo/evil@1");
        e.payload = STANDARD.encode(serde_json::to_vec(&body).unwrap());
        let altered = serde_json::to_vec(&e).unwrap();
        assert_eq!(
            verify(&altered, &signer.verifier()).unwrap_err(),
            VsaError::BadSignature
        );
        assert!(matches!(
            verify(b"{}", &signer.verifier()).unwrap_err(),
            VsaError::Envelope(_)
        ));
    }
}
