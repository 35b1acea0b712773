//! Hostile input for the note and key parsers: each must give a clear error, never panic,
//! and never verify a note that was changed.

use proptest::prelude::*;
use quorate_proto::note::{
    self, Ed25519Verifier, KeyError, MAX_NOTE_SIZE, MAX_SIGNATURE_LINE_LEN, NoteError,
    NoteSignature, NoteVerifier, Signer, parse_vkey,
};

const TEXT: &str = "example.org/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

fn log() -> Signer {
    Signer::generate("example.org/log", [1; 32]).unwrap()
}

fn signed() -> String {
    note::sign(TEXT, &[&log()]).unwrap()
}

fn open_with_log(msg: &[u8]) -> Result<note::Note, NoteError> {
    note::open(msg, &[&log().verifier()])
}

#[test]
fn empty_and_truncated() {
    assert_eq!(
        open_with_log(b""),
        Err(NoteError::MissingSignatureSeparator)
    );
    let msg = signed();
    for end in 0..msg.len() {
        if let Some(prefix) = msg.get(..end) {
            assert!(open_with_log(prefix.as_bytes()).is_err(), "{prefix:?}");
        }
    }
    assert_eq!(
        open_with_log(format!("{TEXT}\n").as_bytes()),
        Err(NoteError::NoSignatureLines)
    );
    let unterminated = msg.trim_end_matches('\n');
    assert_eq!(
        open_with_log(unterminated.as_bytes()),
        Err(NoteError::UnterminatedSignatureLine)
    );
}

#[test]
fn garbage_and_control_characters() {
    assert!(open_with_log(b"\n\n\n\n").is_err());
    assert!(open_with_log(b"hello\n\nworld\n").is_err());
    let msg = signed();
    for bad in ["\r", "\t", "\0", "\x1b"] {
        let m = msg.replacen("42", &format!("4{bad}2"), 1);
        assert!(
            matches!(
                open_with_log(m.as_bytes()),
                Err(NoteError::ControlCharacter { .. })
            ),
            "{bad:?}"
        );
    }
    let crlf = msg.replace('\n', "\r\n");
    assert!(matches!(
        open_with_log(crlf.as_bytes()),
        Err(NoteError::ControlCharacter { byte: b'\r', .. })
    ));
    let mut non_utf8 = msg.clone().into_bytes();
    non_utf8.insert(3, 0xc3);
    assert_eq!(
        open_with_log(&non_utf8),
        Err(NoteError::InvalidUtf8 { offset: 3 })
    );
}

#[test]
fn huge_inputs() {
    let big = format!("{}\n{}", "a\n".repeat(MAX_NOTE_SIZE / 2), signed());
    assert!(matches!(
        open_with_log(big.as_bytes()),
        Err(NoteError::TooLarge { .. })
    ));
    assert!(matches!(
        note::sign(&"a\n".repeat(MAX_NOTE_SIZE), &[&log()]),
        Err(NoteError::TooLarge { .. })
    ));
    let long_sig = format!(
        "{TEXT}\n\u{2014} x {}\n",
        "A".repeat(MAX_SIGNATURE_LINE_LEN)
    );
    assert!(matches!(
        open_with_log(long_sig.as_bytes()),
        Err(NoteError::SignatureLineTooLong { line: 1, .. })
    ));
}

#[test]
fn signature_line_shapes() {
    let msg = signed();
    let (text, line) = msg.split_once("\n\n").unwrap();
    let sig_b64 = line.rsplit(' ').next().unwrap().trim_end();
    let cases: Vec<(String, &str)> = vec![
        (format!("- example.org/log {sig_b64}\n"), "dash"),
        (
            format!("\u{2014}example.org/log {sig_b64}\n"),
            "no space after dash",
        ),
        (
            format!("\u{2014} example.org/log  {sig_b64}\n"),
            "double space",
        ),
        ("\u{2014} example.org/log\n".to_string(), "no signature"),
        ("\u{2014} example.org/log \n".to_string(), "empty signature"),
        (format!("\u{2014}  {sig_b64}\n"), "empty name"),
        (
            format!(
                "\u{2014} example.org/log {}\n",
                sig_b64.trim_end_matches('=')
            ),
            "unpadded",
        ),
        (
            format!("\u{2014} example.org/log {sig_b64}=\n"),
            "extra padding",
        ),
        (
            format!("\u{2014} example.org/log {}\n", sig_b64.replace('+', "-")),
            "url alphabet",
        ),
        (
            "\u{2014} example.org/log AAAAAA==\n".to_string(),
            "too short",
        ),
        (format!("\u{2014} a+b {sig_b64}\n"), "plus in name"),
        (format!("\u{2014} a\u{a0}b {sig_b64}\n"), "nbsp in name"),
        (
            format!("\u{2014} example.org/log {sig_b64} \n"),
            "trailing space",
        ),
    ];
    for (line, what) in cases {
        let m = format!("{text}\n\n{line}");
        let r = open_with_log(m.as_bytes());
        assert!(r.is_err(), "{what}: accepted {m:?}");
    }
    // Non-canonical base64: the last character of a 68-byte signature carries 2 unused bits.
    let b64 = sig_b64.as_bytes();
    let last = b64[b64.len() - 2];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let idx = alphabet.iter().position(|&c| c == last).unwrap();
    let mut nc = b64.to_vec();
    nc[b64.len() - 2] = alphabet[idx ^ 1];
    let nc = String::from_utf8(nc).unwrap();
    let m = format!("{text}\n\n\u{2014} example.org/log {nc}\n");
    assert!(matches!(
        open_with_log(m.as_bytes()),
        Err(NoteError::MalformedSignatureLine { line: 1, .. })
    ));
}

