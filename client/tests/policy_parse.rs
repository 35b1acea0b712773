//! Policy parsing: valid files, every malformed case with its line number, round trip,
//! the tlog-policy example's quorum semantics, and `quorate policy new` through the binary.

use std::process::Command;

use quorate_client::policy::{Policy, Veto};
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::note::Signer;

fn wkey(name: &str) -> String {
    let mut seed = [7u8; 32];
    for (i, b) in name.bytes().enumerate() {
        seed[i % 32] ^= b;
    }
    CosignatureSigner::generate(name, seed).unwrap().vkey()
}

fn lkey(name: &str) -> String {
    let mut seed = [9u8; 32];
    for (i, b) in name.bytes().enumerate() {
        seed[i % 32] ^= b;
    }
    Signer::generate(name, seed).unwrap().vkey()
}

/// The tlog-policy example, with real keys.
fn spec_example() -> String {
    format!(
        "log {}\n\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\ngroup X-witnesses 2 X1 X2 X3\n\n\
         witness Y1 {}\nwitness Y2 {}\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\n\n\
         group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
        lkey("example.org/log"),
        wkey("x1"),
        wkey("x2"),
        wkey("x3"),
        wkey("y1"),
        wkey("y2"),
        wkey("y3"),
    )
}

#[test]
fn tlog_policy_example_semantics() {
    let p = Policy::parse(&spec_example()).unwrap();
    assert!(p.witnesses_satisfied(&["X1", "X2", "Y3"]));
    assert!(p.witnesses_satisfied(&["X1", "X2", "X3", "Y1", "Y2", "Y3"]));
    assert!(
        !p.witnesses_satisfied(&["X1", "Y1", "Y2", "Y3"]),
        "needs 2 of X"
    );
    assert!(!p.witnesses_satisfied(&["X1", "X2", "X3"]), "needs 1 of Y");
    assert!(!p.witnesses_satisfied(&[]));
    assert!(
        !p.witnesses_satisfied(&["X-witnesses", "Y-witnesses"]),
        "group names are not cosigners"
    );
    assert!(
        !p.witnesses_satisfied(&["X1", "X1", "Y1"]),
        "a repeated name counts once"
    );
    assert_eq!(p.review_quorum(), 0);
    assert!(p.jurisdictions().is_empty());
    // `quorum none` needs nothing.
    let none = Policy::parse("quorum none\n").unwrap();
    assert!(none.witnesses_satisfied(&[]));
    // Quorum naming a single witness.
    let single = Policy::parse(&format!("witness A {}\nquorum A\n", wkey("a"))).unwrap();
    assert!(single.witnesses_satisfied(&["A"]));
    assert!(!single.witnesses_satisfied(&["B"]));
}

fn review_policy() -> String {
    format!(
        "# Quorate policy\n  witness de-w1 {}  https://w.de/\n\twitness fr-w1 {}\ngroup all-w 2 de-w1 fr-w1\nquorum all-w\n\
         review-log DE {} https://de.example/\nreview-log FR {} https://fr.example/\nreview-log JP {} https://jp.example/\n\
         review-log DE {} https://de2.example/\nreviewer DE {}\nreview-quorum 2\ncriteria safe-to-run\nimplies rule-of-two safe-to-deploy\n\
         veto none\nmax-checkpoint-age 86400\ndelta-across-jurisdictions yes\naccept-unknown-digests yes\n",
        wkey("w.de"),
        wkey("w.fr"),
        lkey("de.example/log"),
        lkey("fr.example/log"),
        lkey("jp.example/log"),
        lkey("de2.example/log"),
        lkey("anna"),
    )
}

