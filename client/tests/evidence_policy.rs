//! Issue 12 on the client: evidence requirements (`require`), reviewer kinds, partial
//! scope, `distrust` of one entry, negative evidence, notices, and sealed commitments
//! with their reveals, over real signed attestations in real Merkle logs with cosigned
//! checkpoints and tlog-proofs (tests/fed).

mod fed;

use fed::*;
use quorate_client::policy::Policy;
use quorate_client::quorum::{PackageVerdict, Rejection, Why};
use quorate_proto::attestation::{
    self, ArchiveMatchesSource, Attestation, Evidence, MaintainerChange, MaintainerChangeKind,
    ReviewerKind, Scope, Verdict,
};

const P: &str = "xz";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn rejections(v: &PackageVerdict, j: &str) -> Vec<Rejection> {
    v.missing
        .iter()
        .filter(|m| m.jurisdiction == j)
        .flat_map(|m| &m.reasons)
        .filter_map(|w| match w {
            Why::Rejected { why, .. } => Some(why.clone()),
            _ => None,
        })
        .collect()
}

fn archive(version: &str, n: u8, by: &Person, differing: &[&str]) -> Attestation {
    let mut a = full(P, version, digest(n), by);
    a.evidence = Some(Evidence::ArchiveMatchesSource(ArchiveMatchesSource {
        source_revision: format!("v{version}"),
        source_uri: "https://example.org/xz.git".into(),
        differing_paths: differing.iter().map(|s| (*s).to_owned()).collect(),
        differing_count: differing.len() as u32,
        allowed_generated: vec![],
    }));
    if !differing.is_empty() {
        a.verdict = Verdict::Informational;
    }
    a
}

fn by_kind(mut a: Attestation, kind: ReviewerKind) -> Attestation {
    a.reviewer.kind = kind;
    a
}

fn partial(mut a: Attestation) -> Attestation {
    a.scope = Some(Scope::Partial {
        omitted: vec!["tests/".into()],
        reason: "binary test files not examined".into(),
    });
    a
}

/// Three jurisdictions reviewed the source; the policy's quorum of 2 passes on them.
fn three_reviews() -> (Fed, [Person; 3]) {
    let mut f = Fed::new(&["DE", "FR", "JP"], 2);
    let ps = [
        Person::new("anna"),
        Person::new("bernd"),
        Person::new("chie"),
    ];
    for (j, p) in ["DE", "FR", "JP"].iter().zip(&ps) {
        f.publish(j, &full(P, "5.6.1", digest(1), p), p);
    }
    (f, ps)
}

fn eval(f: &Fed, policy: &Policy) -> PackageVerdict {
    f.load(policy, 2, NOW - 60)
        .evaluate(&query(P, "5.6.1", digest(1)), NOW)
}

#[test]
fn policy_lines_parse_round_trip_and_default_is_unchanged() {
    let f = Fed::new(&["DE", "FR", "JP"], 1);
    let extra = "require safe-to-deploy source-review 2 human\n\
                 require safe-to-deploy archive-matches-source any\n\
                 require safe-to-run fuzzing all tool partial\n\
                 exclude-reviewer-kind llm-agent\n\
                 accept-partial-scope no\n\
                 distrust ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB\n";
    let p = f.policy(2, 1, extra);
    assert_eq!(p.requirements().len(), 3);
    assert_eq!(p.requirements_for("safe-to-deploy").len(), 3);
    assert_eq!(p.requirements_for("safe-to-run").len(), 1);
    assert!(p.excludes_kind(ReviewerKind::LlmAgent));
    assert!(p.distrusts(&[0xab; 32]));
    let text = p.to_text();
    assert!(
        text.contains("require safe-to-deploy source-review 2 human\n"),
        "{text}"
    );
    assert!(text.contains("require safe-to-run fuzzing all tool partial\n"));
    assert_eq!(Policy::parse(&text).unwrap(), p);
    // Without the new lines, nothing is required and nothing excluded.
    let plain = f.policy(2, 1, "");
    assert!(plain.requirements().is_empty() && !plain.accept_partial_scope());
    assert!(!plain.to_text().contains("require"));
}

