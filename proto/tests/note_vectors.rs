//! Known-answer tests: Go-generated vectors (shared/), Go's own note_test.go key and note,
//! and the examples printed in the C2SP signed-note spec.

mod common;

use quorate_proto::note::{self, Ed25519Verifier, NoteError, NoteVerifier, Signer, parse_vkey};

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> Ed25519Verifier {
    Ed25519Verifier::from_vkey(PETER_VKEY).unwrap()
}

#[test]
fn go_peter_neumann_keys_round_trip() {
    let s = Signer::from_skey(PETER_SKEY).unwrap();
    assert_eq!(s.name(), "PeterNeumann");
    assert_eq!(s.key_id(), 0xc74f20a3);
    assert_eq!(s.vkey(), PETER_VKEY);
    assert_eq!(s.skey().as_str(), PETER_SKEY);
    assert_eq!(s.verifier(), peter());
    assert_eq!(peter().vkey(), PETER_VKEY);
    let k = parse_vkey(PETER_VKEY).unwrap();
    assert_eq!(
        (k.key_type, k.key_id, k.public_key.len()),
        (1, 0xc74f20a3, 32)
    );
    assert_eq!(k.public_key, s.public_key_bytes());
}

#[test]
fn go_peter_neumann_sign_is_byte_identical() {
    let s = Signer::from_skey(PETER_SKEY).unwrap();
    let msg = note::sign(PETER_TEXT, &[&s]).unwrap();
    assert_eq!(msg, format!("{PETER_TEXT}\n{PETER_SIG}"));
}

#[test]
fn go_open_one_verified_one_unknown() {
    let msg = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let n = note::open(msg.as_bytes(), &[&peter()]).unwrap();
    assert_eq!(n.text(), PETER_TEXT);
    assert_eq!(n.verified_signatures().len(), 1);
    assert_eq!(n.verified_signatures()[0].name(), "PeterNeumann");
    assert_eq!(n.verified_signatures()[0].key_id(), 0xc74f20a3);
    assert_eq!(n.verified_signatures()[0].signature().len(), 64);
    assert_eq!(n.unverified_signatures().len(), 1);
    assert_eq!(n.unverified_signatures()[0].name(), "EnochRoot");
    assert_eq!(n.unverified_signatures()[0].key_id(), 0xaf0cfe78);

    let enoch = Ed25519Verifier::from_vkey(ENOCH_VKEY).unwrap();
    let n = note::open(msg.as_bytes(), &[&peter(), &enoch]).unwrap();
    assert_eq!(n.verified_signatures().len(), 2);
    assert!(n.unverified_signatures().is_empty());

    assert_eq!(
        note::open(msg.as_bytes(), &[]),
        Err(NoteError::NoKnownSignature { unverified: 2 })
    );
}

#[test]
fn go_open_ambiguous_verifiers() {
    let enoch = Ed25519Verifier::from_vkey(ENOCH_VKEY).unwrap();
    let msg = format!("{PETER_TEXT}\n{ENOCH_SIG}");
    assert!(matches!(
        note::open(msg.as_bytes(), &[&enoch, &peter(), &enoch]),
        Err(NoteError::AmbiguousKey { .. })
    ));
    // An ambiguous key that signed nothing does not matter (as in Go).
    let msg = format!("{PETER_TEXT}\n{PETER_SIG}");
    assert!(note::open(msg.as_bytes(), &[&enoch, &peter(), &enoch]).is_ok());
}

#[test]
fn go_open_invalid_signature_names_the_key() {
    let (a, b) = PETER_SIG.split_at(60);
    let msg = format!("{PETER_TEXT}\n{a}ABCD{b}");
    let err = note::open(msg.as_bytes(), &[&peter()]).unwrap_err();
    assert_eq!(
        err,
        NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid signature by known key PeterNeumann+c74f20a3"
    );
}

#[test]
fn go_duplicate_unknown_lines_collapse_but_known_duplicates_reject() {
    let (a, b) = ENOCH_SIG.split_at(60);
    let enoch_abcd = format!("{a}ABCD{b}");
    let msg = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_abcd}");
    let n = note::open(msg.as_bytes(), &[&peter()]).unwrap();
    assert_eq!(n.verified_signatures().len(), 1);
    assert_eq!(n.unverified_signatures().len(), 2);
    // Go drops a repeated line by a known key unchecked; Quorate rejects it.
    let msg = format!("{PETER_TEXT}\n{PETER_SIG}{PETER_SIG}");
    assert!(matches!(
        note::open(msg.as_bytes(), &[&peter()]),
        Err(NoteError::DuplicateSignature { .. })
    ));
}