#[test]
fn full_review_policy_parses_and_round_trips() {
    let text = review_policy();
    let p = Policy::parse(&text).unwrap();
    assert_eq!(p.jurisdictions(), ["DE", "FR", "JP"]);
    assert_eq!(p.jurisdiction_of("de2.example/log"), Some("DE"));
    assert_eq!(p.jurisdiction_of("nowhere/log"), None);
    assert_eq!(p.review_quorum(), 2);
    assert_eq!(p.criteria(), "safe-to-run");
    assert_eq!(p.veto(), Veto::None);
    assert_eq!(p.max_checkpoint_age(), Some(86400));
    assert!(p.delta_across_jurisdictions());
    assert!(p.accept_unknown_digests());
    assert_eq!(p.witnesses()[0].url.as_deref(), Some("https://w.de/"));
    assert!(p.implied_by("rule-of-two").contains("safe-to-run"));
    assert!(!p.implied_by("safe-to-run").contains("safe-to-deploy"));
    let again = Policy::parse(&p.to_text()).unwrap();
    assert_eq!(again, p);
    assert_eq!(again.to_text(), p.to_text());
    let ex = Policy::parse(&spec_example()).unwrap();
    assert_eq!(Policy::parse(&ex.to_text()).unwrap(), ex);
}

#[test]
fn defaults() {
    let p = Policy::parse(&format!(
        "quorum none\nreview-log DE {} https://de/\nreview-quorum 1\n",
        lkey("de/log")
    ))
    .unwrap();
    assert_eq!(p.criteria(), "safe-to-deploy");
    assert_eq!(p.veto(), Veto::Any);
    assert_eq!(p.max_checkpoint_age(), None);
    assert!(!p.delta_across_jurisdictions());
    assert!(!p.accept_unknown_digests());
    // No reviewer lines: any key counts for the jurisdiction.
    assert!(p.reviewer_trusted("DE", &[1; 32]));
}