#[test]
fn extra_lines_reordering_and_missing_blank_line() {
    let msg = signed();
    let other = Signer::generate("example.org/other", [2; 32]).unwrap();
    let two = note::sign(TEXT, &[&log(), &other]).unwrap();
    // Signature lines in either order verify.
    let (text, sigs) = two.split_once("\n\n").unwrap();
    let mut lines: Vec<&str> = sigs.lines().collect();
    lines.reverse();
    let swapped = format!("{text}\n\n{}\n", lines.join("\n"));
    assert_eq!(
        note::open(swapped.as_bytes(), &[&log().verifier(), &other.verifier()])
            .unwrap()
            .verified_signatures()[0]
            .name(),
        "example.org/other"
    );
    // Reordering text lines breaks the signature.
    let reordered = msg.replacen("example.org/log\n42\n", "42\nexample.org/log\n", 1);
    assert!(matches!(
        open_with_log(reordered.as_bytes()),
        Err(NoteError::InvalidSignature { .. })
    ));
    // An extra text line after the blank line is not a signature line.
    let extra = format!("{msg}trailing\n");
    assert!(matches!(
        open_with_log(extra.as_bytes()),
        Err(NoteError::MalformedSignatureLine { line: 2, .. })
    ));
    // Without the blank line the text is taken as signatures... or no separator at all.
    let no_blank = msg.replacen("\n\n", "\n", 1);
    assert_eq!(
        open_with_log(no_blank.as_bytes()),
        Err(NoteError::MissingSignatureSeparator)
    );
    // An extra blank line becomes part of the text and breaks the signature.
    let extra_blank = msg.replacen("\n\n", "\n\n\n", 1);
    assert!(matches!(
        open_with_log(extra_blank.as_bytes()),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn wrong_key_id_and_impostor_with_same_name() {
    let msg = signed();
    // The same name with a different key: signature is from an unknown key.
    let impostor = Signer::generate("example.org/log", [9; 32]).unwrap();
    let forged = note::sign(TEXT, &[&impostor]).unwrap();
    assert_eq!(
        open_with_log(forged.as_bytes()),
        Err(NoteError::NoKnownSignature { unverified: 1 })
    );
    // Both lines: the real one verifies, the impostor's is kept unverified.
    let both = note::add_signatures(&msg, &[impostor.sign_note_text(TEXT).unwrap()]).unwrap();
    let n = open_with_log(both.as_bytes()).unwrap();
    assert_eq!(
        (
            n.verified_signatures().len(),
            n.unverified_signatures().len()
        ),
        (1, 1)
    );
    // The impostor using the real key ID: a known key whose signature fails.
    let real_id = log().key_id();
    let sig = NoteSignature::new(
        "example.org/log",
        real_id,
        impostor.sign(TEXT.as_bytes()).to_vec(),
    )
    .unwrap();
    let stolen_id = format!("{TEXT}\n{}", sig.to_line());
    assert_eq!(
        open_with_log(stolen_id.as_bytes()),
        Err(NoteError::InvalidSignature {
            name: "example.org/log".into(),
            key_id: real_id
        })
    );
    // Duplicate signature lines from the known key.
    let dup = format!("{msg}{}", msg.split_once("\n\n").unwrap().1);
    assert!(matches!(
        open_with_log(dup.as_bytes()),
        Err(NoteError::DuplicateSignature { .. })
    ));
}

#[test]
fn sign_rejects_bad_text_and_signers() {
    let s = log();
    assert_eq!(
        note::sign("no newline", &[&s]),
        Err(NoteError::TextNotNewlineTerminated)
    );
    assert_eq!(
        note::sign("", &[&s]),
        Err(NoteError::TextNotNewlineTerminated)
    );
    assert!(matches!(
        note::sign("a\x07b\n", &[&s]),
        Err(NoteError::ControlCharacter { byte: 7, .. })
    ));
    assert!(matches!(
        note::sign(TEXT, &[&s, &s]),
        Err(NoteError::DuplicateSignature { .. })
    ));
    // A text with inner blank lines and something that looks like a signature still
    // round-trips, because the last blank line separates.
    let tricky = "a\n\n\u{2014} fake AAAAAAA=\n";
    let m = note::sign(tricky, &[&s]).unwrap();
    assert_eq!(open_with_log(m.as_bytes()).unwrap().text(), tricky);
}

#[test]
fn add_signatures_appends_and_replaces() {
    let msg = signed();
    let w = Signer::generate("witness.example", [3; 32]).unwrap();
    let more = note::add_signatures(&msg, &[w.sign_note_text(TEXT).unwrap()]).unwrap();
    assert!(more.starts_with(&msg));
    let n = note::open(more.as_bytes(), &[&log().verifier(), &w.verifier()]).unwrap();
    assert_eq!(n.verified_signatures().len(), 2);
    // Re-signing by the same key replaces the old line instead of duplicating it.
    let again = note::add_signatures(&more, &[w.sign_note_text(TEXT).unwrap()]).unwrap();
    assert_eq!(again, more);
    assert!(note::add_signatures("not a note", &[]).is_err());
}

#[test]
fn key_parsing_errors() {
    let s = log();
    let vkey = s.vkey();
    assert!(matches!(parse_vkey(""), Err(KeyError::Malformed(_))));
    assert!(matches!(
        parse_vkey("+++"),
        Err(KeyError::InvalidName { .. })
    ));
    let upper = vkey.replacen(
        &format!("{:08x}", s.key_id()),
        &format!("{:08X}", s.key_id()),
        1,
    );
    if upper != vkey {
        assert!(Ed25519Verifier::from_vkey(&upper).is_err());
    }
    let renamed = vkey.replacen("example.org/log", "example.org/lag", 1);
    assert!(matches!(
        parse_vkey(&renamed),
        Err(KeyError::KeyIdMismatch { .. })
    ));
    assert_eq!(
        Signer::from_skey(&vkey).unwrap_err(),
        KeyError::NotPrivateKey
    );
    assert!(Ed25519Verifier::from_vkey(s.skey().as_str()).is_err());
    for bad in ["", "a b", "a+b", "a\nb", "a\u{2003}b", "a\u{7f}b"] {
        assert!(Signer::generate(bad, [0; 32]).is_err(), "{bad:?}");
    }
    // A vkey for a key ID computed over a non-point: rejected at parse time.
    let not_point = (0u8..=255)
        .map(|b| [b; 32])
        .find(|k| Ed25519Verifier::new("x", k) == Err(KeyError::InvalidPublicKey))
        .expect("some repeated byte is not a curve point");
    let vkey = note::format_vkey("x", 1, &not_point).unwrap();
    assert_eq!(
        Ed25519Verifier::from_vkey(&vkey),
        Err(KeyError::InvalidPublicKey)
    );
    assert!(format!("{:?}", s.skey()).contains("redacted"));
    assert!(!format!("{s:?}").contains(&s.skey().as_str()[12..]));
}

#[test]
fn accepts_many_signatures() {
    let signers: Vec<Signer> = (0..20u8)
        .map(|i| Signer::generate(&format!("w{i}"), [i; 32]).unwrap())
        .collect();
    let refs: Vec<&Signer> = signers.iter().collect();
    let m = note::sign(TEXT, &refs).unwrap();
    let vs: Vec<Ed25519Verifier> = signers.iter().map(|s| s.verifier()).collect();
    let dyns: Vec<&dyn NoteVerifier> = vs.iter().map(|v| v as &dyn NoteVerifier).collect();
    assert_eq!(
        note::open(m.as_bytes(), &dyns)
            .unwrap()
            .verified_signatures()
            .len(),
        20
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = open_with_log(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = parse_vkey(s);
            let _ = Signer::from_skey(s);
            let _ = note::add_signatures(s, &[]);
            let _ = note::sign(s, &[&log()]);
        }
    }

    #[test]
    fn mutated_note_never_verifies(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4)
    ) {
        let good = signed().into_bytes();
        let mut m = good.clone();
        for (idx, byte, op) in edits {
            let i = idx.index(m.len() + 1);
            match op {
                0 if i < m.len() => m[i] = byte,
                1 => m.insert(i, byte),
                _ if i < m.len() => { m.remove(i); }
                _ => m.push(byte),
            }
        }
        let r = open_with_log(&m);
        if m != good {
            // Only a change confined to re-encoding the same signature could still verify,
            // and strict base64 admits no such change.
            prop_assert!(r.is_err(), "mutated note verified: {:?}", String::from_utf8_lossy(&m));
        } else {
            prop_assert!(r.is_ok());
        }
    }
}

mod keep_verified {
    use super::*;
    use quorate_proto::cosignature::CosignatureSigner;

    fn witness() -> CosignatureSigner {
        CosignatureSigner::generate("witness.example/w1", [7; 32]).unwrap()
    }

    /// The log's note cosigned by the witness.
    fn cosigned() -> String {
        let sig = witness().cosign(TEXT, 1_700_000_000).unwrap();
        note::add_signatures(&signed(), &[sig]).unwrap()
    }

    /// A line naming the witness's key with garbage signature bytes.
    fn forged_line() -> String {
        let w = witness();
        NoteSignature::new(w.name(), w.key_id(), vec![0xAB; 72])
            .unwrap()
            .to_line()
    }

    fn keep(msg: &str) -> Result<note::Pruned, NoteError> {
        let (l, w) = (log().verifier(), witness().verifier());
        note::keep_verified(msg.as_bytes(), &[&l, &w])
    }

    #[test]
    fn forged_witness_line_is_dropped_not_fatal() {
        let good = cosigned();
        let (l, w) = (log().verifier(), witness().verifier());
        // Appended after the real cosignature, or put before it: open() refuses both.
        let after = format!("{good}{}", forged_line());
        let (head, tail) = good.rsplit_once("\u{2014} witness").unwrap();
        let before = format!("{head}{}\u{2014} witness{tail}", forged_line());
        for msg in [&after, &before] {
            assert!(note::open(msg.as_bytes(), &[&l, &w]).is_err());
            let p = keep(msg).unwrap();
            assert_eq!(p.dropped, 1, "{msg}");
            assert_eq!(p.note, good);
            let n = note::open(p.note.as_bytes(), &[&l, &w]).unwrap();
            assert_eq!(n.verified_signatures().len(), 2);
        }
        // A forged line alone (no real cosignature) leaves just the log's signature.
        let only_forged = format!("{}{}", signed(), forged_line());
        let p = keep(&only_forged).unwrap();
        assert_eq!((p.note, p.dropped), (signed(), 1));
    }

    #[test]
    fn unknown_garbage_unterminated_and_repeated_lines_are_dropped() {
        let good = cosigned();
        let other = Signer::generate("someone.else", [9; 32]).unwrap();
        let unknown = note::sign(TEXT, &[&other]).unwrap();
        let unknown_line = unknown.rsplit_once("\n\n").unwrap().1;
        let w_line = good.lines().last().unwrap();
        let msg = format!(
            "{good}{unknown_line}not a signature line\n\u{2014} x !!!\n{w_line}\n\u{2014} trailing"
        );
        let p = keep(&msg).unwrap();
        assert_eq!(p.note, good);
        assert_eq!(p.dropped, 5);
    }

    #[test]
    fn errors_only_for_the_signers_part() {
        assert_eq!(keep(""), Err(NoteError::MissingSignatureSeparator));
        let forged_only = format!("{TEXT}\n{}", forged_line());
        assert_eq!(
            keep(&forged_only),
            Err(NoteError::NoKnownSignature { unverified: 1 })
        );
        let ctl = signed().replacen("42", "4\u{1}2", 1);
        assert!(matches!(
            keep(&ctl),
            Err(NoteError::ControlCharacter { .. })
        ));
        let huge = format!("{}{}", signed(), "x".repeat(MAX_NOTE_SIZE));
        assert!(matches!(keep(&huge), Err(NoteError::TooLarge { .. })));
    }

    proptest! {
        #[test]
        fn appended_bytes_never_panic_and_keep_the_good_lines(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
            let good = cosigned();
            let mut msg = good.clone().into_bytes();
            msg.extend_from_slice(&tail);
            let (l, w) = (log().verifier(), witness().verifier());
            if let Ok(p) = note::keep_verified(&msg, &[&l, &w]) {
                // Whatever was appended, what remains opens and carries the text signed.
                let n = note::open(p.note.as_bytes(), &[&l, &w]).unwrap();
                prop_assert_eq!(n.text(), TEXT);
            }
        }
    }
}