#[test]
fn malformed_evidence_lines_are_refused_with_line_and_reason() {
    let f = Fed::new(&["DE", "FR"], 1);
    let base = f.policy_text(1, 1, "");
    let line = base.lines().count() + 1;
    for (extra, want) in [
        (
            "require safe-to-deploy build-log 1",
            "unknown evidence kind \"build-log\"",
        ),
        (
            "require safe-to-deploy source-review 1 robot",
            "unknown reviewer kind or option \"robot\"",
        ),
        (
            "require safe-to-deploy maintainer-change 1",
            "maintainer-change is informational",
        ),
        (
            "require safe-to-deploy fuzzing 3",
            "requirement count 3 is out of range",
        ),
        ("require safe-to-deploy fuzzing 0", "at least 1"),
        ("require safe-to-deploy fuzzing", "`require` takes"),
        (
            "exclude-reviewer-kind android",
            "unknown reviewer kind \"android\"",
        ),
        ("distrust 12ab", "64 hex digits"),
        ("accept-partial-scope maybe", "must be `yes` or `no`"),
    ] {
        let e = Policy::parse(&format!("{base}{extra}\n")).unwrap_err();
        assert_eq!(e.line, line, "{extra}: {e}");
        assert!(e.to_string().contains(want), "{extra}: {e}");
    }
    // Rules between lines name the line at fault.
    let e = Policy::parse(&format!(
        "{base}exclude-reviewer-kind llm-agent\nrequire safe-to-deploy source-review 1 llm-agent\n"
    ))
    .unwrap_err();
    assert_eq!(e.line, line + 1, "{e}");
    assert!(
        e.to_string()
            .contains("excluded by `exclude-reviewer-kind` on line")
    );
    let e = Policy::parse(&format!(
        "{base}require safe-to-deploy fuzzing 1\nrequire safe-to-deploy fuzzing 2\n"
    ))
    .unwrap_err();
    assert!(e.to_string().contains("duplicate requirement"), "{e}");
}

#[test]
fn archive_mismatch_refuses_the_digest_the_review_quorum_alone_would_pass() {
    let (mut f, ps) = three_reviews();
    let plain = f.policy(2, 2, "");
    let strict = f.policy(2, 2, "require safe-to-deploy archive-matches-source any\n");
    // Source reviews alone: passes. Requiring the evidence with none logged: fails, and
    // says which requirement.
    assert!(eval(&f, &plain).pass);
    let v = eval(&f, &strict);
    assert!(!v.pass && v.quorum_met(), "{v}");
    assert_eq!(
        v.requirements[0].to_string(),
        "safe-to-deploy: archive-matches-source: 0 of 1 jurisdiction (required any)"
    );
    // One jurisdiction logs a match: passes.
    f.publish("DE", &archive("5.6.1", 1, &ps[0], &[]), &ps[0]);
    let v = eval(&f, &strict);
    assert!(v.pass, "{v}");
    assert_eq!(v.requirements[0].counted, ["DE"]);
    // Another logs that the archive differs: refused despite DE's match.
    let neg = archive("5.6.1", 1, &ps[1], &["m4/build-to-host.m4"]);
    let leaf = f.publish("FR", &neg, &ps[1]);
    let v = eval(&f, &strict);
    assert!(!v.pass, "{v}");
    let r = &v.requirements[0];
    assert_eq!(r.refused_by.len(), 1);
    assert!(
        r.to_string()
            .contains("refused: FR logged that the archive differs")
            && r.to_string().contains("m4/build-to-host.m4"),
        "{r}"
    );
    // The policy without the requirement still passes, and shows the mismatch as a notice.
    let v0 = eval(&f, &plain);
    assert!(v0.pass, "{v0}");
    assert!(
        v0.notices.iter().any(|n| n.text.contains("differs")),
        "{v0}"
    );
    // Distrusting that one entry removes its refusal, and nothing else.
    let d = f.policy(
        2,
        2,
        &format!(
            "require safe-to-deploy archive-matches-source any\ndistrust {}\n",
            hex(&leaf)
        ),
    );
    assert!(eval(&f, &d).pass);
}