#[test]
fn malformed_policies_name_line_and_problem() {
    let w = wkey("w1");
    let w2 = wkey("w2");
    let l = lkey("de/log");
    let l2 = lkey("fr/log");
    let ok_tail = format!("review-log DE {l} https://de/\nreview-quorum 1\n");
    let cases: Vec<(String, usize, &str)> = vec![
        (
            "quorum none\nfrobnicate x\n".to_owned(),
            2,
            "unknown keyword \"frobnicate\"",
        ),
        (
            format!("witness A {w}\nwitness A {w2}\nquorum A\n"),
            2,
            "already defined",
        ),
        (
            format!("witness A {w}\nwitness B {w}\nquorum A\n"),
            2,
            "duplicates the key of witness on line 1",
        ),
        (
            format!("witness A {w}\ngroup A any A\nquorum A\n"),
            2,
            "already defined",
        ),
        (format!("witness none {w}\nquorum none\n"), 1, "reserved"),
        (
            format!("witness A {l}\nquorum A\n"),
            1,
            "witness keys are cosignature/v1",
        ),
        (
            "witness A not-a-vkey\nquorum A\n".to_owned(),
            1,
            "bad witness vkey",
        ),
        (format!("quorum none\nlog {w}\n"), 2, "log keys are Ed25519"),
        (
            format!("quorum none\nlog {l}\nlog {l}\n"),
            3,
            "duplicates the key of the log on line 2",
        ),
        (
            "quorum B\n".to_owned(),
            1,
            "not a witness or group defined on a preceding line",
        ),
        (
            format!("witness A {w}\nquorum A\nquorum A\n"),
            3,
            "duplicate `quorum` line (first on line 2)",
        ),
        (
            format!("witness A {w}\ngroup G 2 A\nquorum G\n"),
            2,
            "out of range: must be 1..=1",
        ),
        (
            format!("witness A {w}\ngroup G 0 A\nquorum G\n"),
            2,
            "out of range",
        ),
        (
            format!("witness A {w}\ngroup G 01 A\nquorum G\n"),
            2,
            "leading zeros",
        ),
        (
            format!("witness A {w}\ngroup G any\nquorum G\n"),
            2,
            "at least one member",
        ),
        (
            format!("witness A {w}\ngroup G any A A\nquorum G\n"),
            2,
            "listed twice",
        ),
        (
            format!("witness A {w}\ngroup G any H\ngroup H any G\nquorum G\n"),
            2,
            "\"H\" is not a witness or group defined on a preceding line",
        ),
        (
            format!("witness A {w}\ngroup G any none\nquorum G\n"),
            2,
            "`none` cannot be a group member",
        ),
        (
            format!("quorum none\nreview-log DE {l}\n"),
            2,
            "takes JURISDICTION VKEY URL",
        ),
        (
            format!("quorum none\nreview-log DE {l} ftp://x\nreview-quorum 1\n"),
            2,
            "must start with https://",
        ),
        (
            format!("quorum none\n{ok_tail}review-log FR {l} https://fr/\n"),
            4,
            "duplicates the key of the log on line 2",
        ),
        (
            format!("quorum none\nreview-log DE {l} https://de/\nreview-quorum 2\n"),
            3,
            "review-quorum 2 is out of range: the policy defines 1 jurisdiction",
        ),
        (
            format!("quorum none\nreview-log DE {l} https://de/\nreview-quorum 0\n"),
            3,
            "at least 1",
        ),
        (
            format!("quorum none\n{ok_tail}review-quorum 1\n"),
            4,
            "duplicate `review-quorum`",
        ),
        (
            format!("quorum none\nreviewer DE {l}\n{ok_tail}"),
            2,
            "no `review-log` on a preceding line",
        ),
        (
            format!("quorum none\n{ok_tail}reviewer DE {w}\n"),
            4,
            "bad reviewer vkey",
        ),
        (
            format!(
                "quorum none\n{ok_tail}review-log FR {l2} https://fr/\nreviewer DE {l}\nreviewer FR {l}\n"
            ),
            6,
            "a key belongs to one jurisdiction",
        ),
        (
            format!("quorum none\n{ok_tail}criteria safe to deploy\n"),
            4,
            "takes NAME",
        ),
        (
            format!("quorum none\n{ok_tail}criteria -bad\n"),
            4,
            "criterion \"-bad\"",
        ),
        (
            format!("quorum none\n{ok_tail}criteria a\ncriteria b\n"),
            5,
            "duplicate `criteria`",
        ),
        (
            format!("quorum none\n{ok_tail}implies a a\n"),
            4,
            "implies itself",
        ),
        (
            format!("quorum none\n{ok_tail}implies safe-to-deploy safe-to-run\n"),
            4,
            "duplicate implication",
        ),
        (
            format!("quorum none\n{ok_tail}veto some\n"),
            4,
            "veto must be `any` or `none`",
        ),
        (
            format!("quorum none\n{ok_tail}veto any\nveto any\n"),
            5,
            "duplicate `veto`",
        ),
        (
            format!("quorum none\n{ok_tail}max-checkpoint-age 60\n"),
            4,
            "needs a witness quorum",
        ),
        (
            format!("witness A {w}\nquorum A\n{ok_tail}max-checkpoint-age -1\n"),
            5,
            "decimal number",
        ),
        (
            format!("witness A {w}\nquorum A\n{ok_tail}max-checkpoint-age 0\n"),
            5,
            "at least 1 second",
        ),
        (
            format!("quorum none\n{ok_tail}delta-across-jurisdictions maybe\n"),
            4,
            "must be `yes` or `no`",
        ),
        (
            format!("quorum none\n{ok_tail}accept-unknown-digests 1\n"),
            4,
            "must be `yes` or `no`",
        ),
        (
            format!("quorum none\n{ok_tail}accept-unknown-digests yes no\n"),
            4,
            "takes no|yes; got 2",
        ),
        ("quorum none\r\n".to_owned(), 1, "control character"),
        (format!("witness A {w}\n"), 0, "missing the `quorum` line"),
        (
            format!("quorum none\nreview-log DE {l} https://de/\n"),
            0,
            "no `review-quorum` line",
        ),
    ];
    for (text, line, want) in cases {
        let e = Policy::parse(&text).expect_err(&text);
        assert_eq!(e.line, line, "{text}\n-> {e}");
        assert!(
            e.to_string().contains(want),
            "{text}\n-> {e}\n(want {want:?})"
        );
        if line > 0 {
            assert!(
                e.to_string().starts_with(&format!("policy line {line}: ")),
                "{e}"
            );
        }
    }
}

