//! tlog-checkpoint v1.0.0 parsing and Quorate's checkpoint verification rules.

mod common;

use proptest::prelude::*;
use quorate_proto::checkpoint::{
    Checkpoint, CheckpointError, CheckpointParseError, verify_checkpoint, verify_checkpoint_at,
};
use quorate_proto::cosignature::{CosignatureSigner, CosignatureVerifier};
use quorate_proto::note::{self, Ed25519Verifier, NoteError, Signer};

const SOFA_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const ROOT_B64: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

fn log() -> Signer {
    Signer::generate("example.org/log", [1; 32]).unwrap()
}

fn witnesses() -> Vec<CosignatureSigner> {
    (0..3u8)
        .map(|i| {
            CosignatureSigner::generate(&format!("witness{i}.example"), [0x30 + i; 32]).unwrap()
        })
        .collect()
}

fn body() -> String {
    Checkpoint::new("example.org/log", 1234, [7; 32], vec![])
        .unwrap()
        .to_text()
}

fn cosigned(ws: &[CosignatureSigner], ts: u64) -> String {
    let text = body();
    let signed = note::sign(&text, &[&log()]).unwrap();
    let sigs: Vec<_> = ws.iter().map(|w| w.cosign(&text, ts).unwrap()).collect();
    note::add_signatures(&signed, &sigs).unwrap()
}

#[test]
fn c2sp_example_parses_and_round_trips() {
    let c = Checkpoint::parse(SOFA_TEXT).unwrap();
    assert_eq!(c.origin(), "example.com/behind-the-sofa");
    assert_eq!(c.size(), 20852163);
    assert_eq!(c.root_hash()[..3], [0x0a, 0xc5, 0x18]);
    assert!(c.extensions().is_empty());
    assert_eq!(c.to_text(), SOFA_TEXT);
    let ext = format!("{SOFA_TEXT}ext one\next two\n");
    let c = Checkpoint::parse(&ext).unwrap();
    assert_eq!(c.extensions(), ["ext one", "ext two"]);
    assert_eq!(c.to_text(), ext);
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{ROOT_B64}\n"))
            .unwrap()
            .size(),
        0
    );
    assert_eq!(
        Checkpoint::parse(&format!("o\n18446744073709551615\n{ROOT_B64}\n"))
            .unwrap()
            .size(),
        u64::MAX
    );
}

#[test]
fn parse_rejects_malformed() {
    use CheckpointParseError as E;
    let r = ROOT_B64;
    type Case = (String, fn(&E) -> bool);
    let cases: Vec<Case> = vec![
        (String::new(), |e| *e == E::NotNewlineTerminated),
        ("\n".into(), |e| *e == E::EmptyLine { line: 1 }),
        (format!("o\n1\n{r}"), |e| *e == E::NotNewlineTerminated),
        ("o\n1\n".into(), |e| *e == E::TooFewLines { found: 2 }),
        (format!("\n1\n{r}\n"), |e| *e == E::EmptyLine { line: 1 }),
        (format!("o\n1\n{r}\n\n"), |e| *e == E::EmptyLine { line: 4 }),
        (format!("o\n1\n{r}\next\n\n"), |e| {
            *e == E::EmptyLine { line: 5 }
        }),
        (format!("o\r\n1\n{r}\n"), |e| {
            matches!(e, E::ControlCharacter { line: 1, .. })
        }),
        (format!("o\n01\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n00\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n+1\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n-1\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n 1\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n1 \n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n0x1\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n\u{661}\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        (format!("o\n18446744073709551616\n{r}\n"), |e| {
            matches!(e, E::InvalidSize { .. })
        }),
        ("o\n1\nAAAA\n".into(), |e| *e == E::InvalidRootHash),
        (format!("o\n1\n{}\n", r.trim_end_matches('=')), |e| {
            *e == E::InvalidRootHash
        }),
        (format!("o\n1\n{r} \n"), |e| *e == E::InvalidRootHash),
        (format!("o\n1\nA{r}\n"), |e| *e == E::InvalidRootHash),
        // 33 bytes
        (
            "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n".into(),
            |e| *e == E::InvalidRootHash,
        ),
        // non-canonical last character (trailing bits set)
        (
            "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n".into(),
            |e| *e == E::InvalidRootHash,
        ),
    ];
    for (text, want) in cases {
        match Checkpoint::parse(&text) {
            Ok(c) => panic!("accepted {text:?} as {c:?}"),
            Err(e) => assert!(want(&e), "{text:?}: unexpected {e:?}"),
        }
    }
    assert!(Checkpoint::new("", 1, [0; 32], vec![]).is_err());
    assert!(Checkpoint::new("a\nb", 1, [0; 32], vec![]).is_err());
    assert!(Checkpoint::new("a", 1, [0; 32], vec![String::new()]).is_err());
    assert!(matches!(
        Checkpoint::parse(&"a\n".repeat(1 << 20)),
        Err(E::TooLarge { .. })
    ));
}