#[test]
fn human_requirement_and_excluded_llm_agents() {
    let mut f = Fed::new(&["DE", "FR", "JP"], 2);
    let (a, b, c) = (Person::new("anna"), Person::new("bot"), Person::new("chie"));
    f.publish("DE", &full(P, "5.6.1", digest(1), &a), &a);
    f.publish(
        "FR",
        &by_kind(full(P, "5.6.1", digest(1), &b), ReviewerKind::LlmAgent),
        &b,
    );
    f.publish("JP", &full(P, "5.6.1", digest(1), &c), &c);
    // Quorum 3 counts every kind by default.
    assert!(eval(&f, &f.policy(3, 2, "")).pass);
    // Two human source reviews required: DE and JP are human; FR's agent does not count.
    let v = eval(
        &f,
        &f.policy(2, 2, "require safe-to-deploy source-review 2 human\n"),
    );
    assert!(v.pass, "{v}");
    assert_eq!(v.requirements[0].counted, ["DE", "JP"]);
    let v = eval(
        &f,
        &f.policy(2, 2, "require safe-to-deploy source-review 3 human\n"),
    );
    assert!(!v.pass);
    assert!(
        v.requirements[0]
            .to_string()
            .starts_with("safe-to-deploy: source-review by human: 2 of 3 jurisdictions"),
        "{v}"
    );
    // Excluding LLM agents: FR's review is set aside with the reason, quorum 3 fails.
    let v = eval(&f, &f.policy(3, 2, "exclude-reviewer-kind llm-agent\n"));
    assert!(!v.pass);
    assert_eq!(
        rejections(&v, "FR"),
        [Rejection::ExcludedReviewerKind(ReviewerKind::LlmAgent)]
    );
    assert!(v.to_string().contains("which the policy excludes"), "{v}");
}

#[test]
fn partial_scope_counts_only_when_the_policy_says_so() {
    let mut f = Fed::new(&["DE", "FR"], 2);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    f.publish("DE", &full(P, "5.6.1", digest(1), &a), &a);
    f.publish("FR", &partial(full(P, "5.6.1", digest(1), &b)), &b);
    let v = eval(&f, &f.policy(2, 2, ""));
    assert!(!v.pass, "partial scope must not count by default: {v}");
    assert_eq!(v.certified_by, ["DE"]);
    assert!(eval(&f, &f.policy(2, 2, "accept-partial-scope yes\n")).pass);
    // Per requirement: `partial` lets it count there only.
    let v = eval(
        &f,
        &f.policy(1, 2, "require safe-to-deploy source-review 2\n"),
    );
    assert!(!v.pass && v.requirements[0].counted == ["DE"], "{v}");
    let v = eval(
        &f,
        &f.policy(1, 2, "require safe-to-deploy source-review 2 partial\n"),
    );
    assert!(v.pass, "{v}");
}

#[test]
fn distrusted_leaf_hash_is_not_counted() {
    let (mut f, ps) = three_reviews();
    let mut again = full(P, "5.6.1", digest(1), &ps[0]);
    again.notes = "second look".into();
    let leaf = f.publish("DE", &again, &ps[0]);
    // (DE now has two reviews by anna; distrust the second: the first still counts.)
    let v = eval(&f, &f.policy(3, 2, &format!("distrust {}\n", hex(&leaf))));
    assert!(v.pass, "{v}");
    // Distrust JP's only review: JP does not count, with the reason.
    let mut g = Fed::new(&["DE", "FR", "JP"], 2);
    for (j, p) in ["DE", "FR"].iter().zip(&ps) {
        g.publish(j, &full(P, "5.6.1", digest(1), p), p);
    }
    let jp = g.publish("JP", &full(P, "5.6.1", digest(1), &ps[2]), &ps[2]);
    let v = eval(&g, &g.policy(3, 2, &format!("distrust {}\n", hex(&jp))));
    assert!(!v.pass);
    assert_eq!(rejections(&v, "JP"), [Rejection::Distrusted]);
}

