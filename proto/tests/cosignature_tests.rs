//! tlog-cosignature v1.0.1: the spec's example, key forms, signing and verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::cosignature::{
    COSIGNATURE_V1_TYPE, CosignatureError, CosignatureSigner, CosignatureVerifier,
    cosignature_message, cosignature_timestamp,
};
use quorate_proto::note::{self, Ed25519Verifier, KeyError, NoteError, NoteSignature, Signer};

const SOFA_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SOFA_COSIGNED: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

fn witness(i: u8) -> CosignatureSigner {
    CosignatureSigner::generate(&format!("witness.example/w{i}"), [0x40 + i; 32]).unwrap()
}

#[test]
fn c2sp_example_shape_and_message() {
    // The spec publishes no keys for this example, so check everything but the Ed25519
    // equation: the note parses, and the cosignature carries the timestamp whose signed
    // message the spec prints.
    assert_eq!(
        note::open(SOFA_COSIGNED.as_bytes(), &[]),
        Err(NoteError::NoKnownSignature { unverified: 2 })
    );
    let line = SOFA_COSIGNED.lines().last().unwrap();
    let raw = B64.decode(line.rsplit(' ').next().unwrap()).unwrap();
    assert_eq!(raw.len(), 4 + 72);
    assert_eq!(cosignature_timestamp(&raw[4..]), Ok(1679315147));
    assert_eq!(
        cosignature_message(SOFA_TEXT, 1679315147),
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    assert_eq!(
        cosignature_message("x\n", 0),
        b"cosignature/v1\ntime 0\nx\n"
    );
}

#[test]
fn keys_round_trip_with_type_4() {
    let w = witness(1);
    let vkey = w.vkey();
    let parsed = note::parse_vkey(&vkey).unwrap();
    assert_eq!(parsed.key_type, COSIGNATURE_V1_TYPE);
    assert_eq!(parsed.key_id, w.key_id());
    assert_eq!(
        w.key_id(),
        note::key_id(w.name(), 0x04, &w.public_key_bytes())
    );
    let v = CosignatureVerifier::from_vkey(&vkey).unwrap();
    assert_eq!(v, w.verifier());
    assert_eq!(v.vkey(), vkey);
    let skey = w.skey();
    assert!(skey.as_str().starts_with("PRIVATE+KEY+witness.example/w1+"));
    let back = CosignatureSigner::from_skey(skey.as_str()).unwrap();
    assert_eq!(back.vkey(), vkey);
    // Witness and log keys cannot be mixed up.
    assert_eq!(
        Ed25519Verifier::from_vkey(&vkey),
        Err(KeyError::WrongType {
            found: 4,
            expected: 1
        })
    );
    assert!(Signer::from_skey(skey.as_str()).is_err());
    let log = Signer::generate("example.org/log", [1; 32]).unwrap();
    assert!(CosignatureVerifier::from_vkey(&log.vkey()).is_err());
    assert!(CosignatureSigner::from_skey(log.skey().as_str()).is_err());
    // Same seed and name, different type byte: different key ID.
    let same = Signer::generate(w.name(), [0x41; 32]).unwrap();
    assert_ne!(same.key_id(), w.key_id());
}

#[test]
fn cosign_and_open() {
    let log = Signer::generate("example.org/log", [1; 32]).unwrap();
    let signed = note::sign(SOFA_TEXT, &[&log]).unwrap();
    let w = witness(1);
    let cosig = w.cosign(SOFA_TEXT, 1_700_000_000).unwrap();
    assert_eq!(cosig.signature().len(), 72);
    assert_eq!(cosignature_timestamp(cosig.signature()), Ok(1_700_000_000));
    let raw = w.cosign_raw(SOFA_TEXT, 1_700_000_000).unwrap();
    assert_eq!(raw.as_slice(), cosig.signature());
    let cosigned = note::add_signatures(&signed, &[cosig]).unwrap();
    let n = note::open(cosigned.as_bytes(), &[&log.verifier(), &w.verifier()]).unwrap();
    assert_eq!(n.verified_signatures().len(), 2);
    // The cosignature alone is enough for note::open (checkpoint rules add the log key).
    let n = note::open(cosigned.as_bytes(), &[&w.verifier()]).unwrap();
    assert_eq!(n.verified_signatures()[0].name(), w.name());
}

#[test]
fn timestamp_limits() {
    let w = witness(2);
    let max = (1u64 << 63) - 1;
    assert!(w.cosign(SOFA_TEXT, max).is_ok());
    assert_eq!(
        w.cosign(SOFA_TEXT, max + 1),
        Err(CosignatureError::TimestampTooLarge(max + 1))
    );
    let mut bad = [0u8; 72];
    bad[0] = 0x80;
    assert_eq!(
        cosignature_timestamp(&bad),
        Err(CosignatureError::TimestampTooLarge(1 << 63))
    );
    assert_eq!(
        cosignature_timestamp(&[0; 71]),
        Err(CosignatureError::WrongLength { found: 71 })
    );
    // A signature whose timestamp was changed, e.g. given the top bit, fails verification
    // and so rejects the note.
    let log = Signer::generate("example.org/log", [1; 32]).unwrap();
    let mut sig = w.cosign_raw(SOFA_TEXT, 5).unwrap().to_vec();
    sig[0] |= 0x80;
    let forged = NoteSignature::new(w.name(), w.key_id(), sig).unwrap();
    let m = note::add_signatures(&note::sign(SOFA_TEXT, &[&log]).unwrap(), &[forged]).unwrap();
    assert!(matches!(
        note::open(m.as_bytes(), &[&log.verifier(), &w.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn cosign_only_checkpoints() {
    let w = witness(3);
    assert!(matches!(
        w.cosign("hello\n", 1),
        Err(CosignatureError::NotCheckpoint(_))
    ));
    assert!(matches!(
        w.cosign("no newline", 1),
        Err(CosignatureError::Note(NoteError::TextNotNewlineTerminated))
    ));
}

#[test]
fn plain_signature_is_not_a_cosignature() {
    // A 0x04 verifier given a 64-byte plain Ed25519 signature (wrong length) says no.
    use quorate_proto::note::NoteVerifier;
    let w = witness(4);
    let s = Signer::generate(w.name(), [0x44; 32]).unwrap();
    let sig = s.sign(SOFA_TEXT.as_bytes());
    assert!(!w.verifier().verify(SOFA_TEXT.as_bytes(), &sig));
    assert!(!w.verifier().verify(SOFA_TEXT.as_bytes(), &[]));
    let good = w.cosign_raw(SOFA_TEXT, 9).unwrap();
    assert!(w.verifier().verify(SOFA_TEXT.as_bytes(), &good));
    assert!(!w.verifier().verify(b"other\n", &good));
}