#[test]
fn verify_with_three_witnesses() {
    let ws = witnesses();
    let vs: Vec<CosignatureVerifier> = ws.iter().map(|w| w.verifier()).collect();
    let msg = cosigned(&ws, 1_700_000_000);
    let v = verify_checkpoint(msg.as_bytes(), &log().verifier(), &vs).unwrap();
    assert_eq!(v.checkpoint().size(), 1234);
    assert_eq!(v.checkpoint().root_hash(), &[7; 32]);
    assert_eq!(v.note_text(), body());
    assert_eq!(v.note_bytes(), msg.as_bytes());
    assert_eq!(v.cosignatures().len(), 3);
    assert!(
        v.cosignatures()
            .iter()
            .all(|c| c.timestamp() == 1_700_000_000)
    );
    assert_eq!(v.cosignatures()[0].name(), "witness0.example");
    assert_eq!(v.cosignatures()[0].key_id(), ws[0].key_id());
    assert!(v.require_witnesses(3).is_ok());
    let err = v.require_witnesses(4).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::NotEnoughWitnesses {
            found: 3,
            required: 4,
            future: 0
        }
    );
    assert!(
        err.to_string()
            .contains("3 valid witness cosignatures, 4 required")
    );
    // Only configured witnesses count; others are ignored.
    let v = verify_checkpoint(msg.as_bytes(), &log().verifier(), &vs[..1]).unwrap();
    assert_eq!(v.cosignatures().len(), 1);
    let v = verify_checkpoint(msg.as_bytes(), &log().verifier(), &[]).unwrap();
    assert!(v.require_witnesses(1).is_err());
    assert!(v.require_witnesses(0).is_ok());
}

#[test]
fn future_cosignatures_do_not_count() {
    let ws = witnesses();
    let vs: Vec<CosignatureVerifier> = ws.iter().map(|w| w.verifier()).collect();
    let text = body();
    let signed = note::sign(&text, &[&log()]).unwrap();
    let msg = note::add_signatures(
        &signed,
        &[
            ws[0].cosign(&text, 1000).unwrap(),
            ws[1].cosign(&text, 1060).unwrap(),
            ws[2].cosign(&text, 5000).unwrap(),
        ],
    )
    .unwrap();
    let v = verify_checkpoint_at(msg.as_bytes(), &log().verifier(), &vs, 1000, 60).unwrap();
    assert_eq!(v.cosignatures().len(), 2);
    assert_eq!(v.future_cosignatures().len(), 1);
    assert_eq!(v.future_cosignatures()[0].timestamp(), 5000);
    assert_eq!(
        v.require_witnesses(3),
        Err(CheckpointError::NotEnoughWitnesses {
            found: 2,
            required: 3,
            future: 1
        })
    );
    let v = verify_checkpoint_at(msg.as_bytes(), &log().verifier(), &vs, u64::MAX, 60).unwrap();
    assert!(v.require_witnesses(3).is_ok());
}