#[test]
fn hostile_input_never_panics() {
    let base = review_policy();
    for cut in (0..base.len()).step_by(7) {
        if base.is_char_boundary(cut) {
            let _ = Policy::parse(&base[..cut]);
        }
    }
    for s in [
        "",
        "\n\n",
        "#",
        "   \t ",
        "group",
        "witness",
        "quorum",
        "\u{0}",
        "review-quorum 99999999999999999999999",
    ] {
        let _ = Policy::parse(s);
    }
}

#[test]
fn cli_policy_new_writes_a_valid_policy() {
    let de = lkey("de.example/log");
    let fr = lkey("fr.example/log");
    let jp = lkey("jp.example/log");
    let (w1, w2, w3) = (wkey("w1.de"), wkey("w2.de"), wkey("w1.fr"));
    let out = Command::new(env!("CARGO_BIN_EXE_quorate"))
        .args([
            "policy",
            "new",
            "--log",
            &format!("DE={de}@https://de.example/"),
            "--log",
            &format!("FR={fr}@https://fr.example/"),
            "--log",
            &format!("JP={jp}@https://jp.example/"),
            "--witness",
            &format!("DE={w1}"),
            "--witness",
            &format!("DE={w2}"),
            "--witness",
            &format!("FR={w3}"),
            "--min-witnesses",
            "2",
            "--quorum",
            "2",
            "--criteria",
            "safe-to-run",
            "--accept-unknown-digests",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let p = Policy::parse(&text).unwrap();
    assert_eq!(p.jurisdictions(), ["DE", "FR", "JP"]);
    assert_eq!(p.review_quorum(), 2);
    assert_eq!(p.criteria(), "safe-to-run");
    assert!(p.accept_unknown_digests());
    let names: Vec<&str> = p.witnesses().iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["DE-w1", "DE-w2", "FR-w1"]);
    assert!(p.witnesses_satisfied(&["DE-w2", "FR-w1"]));
    assert!(!p.witnesses_satisfied(&["DE-w1"]));
    assert_eq!(
        p.log("de.example/log").unwrap().url.as_deref(),
        Some("https://de.example/")
    );

    // Errors: quorum larger than the jurisdictions, a log argument without '@'.
    for (args, want) in [
        (
            vec![
                "--log".to_owned(),
                format!("DE={de}@https://de/"),
                "--quorum".into(),
                "2".into(),
            ],
            "review-quorum 2 is out of range",
        ),
        (
            vec![
                "--log".to_owned(),
                format!("DE={de}"),
                "--quorum".into(),
                "1".into(),
            ],
            "expected JURISDICTION=VKEY@URL",
        ),
        (
            vec![
                "--log".to_owned(),
                format!("DE={de}@https://de/"),
                "--quorum".into(),
                "1".into(),
                "--min-witnesses".into(),
                "1".into(),
            ],
            "--min-witnesses given but no --witness",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_quorate"))
            .args(["policy", "new"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
    }
}

/// `log-origin` and `log-key`: the origin comes from the policy, not the key name (Go's
/// checksum database shape), and any listed key verifies (rotation overlap): old key,
/// new key, both, neither. Round trip and the errors name their line.
#[test]
fn log_origin_and_several_keys_per_log() {
    use quorate_client::quorum::TrustedCheckpoint;
    use quorate_proto::checkpoint::Checkpoint;
    use quorate_proto::note;

    let origin = "go.sum database tree";
    let old = Signer::generate("sum.golang.org", [41; 32]).unwrap();
    let new = Signer::generate("sum.golang.org", [42; 32]).unwrap();
    let stranger = Signer::generate("sum.golang.org", [43; 32]).unwrap();
    let text = format!(
        "quorum none\nlog {} https://sum.golang.org\nlog-origin {}   {origin}\nlog-key {} {}\n",
        old.vkey(),
        old.vkey(),
        old.vkey(),
        new.vkey()
    );
    let p = Policy::parse(&text).unwrap();
    assert_eq!(p.log(origin).unwrap().log_keys().keys().len(), 2);
    assert!(p.log("sum.golang.org").is_none());
    assert_eq!(Policy::parse(&p.to_text()).unwrap(), p);

    let body = Checkpoint::new(origin, 42, [9; 32], vec![])
        .unwrap()
        .to_text();
    for signers in [vec![&old], vec![&new], vec![&old, &new]] {
        let signed = note::sign(&body, &signers).unwrap();
        let tc = TrustedCheckpoint::verify(&p, signed.as_bytes()).unwrap();
        assert_eq!(tc.origin(), origin);
    }
    let signed = note::sign(&body, &[&stranger]).unwrap();
    assert!(TrustedCheckpoint::verify(&p, signed.as_bytes()).is_err());

    // Errors, each naming its line.
    let bad = [
        (
            format!("quorum none\nlog-origin {} x\n", old.vkey()),
            2,
            "names no log",
        ),
        (
            format!(
                "quorum none\nlog {0}\nlog-origin {0} a\nlog-origin {0} b\n",
                old.vkey()
            ),
            4,
            "already set",
        ),
        (
            format!("quorum none\nlog {0}\nlog-key {0} {0}\n", old.vkey()),
            3,
            "duplicates",
        ),
        (
            format!(
                "quorum none\nlog {}\nlog {}\nlog-origin {} {}\n",
                old.vkey(),
                stranger.vkey(),
                stranger.vkey(),
                "sum.golang.org"
            ),
            3,
            "",
        ),
    ];
    for (t, line, want) in &bad {
        let e = Policy::parse(t).unwrap_err().to_string();
        assert!(
            e.contains(&format!("line {line}")) && e.contains(want),
            "{t:?}: {e}"
        );
    }
}

#[test]
fn log_mirror_lines_parse_round_trip_and_are_checked() {
    let de = lkey("de.example/log");
    let head = format!("quorum none\nreview-log DE {de} https://de.example/\n");
    let text = format!(
        "{head}log-mirror de.example/log https://mirror.fr.example/de\n\
         log-mirror de.example/log http://10.0.0.7:8780\nreview-quorum 1\n"
    );
    let p = Policy::parse(&text).unwrap();
    let log = p.log("de.example/log").unwrap();
    assert_eq!(
        log.mirrors,
        ["https://mirror.fr.example/de", "http://10.0.0.7:8780"]
    );
    let again = Policy::parse(&p.to_text()).unwrap();
    assert_eq!(again, p);
    assert!(
        p.to_text()
            .contains("log-mirror de.example/log https://mirror.fr.example/de\n")
    );

    let mut many = head.clone();
    for i in 0..9 {
        many.push_str(&format!(
            "log-mirror de.example/log https://m{i}.example/\n"
        ));
    }
    let cases = [
        (
            format!("log-mirror de.example/log https://m.example/\n{head}"),
            1,
            "not the origin of a log on a preceding line",
        ),
        (
            format!("{head}log-mirror de.example/log ftp://m.example/\n"),
            3,
            "must start with https:// or http://",
        ),
        (
            format!("{head}log-mirror de.example/log https://de.example/\n"),
            3,
            "already listed for this log",
        ),
        (
            format!("{head}log-mirror de.example/log\n"),
            3,
            "takes ORIGIN URL",
        ),
        (many, 11, "more than 8 mirrors"),
    ];
    for (text, line, want) in cases {
        let e = Policy::parse(&text).expect_err(&text);
        assert_eq!(e.line, line, "{text}\n-> {e}");
        assert!(e.to_string().contains(want), "{text}\n-> {e}");
    }
}