#[test]
fn maintainer_change_is_shown_never_a_pass() {
    let mut f = Fed::new(&["DE", "FR"], 2);
    let a = Person::new("anna");
    let mut m = full(P, "5.6.1", digest(1), &a);
    m.verdict = Verdict::Informational;
    m.evidence = Some(Evidence::MaintainerChange(MaintainerChange {
        kind: MaintainerChangeKind::NewMaintainer,
        subject: "Jia Tan".into(),
        source: "https://example.org/xz/maintainers".into(),
    }));
    f.publish("DE", &m, &a);
    let v = eval(&f, &f.policy(1, 2, ""));
    assert!(!v.pass, "{v}");
    assert!(
        v.notices
            .iter()
            .any(|n| n.text.contains("new-maintainer \"Jia Tan\"")),
        "{v}"
    );
    assert_eq!(v.missing[0].reasons, [Why::NoReview]);
}

#[test]
fn evidence_of_an_unknown_kind_is_refused_with_a_reason() {
    // An Evidence holding a oneof tag this client does not know (field 7 instead of
    // source_review's 1), validly signed: verification refuses it naming the evidence, so
    // it never reaches the evaluator, let alone as a source review.
    let a = Person::new("anna");
    let p = full(P, "5.6.1", digest(1), &a).encode_payload();
    let at = p
        .windows(4)
        .position(|w| w == [0x7a, 0x02, 0x0a, 0x00])
        .unwrap();
    let mut q = p.clone();
    q[at + 2] = 0x3a;
    let env = sign_raw(&q, &a);
    let e = attestation::verify(&env).unwrap_err();
    assert!(
        e.to_string().contains("unknown or missing evidence kind"),
        "{e}"
    );
    // The same entry in an offline bundle: refused with that reason, the rest decides.
    let dir = std::env::temp_dir().join(format!("quorate-evidence-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let f = Fed::new(&["DE"], 1);
    let policy = f.policy(1, 1, "");
    let b = dir.as_path();
    std::fs::write(
        b.join(quorate_client::bundle::MARKER),
        quorate_client::bundle::MARKER_TEXT,
    )
    .unwrap();
    let pd = b
        .join(quorate_client::dirnames::origin_dir("de.example/log"))
        .join("cargo")
        .join(P)
        .join("5.6.1");
    std::fs::create_dir_all(&pd).unwrap();
    let mut log = quorate_proto::merkle::MemoryLog::new();
    log.append(&env);
    let signer = &f.logs[0].signer;
    let cp = quorate_proto::checkpoint::Checkpoint::new("de.example/log", 1, log.root(), vec![])
        .unwrap();
    let note = quorate_proto::note::sign(&cp.to_text(), &[signer]).unwrap();
    let ws: Vec<_> = f.witnesses.iter().collect();
    let cos: Vec<_> = ws
        .iter()
        .map(|w| w.cosign(&cp.to_text(), NOW - 60).unwrap())
        .collect();
    let note = quorate_proto::note::add_signatures(&note, &cos).unwrap();
    let proof = quorate_proto::tlog_proof::TlogProof {
        extra: None,
        index: 0,
        proof: vec![],
        checkpoint: note.into_bytes(),
    };
    std::fs::write(pd.join("00.att"), &env).unwrap();
    std::fs::write(pd.join("00.tlog-proof"), proof.to_text()).unwrap();
    let mut ev = quorate_client::quorum::Evaluator::new(&policy);
    let l = quorate_client::bundle::load_into(b, &mut ev, &None).unwrap();
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("refused: evidence is invalid: unknown or missing evidence kind")),
        "{:?}",
        l.warnings
    );
    let v = ev.evaluate(&query(P, "5.6.1", digest(1)), NOW);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!v.pass && v.certified_by.is_empty(), "{v}");

    // The same entry in a verified mirror of DE's log, beside a good review, loaded for
    // this package only: refused and named (origin#index and the reason), never skipped
    // unseen as "another package", and the good review still decides.
    let good = attestation::sign(&full(P, "5.6.1", digest(1), &a), &a.key).unwrap();
    let mut tree = quorate_proto::merkle::MemoryLog::new();
    tree.append(&env);
    tree.append(&good);
    let cp = quorate_proto::checkpoint::Checkpoint::new("de.example/log", 2, tree.root(), vec![])
        .unwrap();
    let note = quorate_proto::note::sign(&cp.to_text(), &[signer]).unwrap();
    let cos: Vec<_> = ws
        .iter()
        .map(|w| w.cosign(&cp.to_text(), NOW - 60).unwrap())
        .collect();
    let note = quorate_proto::note::add_signatures(&note, &cos).unwrap();
    let m = quorate_client::mirror::Mirror {
        logs: vec![quorate_client::mirror::LogMirror {
            origin: "de.example/log".into(),
            url: None,
            checkpoint: Some(note.into_bytes()),
            entries: vec![env.clone(), good],
            tree,
            warnings: vec![],
            unproven: None,
            not_refreshed: None,
            fetched: 0,
        }],
        equivocations: Default::default(),
        warnings: vec![],
    };
    let mut ev = quorate_client::quorum::Evaluator::new(&policy);
    let wanted = Some([("cargo".to_owned(), P.to_owned())].into_iter().collect());
    let st = quorate_client::mirror::load_into(&m, &mut ev, &wanted);
    assert_eq!((st.entries, st.invalid), (1, 1), "{st:?}");
    assert_eq!(st.refused.len(), 1);
    assert!(
        st.refused[0]
            .starts_with("de.example/log#0: evidence is invalid: unknown or missing evidence kind"),
        "{:?}",
        st.refused
    );
    let v = ev.evaluate(&query(P, "5.6.1", digest(1)), NOW);
    assert!(v.pass, "{v}");
}