#[test]
fn go_bad_messages() {
    let bad = [
        PETER_TEXT.to_string(),
        format!("{PETER_TEXT}\n"),
        format!("{PETER_TEXT}\n{}", PETER_SIG.trim_end_matches('\n')),
        format!("\x01{PETER_TEXT}\n{PETER_SIG}"),
        format!(
            "{PETER_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{PETER_TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for m in &bad {
        assert!(note::open(m.as_bytes(), &[&peter()]).is_err(), "{m:?}");
    }
    let mut non_utf8 = vec![0xff];
    non_utf8.extend_from_slice(format!("{PETER_TEXT}\n{PETER_SIG}").as_bytes());
    assert_eq!(
        note::open(&non_utf8, &[&peter()]),
        Err(NoteError::InvalidUtf8 { offset: 0 })
    );
    let many = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(101));
    assert_eq!(
        note::open(many.as_bytes(), &[&peter()]),
        Err(NoteError::TooManySignatures { max: 100 })
    );
}

#[test]
fn go_key_manglings_rejected() {
    // Every proper substring and every single-byte increment of the keys must fail.
    for key in [PETER_VKEY, PETER_SKEY] {
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                    assert!(Ed25519Verifier::from_vkey(s).is_err(), "{s}");
                    assert!(Signer::from_skey(s).is_err(), "{s}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(Ed25519Verifier::from_vkey(s).is_err(), "{s}");
                assert!(Signer::from_skey(s).is_err(), "{s}");
            }
        }
    }
    // Wrong key length and unknown type, each with a matching key ID (from Go's tests).
    assert!(
        Ed25519Verifier::from_vkey(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err()
    );
    let unknown_type = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    assert!(Ed25519Verifier::from_vkey(unknown_type).is_err());
    assert_eq!(parse_vkey(unknown_type).unwrap().key_type, 0x65);
}

#[test]
fn c2sp_signed_note_example() {
    let v = Ed25519Verifier::from_vkey(
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    )
    .unwrap();
    let msg = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let n = note::open(msg.as_bytes(), &[&v]).unwrap();
    assert_eq!(n.text(), "This is an example message.\n");
    assert_eq!(v.name(), "example.com/foo");
    assert_eq!(v.key_id(), 0x530d903a);
}

#[test]
fn c2sp_quasimodo_example_splits_at_last_blank_line() {
    let msg = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    // No public key is published for it: it must parse, then fail for want of a known key.
    assert_eq!(
        note::open(msg.as_bytes(), &[]),
        Err(NoteError::NoKnownSignature { unverified: 1 })
    );
    // A same-named key with another ID is unknown, not a failed signature.
    let other = Signer::generate("quasimodo.example/salvatore", [7; 32]).unwrap();
    assert_eq!(
        note::open(msg.as_bytes(), &[&other.verifier()]),
        Err(NoteError::NoKnownSignature { unverified: 1 })
    );
}

#[test]
fn shared_go_vectors() {
    let Some(path) = common::shared_file("vectors/signed-note.json") else {
        return;
    };
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut signers = Vec::new();
    for k in v["keys"].as_array().unwrap() {
        let (name, skey, vkey) = (
            k["name"].as_str().unwrap(),
            k["skey"].as_str().unwrap(),
            k["vkey"].as_str().unwrap(),
        );
        let s = Signer::from_skey(skey).unwrap();
        assert_eq!(s.name(), name);
        assert_eq!(s.skey().as_str(), skey, "skey regenerated differently");
        assert_eq!(s.vkey(), vkey, "vkey regenerated differently");
        let ver = Ed25519Verifier::from_vkey(vkey).unwrap();
        assert_eq!(ver.vkey(), vkey);
        assert_eq!(ver, s.verifier());
        // generate() from the same seed gives the same key strings.
        let seed: [u8; 32] = base64_seed(skey);
        let g = Signer::generate(name, seed).unwrap();
        assert_eq!(g.skey().as_str(), skey);
        signers.push(s);
    }
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let msg = c["note"].as_str().unwrap();
        let verifiers: Vec<Ed25519Verifier> = c["verify_with"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| Ed25519Verifier::from_vkey(k.as_str().unwrap()).unwrap())
            .collect();
        let dyns: Vec<&dyn NoteVerifier> =
            verifiers.iter().map(|v| v as &dyn NoteVerifier).collect();
        let res = note::open(msg.as_bytes(), &dyns);
        if !c["valid"].as_bool().unwrap() {
            assert!(res.is_err(), "case {name:?} should fail");
            continue;
        }
        let n = res.unwrap_or_else(|e| panic!("case {name:?}: {e}"));
        let text = c["text"].as_str().unwrap();
        assert_eq!(n.text(), text, "case {name:?}");
        assert_eq!(
            n.verified_signatures().len(),
            verifiers.len(),
            "case {name:?}"
        );
        // Re-signing with the same keys in note order gives Go's exact bytes.
        let mut by: Vec<&Signer> = Vec::new();
        for s in n
            .verified_signatures()
            .iter()
            .chain(n.unverified_signatures())
        {
            by.push(signers.iter().find(|k| k.name() == s.name()).unwrap());
        }
        assert_eq!(note::sign(text, &by).unwrap(), msg, "case {name:?}");
    }
}

fn base64_seed(skey: &str) -> [u8; 32] {
    use base64::Engine as _;
    let b64 = skey.splitn(5, '+').nth(4).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    raw[1..].try_into().unwrap()
}