#[test]
fn rejections() {
    let ws = witnesses();
    let vs: Vec<CosignatureVerifier> = ws.iter().map(|w| w.verifier()).collect();
    let text = body();
    // Witnesses only, no log signature.
    let lines: String = ws
        .iter()
        .map(|w| w.cosign(&text, 1).unwrap().to_line())
        .collect();
    let no_log = format!("{text}\n{lines}");
    assert_eq!(
        verify_checkpoint(no_log.as_bytes(), &log().verifier(), &vs),
        Err(CheckpointError::MissingLogSignature {
            name: "example.org/log".into(),
            key_id: log().key_id()
        })
    );
    // Origin differs from the log key name.
    let other = Signer::generate("example.org/other", [5; 32]).unwrap();
    let m = note::sign(&text, &[&other]).unwrap();
    assert!(matches!(
        verify_checkpoint(m.as_bytes(), &other.verifier(), &vs),
        Err(CheckpointError::OriginMismatch { .. })
    ));
    // Signed but not a checkpoint.
    let m = note::sign("example.org/log\nnot a size\nx\n", &[&log()]).unwrap();
    assert!(matches!(
        verify_checkpoint(m.as_bytes(), &log().verifier(), &vs),
        Err(CheckpointError::Parse(
            CheckpointParseError::InvalidSize { .. }
        ))
    ));
    // A configured witness's bad cosignature rejects the note.
    let good = cosigned(&ws, 1);
    let forged_text = Checkpoint::new("example.org/log", 1235, [7; 32], vec![])
        .unwrap()
        .to_text();
    let bad_cosig = ws[1].cosign(&forged_text, 1).unwrap();
    let m = note::add_signatures(&good, &[bad_cosig]).unwrap();
    assert_eq!(
        verify_checkpoint(m.as_bytes(), &log().verifier(), &vs),
        Err(CheckpointError::Note(NoteError::InvalidSignature {
            name: ws[1].name().into(),
            key_id: ws[1].key_id()
        }))
    );
    // Garbage never panics.
    for junk in [
        &b""[..],
        b"\xff\xfe",
        b"\n\n\n",
        good.as_bytes().get(..40).unwrap(),
    ] {
        assert!(verify_checkpoint(junk, &log().verifier(), &vs).is_err());
    }
}

#[test]
fn shared_go_vectors_are_checkpoints() {
    let Some(path) = common::shared_file("vectors/signed-note.json") else {
        return;
    };
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for c in v["cases"].as_array().unwrap() {
        if !c["valid"].as_bool().unwrap() {
            continue;
        }
        let keys = c["verify_with"].as_array().unwrap();
        let log = Ed25519Verifier::from_vkey(keys[0].as_str().unwrap()).unwrap();
        let vc = verify_checkpoint(c["note"].as_str().unwrap().as_bytes(), &log, &[]).unwrap();
        assert_eq!(vc.checkpoint().origin(), "example.org/quorate/log-de");
        assert_eq!(vc.checkpoint().size(), 300);
        assert_eq!(vc.note_text(), c["text"].as_str().unwrap());
        checked += 1;
    }
    assert!(checked >= 4);
}

proptest! {
    #[test]
    fn parse_never_panics(s in ".{0,200}") {
        let _ = Checkpoint::parse(&s);
        let _ = Checkpoint::parse(&format!("{s}\n"));
    }

    #[test]
    fn round_trip(
        origin in "[a-z./]{1,30}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        ext in proptest::collection::vec("[ -~]{1,20}", 0..3),
    ) {
        let c = Checkpoint::new(&origin, size, root, ext).unwrap();
        prop_assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c);
    }
}