/// Signs raw payload bytes as an envelope (the canonical envelope encoding by hand).
fn sign_raw(payload: &[u8], by: &Person) -> Vec<u8> {
    use ed25519_dalek::Signer as _;
    let mut m = attestation::SIGNATURE_DOMAIN.to_vec();
    m.extend_from_slice(payload);
    let sig = by.key.sign(&m).to_bytes();
    let mut env = vec![0x0a];
    let mut n = payload.len();
    while n >= 0x80 {
        env.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    env.push(n as u8);
    env.extend_from_slice(payload);
    env.extend_from_slice(&[0x12, 0x40]);
    env.extend_from_slice(&sig);
    env
}

/// An embargoed violation: FR's reviewer seals it, others certify meanwhile, the reveal
/// flips the verdict; the unrevealed count is shown before and gone after.
#[test]
fn sealed_violation_flips_the_verdict_when_revealed() {
    let (mut f, _) = three_reviews();
    let sealer = Person::new("sigrid");
    let mut inner = violation(P, "=5.6.1", &["safe-to-deploy"], &sealer);
    inner.version = "5.6.1".into();
    let salt = [7u8; 32];
    let commitment = Attestation::sealed_commitment(&inner, &salt, NOW - 3600);
    let cleaf = f.publish("FR", &commitment, &sealer);
    let policy = f.policy(2, 2, "");
    let v = eval(&f, &policy);
    assert!(v.pass, "{v}");
    assert_eq!(v.sealed_unrevealed.len(), 1);
    assert!(
        v.to_string()
            .contains("1 sealed commitment not yet revealed (FR: 5.6.1)"),
        "{v}"
    );
    // A reveal with the wrong salt: refused with the reason, counts for nothing, and the
    // commitment stays unrevealed.
    let bad = Attestation::revealing(&inner, cleaf, [8u8; 32]);
    f.publish("FR", &bad, &sealer);
    let v = eval(&f, &policy);
    assert!(v.pass, "{v}");
    assert_eq!(v.sealed_unrevealed.len(), 1);
    assert!(
        v.notices.iter().any(|n| n.text.contains("reveal refused")
            && n.text.contains("do not hash to the commitment")),
        "{v}"
    );
    // A reveal naming a commitment no log holds: refused too.
    let stray = Attestation::revealing(&inner, [9u8; 32], salt);
    f.publish("JP", &stray, &sealer);
    let v = eval(&f, &policy);
    assert!(v.pass, "{v}");
    assert!(
        v.to_string().contains("is in none of the policy's logs"),
        "{v}"
    );
    // The real reveal: the violation counts, dated from the commitment.
    let good = Attestation::revealing(&inner, cleaf, salt);
    f.publish("FR", &good, &sealer);
    let v = eval(&f, &policy);
    assert!(!v.pass, "{v}");
    assert!(v.sealed_unrevealed.is_empty(), "{v}");
    assert_eq!(v.violations.len(), 1);
    assert_eq!(
        v.violations[0].sealed_at.as_deref(),
        Some("fr.example/log#1")
    );
}

/// Dating: the sealer's own certification made after its commitment is set aside once
/// the reveal is verified; one made before is untouched (visible under `veto none`,
/// where the violation does not block by itself).
#[test]
fn reveal_dates_from_the_commitment() {
    let mut f = Fed::new(&["DE", "FR"], 2);
    let (a, s) = (Person::new("anna"), Person::new("sigrid"));
    f.publish("DE", &full(P, "5.6.1", digest(1), &a), &a);
    let mut inner = violation(P, "=5.6.1", &["safe-to-deploy"], &s);
    inner.version = "5.6.1".into();
    let salt = [3u8; 32];
    let early = full(P, "5.6.1", digest(1), &s);
    f.publish("FR", &early, &s); // before the commitment
    let cleaf = f.publish(
        "FR",
        &Attestation::sealed_commitment(&inner, &salt, NOW - 7200),
        &s,
    );
    let policy = f.policy(2, 2, "veto none\n");
    assert!(eval(&f, &policy).pass);
    // A second certification by the sealer after its commitment (cover during the
    // embargo): still counts while sealed.
    let mut cover = full(P, "5.6.1", digest(1), &s);
    cover.notes = "cover".into();
    f.publish("FR", &cover, &s);
    assert!(eval(&f, &policy).pass);
    f.publish("FR", &Attestation::revealing(&inner, cleaf, salt), &s);
    let v = eval(&f, &policy);
    // The early certification still counts for FR; the cover one is set aside.
    assert!(v.pass, "{v}");
    assert!(!v.violations[0].blocking);
    // Without the early one, FR no longer certifies.
    let mut g = Fed::new(&["DE", "FR"], 2);
    g.publish("DE", &full(P, "5.6.1", digest(1), &a), &a);
    let cleaf = g.publish(
        "FR",
        &Attestation::sealed_commitment(&inner, &salt, NOW - 7200),
        &s,
    );
    g.publish("FR", &cover, &s);
    g.publish("FR", &Attestation::revealing(&inner, cleaf, salt), &s);
    let v = eval(&g, &policy);
    assert!(!v.pass, "{v}");
    assert!(
        rejections(&v, "FR").iter().any(|r| matches!(r,
            Rejection::CertifiedAfterSealing { commitment } if commitment == "commitment at fr.example/log#0")),
        "{v}"
    );
    // A reveal the client does not accept (here: distrusted) dates nothing: the cover
    // certification counts again.
    let reveal_leaf = g
        .log("FR")
        .entries
        .last()
        .map(|e| quorate_proto::merkle::leaf_hash(e))
        .unwrap();
    let d = g.policy(
        2,
        2,
        &format!("veto none\ndistrust {}\n", hex(&reveal_leaf)),
    );
    let v = eval(&g, &d);
    assert!(v.pass && v.sealed_unrevealed.len() == 1, "{v}");
    // Withdrawing the commitment withdraws the reveal with it.
    let mut w = Fed::new(&["DE", "FR"], 2);
    w.publish("DE", &full(P, "5.6.1", digest(1), &a), &a);
    w.publish(
        "FR",
        &full(P, "5.6.1", digest(1), &Person::new("fritz")),
        &Person::new("fritz"),
    );
    let cleaf = w.publish(
        "FR",
        &Attestation::sealed_commitment(&inner, &salt, NOW - 7200),
        &s,
    );
    w.publish("FR", &Attestation::revealing(&inner, cleaf, salt), &s);
    let strict = w.policy(2, 2, "");
    assert!(!eval(&w, &strict).pass);
    w.publish(
        "FR",
        &withdrawal(
            cleaf,
            quorate_proto::attestation::SupersedeKind::Withdraw,
            inner.clone(),
        ),
        &s,
    );
    let v = eval(&w, &strict);
    assert!(v.pass, "{v}");
}

/// Loads every log with its own witnessing time (`ts` per jurisdiction), as a mirror that
/// saw each log's checkpoint cosigned at a different moment would.
fn load_at<'p>(
    f: &Fed,
    policy: &'p Policy,
    ts: &[(&str, u64)],
) -> quorate_client::quorum::Evaluator<'p> {
    let mut ev = quorate_client::quorum::Evaluator::new(policy);
    let ws: Vec<_> = f.witnesses.iter().collect();
    for l in &f.logs {
        let t = ts
            .iter()
            .find(|(j, _)| *j == l.jurisdiction)
            .map_or(NOW - 60, |(_, t)| *t);
        let cp = l.checkpoint(&ws, t);
        for (i, env) in l.entries.iter().enumerate() {
            let v = attestation::verify(env).unwrap();
            let inc =
                quorate_client::quorum::Inclusion::from_proof(policy, &v, &l.proof(i as u64, &cp));
            ev.add(&l.origin(), v, inc).unwrap();
        }
    }
    ev
}

/// The freshness rules hold for the commitment as well as the reveal: a reveal in a fresh
/// log of a commitment whose log is witnessed too long ago is refused with that reason.
#[test]
fn a_reveal_needs_its_commitment_to_count_under_max_checkpoint_age() {
    let mut f = Fed::new(&["DE", "FR", "JP"], 2);
    let (a, s) = (Person::new("anna"), Person::new("sigrid"));
    f.publish("DE", &full(P, "5.6.1", digest(1), &a), &a);
    let mut inner = violation(P, "=5.6.1", &["safe-to-deploy"], &s);
    inner.version = "5.6.1".into();
    let salt = [5u8; 32];
    let cleaf = f.publish(
        "FR",
        &Attestation::sealed_commitment(&inner, &salt, NOW - 7200),
        &s,
    );
    f.publish("JP", &Attestation::revealing(&inner, cleaf, salt), &s);
    let policy = f.policy(1, 2, "max-checkpoint-age 600\n");
    let q = query(P, "5.6.1", digest(1));
    // Both fresh: the reveal counts and vetoes.
    let v = load_at(&f, &policy, &[]).evaluate(&q, NOW);
    assert!(!v.pass && v.violations.len() == 1, "{v}");
    assert_eq!(
        v.violations[0].sealed_at.as_deref(),
        Some("fr.example/log#0")
    );
    // FR's checkpoint witnessed an hour ago: the commitment is stale, so is the reveal.
    let v = load_at(&f, &policy, &[("FR", NOW - 3600)]).evaluate(&q, NOW);
    assert!(v.pass && v.violations.is_empty(), "{v}");
    assert!(
        v.notices.iter().any(|n| n
            .text
            .contains("reveal refused: its commitment is set aside: checkpoint is stale")),
        "{v}"
    );
}