/// The examples in specs/parts/note-checkpoint-cosignature.md stay true.
#[test]
fn spec_part_examples_verify() {
    let log = Ed25519Verifier::from_vkey(
        "example.org/quorate/log-de+c7292978+AYkaOCC2qVJJwQ6PlpYcbKQGM+I+P194I1fXf8lWvGbh",
    )
    .unwrap();
    let w = CosignatureVerifier::from_vkey(
        "witness.example.fr/w1+36fd117c+BCFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS",
    )
    .unwrap();
    let ws = CosignatureSigner::from_skey(
        "PRIVATE+KEY+witness.example.fr/w1+36fd117c+BEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC",
    )
    .unwrap();
    assert_eq!(ws.verifier(), w);
    let cosigned = "example.org/quorate/log-de\n300\nOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs=\n\n\u{2014} example.org/quorate/log-de xykpeLB42fP3OT1rAL/Kfm3UJGfFbQW1m06L+XgFmNSbzCCXzhBv38OqZimnYPIbBPD75Pv+JAQW0ePq/oyBygPQ2w4=\n\u{2014} witness.example.fr/w1 Nv0RfAAAAABlU/EAJuCXmEq/UUjTT8dMIsZYwNX+L/e8CB+eENHb8ymPMmMf54KF2aMvRhKEc80ShQwY/p6/+W0jlhzAxqTjcK/1CQ==\n";
    let v = verify_checkpoint(cosigned.as_bytes(), &log, &[w]).unwrap();
    v.require_witnesses(1).unwrap();
    assert_eq!(v.cosignatures()[0].timestamp(), 1_700_000_000);
    assert_eq!(v.checkpoint().root_hash(), &[0x3b; 32]);
}

/// Origin from configuration and several keys per origin (C2SP tlog-checkpoint allows
/// the key name to differ; Go's checksum database does): old key, new key, both, neither.
#[test]
fn log_keys_origin_from_configuration_and_rotation() {
    use quorate_proto::checkpoint::{LogKeys, LogKeysError, verify_log_checkpoint};
    let origin = "go.sum database tree";
    let text = Checkpoint::new(origin, 9, [3; 32], vec![])
        .unwrap()
        .to_text();
    let old = Signer::generate("sum.golang.org", [21; 32]).unwrap();
    let new = Signer::generate("sum.golang.org", [22; 32]).unwrap();
    let stranger = Signer::generate("sum.golang.org", [23; 32]).unwrap();
    let w = &witnesses()[0];
    let keys = LogKeys::new(origin, vec![old.verifier(), new.verifier()]).unwrap();
    let wv = [w.verifier()];
    for signers in [vec![&old], vec![&new], vec![&old, &new]] {
        let signed = note::sign(&text, &signers).unwrap();
        let signed = note::add_signatures(&signed, &[w.cosign(&text, 5).unwrap()]).unwrap();
        let v = verify_log_checkpoint(signed.as_bytes(), &keys, &wv, None).unwrap();
        assert_eq!(v.checkpoint().origin(), origin);
        v.require_witnesses(1).unwrap();
    }
    let signed = note::sign(&text, &[&stranger]).unwrap();
    assert!(matches!(
        verify_log_checkpoint(signed.as_bytes(), &keys, &wv, None),
        Err(CheckpointError::Note(NoteError::NoKnownSignature { .. }))
    ));
    // Signed by a configured key but a witness-only note line from the stranger as well:
    // the stranger adds nothing, the old key's signature suffices.
    let signed = note::sign(&text, &[&old, &stranger]).unwrap();
    verify_log_checkpoint(signed.as_bytes(), &keys, &wv, None).unwrap();
    // A key vouches only for the origin it is configured for.
    let elsewhere = LogKeys::new("example.org/log", vec![old.verifier()]).unwrap();
    let signed = note::sign(&text, &[&old]).unwrap();
    assert!(matches!(
        verify_log_checkpoint(signed.as_bytes(), &elsewhere, &wv, None),
        Err(CheckpointError::OriginMismatch { .. })
    ));
    // Only a witness cosigned: no log signature.
    let only_w = format!("{text}\n{}", w.cosign(&text, 5).unwrap().to_line());
    assert!(matches!(
        verify_log_checkpoint(only_w.as_bytes(), &keys, &wv, None),
        Err(CheckpointError::MissingAnyLogSignature { keys: 2, .. })
    ));
    // Bad configurations are named.
    assert!(matches!(
        LogKeys::new(origin, vec![]),
        Err(LogKeysError::NoKeys { .. })
    ));
    assert!(matches!(
        LogKeys::new(origin, vec![old.verifier(), old.verifier()]),
        Err(LogKeysError::DuplicateKey { .. })
    ));
    assert!(matches!(
        LogKeys::new("bad\norigin", vec![old.verifier()]),
        Err(LogKeysError::Origin { .. })
    ));
}
