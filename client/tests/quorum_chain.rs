//! Chain and quorum evaluation over a real federation (signed attestations, Merkle logs,
//! signed and cosigned checkpoints, tlog-proofs): every case of the explanation.

mod fed;

use fed::*;
use quorate_client::policy::Policy;
use quorate_client::quorum::{Evaluator, Inclusion, InputError, NotProven, Rejection, Why};
use quorate_proto::attestation::{self, Digest, SupersedeKind};
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::equivocation::Equivocation;
use quorate_proto::note::{self, Signer};

const P: &str = "serde";

fn reasons<'a>(v: &'a quorate_client::quorum::PackageVerdict, j: &str) -> &'a [Why] {
    &v.missing
        .iter()
        .find(|m| m.jurisdiction == j)
        .unwrap_or_else(|| panic!("{j} not missing in {v}"))
        .reasons
}

fn rejection(v: &quorate_client::quorum::PackageVerdict, j: &str) -> Rejection {
    reasons(v, j)
        .iter()
        .find_map(|w| match w {
            Why::Rejected { why, .. } => Some(why.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no rejection for {j} in {v}"))
}

#[test]
fn full_reviews_from_k_jurisdictions_pass() {
    let mut f = Fed::new(&["DE", "FR", "JP"], 3);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    f.publish("FR", &full(P, "1.0.0", digest(1), &b), &b);
    let policy = f.policy(2, 2, "");
    let ev = f.load(&policy, 3, NOW - 60);
    let v = ev.evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(v.pass, "{v}");
    assert_eq!(v.certified_by, ["DE", "FR"]);
    assert_eq!(reasons(&v, "JP"), [Why::NoReview]);
    // The fast path (checkpoint verified once per log) decides the same.
    let ev2 = f.load_fast(&policy, 3, NOW - 60);
    assert_eq!(ev2.evaluate(&query(P, "1.0.0", digest(1)), NOW), v);
}

#[test]
fn delta_chain_extends_a_full_review() {
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let d1 = review(
        P,
        "1.1.0",
        digest(2),
        Some(("1.0.0", digest(1))),
        &["safe-to-deploy"],
        &a,
        "org",
    );
    let d2 = review(
        P,
        "1.2.0",
        digest(3),
        Some(("1.1.0", digest(2))),
        &["safe-to-deploy"],
        &a,
        "org",
    );
    f.publish("DE", &d1, &a);
    f.publish("DE", &d2, &a);
    let policy = f.policy(1, 1, "");
    let ev = f.load(&policy, 1, NOW - 60);
    assert!(ev.evaluate(&query(P, "1.2.0", digest(3)), NOW).pass);
    assert!(ev.evaluate(&query(P, "1.1.0", digest(2)), NOW).pass);
    let v = ev.evaluate(&query(P, "1.3.0", digest(4)), NOW);
    assert!(!v.pass);
    assert!(
        matches!(&reasons(&v, "DE")[0], Why::NoReviewOfVersion { reviewed } if reviewed.len() == 3),
        "{v}"
    );
}

#[test]
fn delta_from_a_version_never_fully_reviewed_names_the_gap() {
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    let d1 = review(
        P,
        "1.1.0",
        digest(2),
        Some(("1.0.0", digest(1))),
        &["safe-to-deploy"],
        &a,
        "org",
    );
    let d2 = review(
        P,
        "1.2.0",
        digest(3),
        Some(("1.1.0", digest(2))),
        &["safe-to-deploy"],
        &a,
        "org",
    );
    f.publish("DE", &d1, &a);
    f.publish("DE", &d2, &a);
    let policy = f.policy(1, 1, "");
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.2.0", digest(3)), NOW);
    assert!(!v.pass);
    assert_eq!(
        reasons(&v, "DE"),
        [Why::ChainGap {
            never_fully_reviewed: "1.0.0".into(),
            delta: "1.0.0 -> 1.1.0".into()
        }]
    );
    assert!(
        v.to_string()
            .contains("delta 1.0.0 -> 1.1.0 starts from 1.0.0, which was never fully reviewed"),
        "{v}"
    );
}

#[test]
fn delta_base_digest_must_match_the_full_review() {
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let d = review(
        P,
        "1.1.0",
        digest(2),
        Some(("1.0.0", digest(9))),
        &["safe-to-deploy"],
        &a,
        "org",
    );
    f.publish("DE", &d, &a);
    let policy = f.policy(1, 1, "");
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.1.0", digest(2)), NOW);
    assert!(!v.pass);
    assert_eq!(
        reasons(&v, "DE"),
        [Why::ChainDigestMismatch {
            delta: "1.0.0 -> 1.1.0".into(),
            base_digest: digest(9),
            reviewed: vec![digest(1)]
        }]
    );
}

#[test]
fn criteria_follow_implications_one_way() {
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    f.publish(
        "DE",
        &review(
            "other",
            "2.0.0",
            digest(5),
            None,
            &["safe-to-run"],
            &a,
            "org",
        ),
        &a,
    );
    // A delta only carries what it states: 1.0 -> 1.1 for safe-to-run only.
    f.publish(
        "DE",
        &review(
            P,
            "1.1.0",
            digest(2),
            Some(("1.0.0", digest(1))),
            &["safe-to-run"],
            &a,
            "org",
        ),
        &a,
    );
    // A custom criterion implying safe-to-deploy (as google's rule-of-two does).
    f.publish(
        "DE",
        &review(
            "third",
            "3.0.0",
            digest(6),
            None,
            &["rule-of-two"],
            &a,
            "org",
        ),
        &a,
    );
    let policy = f.policy(1, 1, "implies rule-of-two safe-to-deploy\n");
    let ev = f.load(&policy, 1, NOW - 60);
    // safe-to-deploy satisfies safe-to-run ...
    assert!(
        ev.evaluate_for(&query(P, "1.0.0", digest(1)), "safe-to-run", NOW)
            .pass
    );
    // ... but not the reverse.
    let v = ev.evaluate(&query("other", "2.0.0", digest(5)), NOW);
    assert!(!v.pass);
    assert_eq!(
        reasons(&v, "DE"),
        [Why::InsufficientCriteria {
            required: "safe-to-deploy".into(),
            certified: vec!["safe-to-run".into()]
        }]
    );
    let v = ev.evaluate(&query(P, "1.1.0", digest(2)), NOW);
    assert!(!v.pass, "{v}");
    assert!(
        ev.evaluate_for(&query(P, "1.1.0", digest(2)), "safe-to-run", NOW)
            .pass
    );
    // Transitive: rule-of-two -> safe-to-deploy -> safe-to-run.
    assert!(ev.evaluate(&query("third", "3.0.0", digest(6)), NOW).pass);
    assert!(
        ev.evaluate_for(&query("third", "3.0.0", digest(6)), "safe-to-run", NOW)
            .pass
    );
}

#[test]
fn wrong_digest_is_named() {
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let policy = f.policy(1, 1, "");
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(2)), NOW);
    assert!(!v.pass);
    assert_eq!(
        reasons(&v, "DE"),
        [Why::WrongDigest {
            reviewed: vec![digest(1)],
            artifact: digest(2)
        }]
    );
}

#[test]
fn unknown_digests_count_only_when_the_policy_says_so() {
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", Digest::Unknown, &a), &a);
    let strict = f.policy(1, 1, "");
    let v = f
        .load(&strict, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass);
    assert_eq!(rejection(&v, "DE"), Rejection::UnknownDigest);
    let lax = f.policy(1, 1, "accept-unknown-digests yes\n");
    assert!(
        f.load(&lax, 1, NOW - 60)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );
}

#[test]
fn withdrawn_and_replaced_reviews_do_not_count() {
    let mut f = Fed::new(&["DE", "FR"], 1);
    let (a, b, c) = (
        Person::new("anna"),
        Person::new("bernd"),
        Person::new("carla"),
    );
    let leaf = f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let policy = f.policy(1, 1, "");
    assert!(
        f.load(&policy, 1, NOW - 60)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );

    // A stranger (other key, other organisation) cannot withdraw it, nor can another
    // key claiming its organisation from another log (only the key itself reaches across
    // logs: `a_withdrawal_by_the_key_withdraws_in_every_log`).
    let mut stranger = full("unrelated", "0.1.0", digest(7), &c);
    stranger.organisation = "elsewhere".into();
    f.publish(
        "DE",
        &withdrawal(leaf, SupersedeKind::Withdraw, stranger),
        &c,
    );
    f.publish(
        "FR",
        &withdrawal(
            leaf,
            SupersedeKind::Withdraw,
            full("unrelated", "0.1.0", digest(7), &c),
        ),
        &c,
    );
    assert!(
        f.load(&policy, 1, NOW - 60)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );

    // The same reviewer withdraws it in the same log.
    f.publish(
        "DE",
        &withdrawal(
            leaf,
            SupersedeKind::Withdraw,
            full("unrelated", "0.1.0", digest(7), &a),
        ),
        &a,
    );
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass);
    assert_eq!(
        rejection(&v, "DE"),
        Rejection::Withdrawn {
            by: "anna".into(),
            kind: SupersedeKind::Withdraw
        }
    );

    // Replacement by a colleague of the same organisation: the old one is out, the new
    // one stands on its own.
    let mut g = Fed::new(&["DE"], 1);
    let old = g.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    g.publish(
        "DE",
        &withdrawal(old, SupersedeKind::Replace, full(P, "1.0.0", digest(2), &b)),
        &b,
    );
    let policy = g.policy(1, 1, "");
    let ev = g.load(&policy, 1, NOW - 60);
    let v = ev.evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass);
    assert!(
        reasons(&v, "DE").contains(&Why::Rejected {
            entry: quorate_client::quorum::EntryRef {
                origin: "de.example/log".into(),
                reviewer: "anna".into(),
                what: "1.0.0".into()
            },
            why: Rejection::Withdrawn {
                by: "bernd".into(),
                kind: SupersedeKind::Replace
            }
        }),
        "{v}"
    );
    assert!(ev.evaluate(&query(P, "1.0.0", digest(2)), NOW).pass);
}

#[test]
fn violation_vetoes_when_the_policy_says_any() {
    let mut f = Fed::new(&["DE", "FR", "JP"], 1);
    let (a, b, c) = (
        Person::new("anna"),
        Person::new("bernd"),
        Person::new("chiyo"),
    );
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    f.publish("FR", &full(P, "1.0.0", digest(1), &b), &b);
    f.publish(
        "JP",
        &violation(P, ">=1.0.0, <1.0.5", &["safe-to-run"], &c),
        &c,
    );
    let policy = f.policy(2, 1, "");
    let ev = f.load(&policy, 1, NOW - 60);
    let v = ev.evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass, "{v}");
    assert_eq!(v.certified_by, ["DE", "FR"]);
    assert_eq!(v.vetoed_by(), ["JP"]);
    assert!(v.to_string().contains("vetoed by JP"), "{v}");
    // Outside the range: no veto.
    f.publish("DE", &full(P, "1.0.5", digest(5), &a), &a);
    f.publish("FR", &full(P, "1.0.5", digest(5), &b), &b);
    let ev = f.load(&policy, 1, NOW - 60);
    assert!(ev.evaluate(&query(P, "1.0.5", digest(5)), NOW).pass);
    // With `veto none` the violation is reported but does not block.
    let lenient = f.policy(2, 1, "veto none\n");
    let v = f
        .load(&lenient, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(v.pass);
    assert_eq!(v.violations.len(), 1);
    assert!(!v.violations[0].blocking);
}

#[test]
fn violation_of_a_criterion_the_requirement_does_not_imply_does_not_veto() {
    let mut f = Fed::new(&["DE", "JP"], 1);
    let (a, c) = (Person::new("anna"), Person::new("chiyo"));
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    f.publish("JP", &violation(P, "*", &["safe-to-deploy"], &c), &c);
    let policy = f.policy(1, 1, "");
    let ev = f.load(&policy, 1, NOW - 60);
    assert!(!ev.evaluate(&query(P, "1.0.0", digest(1)), NOW).pass);
    // A requirement of safe-to-run is not contradicted by a safe-to-deploy violation.
    assert!(
        ev.evaluate_for(&query(P, "1.0.0", digest(1)), "safe-to-run", NOW)
            .pass
    );
}

#[test]
fn equivocating_log_is_distrusted_entirely() {
    let mut f = Fed::new(&["DE", "FR"], 1);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    f.publish("FR", &full(P, "1.0.0", digest(1), &b), &b);
    let policy = f.policy(2, 1, "");
    let mut ev = f.load(&policy, 1, NOW - 60);
    assert!(ev.evaluate(&query(P, "1.0.0", digest(1)), NOW).pass);

    // DE's log signs a second tree of the same size with a different root.
    let de = &f.logs[0];
    let honest = de.checkpoint(&[], NOW);
    let forked = Checkpoint::new(&de.origin(), de.tree.size(), [0xee; 32], vec![]).unwrap();
    let forked = note::sign(&forked.to_text(), &[&de.signer]).unwrap();
    let evidence = Equivocation::same_size(honest.as_bytes(), forked.as_bytes())
        .verify(&de.signer.verifier())
        .unwrap();
    ev.add_equivocation(&evidence).unwrap();
    let v = ev.evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass);
    assert_eq!(v.certified_by, ["FR"]);
    assert_eq!(
        reasons(&v, "DE"),
        [Why::LogEquivocated {
            origin: "de.example/log".into()
        }]
    );

    // Evidence for a log outside the policy is refused, as is evidence that does not
    // verify under the policy's key (same origin, impostor key).
    let impostor = Signer::generate("de.example/log", seed("impostor")).unwrap();
    let cp = Checkpoint::new("de.example/log", 1, [1; 32], vec![]).unwrap();
    let x = note::sign(&cp.to_text(), &[&impostor]).unwrap();
    let cp2 = Checkpoint::new("de.example/log", 1, [2; 32], vec![]).unwrap();
    let y = note::sign(&cp2.to_text(), &[&impostor]).unwrap();
    let fake = Equivocation::same_size(x.as_bytes(), y.as_bytes())
        .verify(&impostor.verifier())
        .unwrap();
    let mut ev = f.load(&policy, 1, NOW - 60);
    assert!(matches!(
        ev.add_equivocation(&fake),
        Err(InputError::BadEquivocation { .. })
    ));
    assert!(ev.evaluate(&query(P, "1.0.0", digest(1)), NOW).pass);
}

#[test]
fn k_minus_one_colluding_jurisdictions_never_pass() {
    let mut f = Fed::new(&["DE", "FR", "JP", "US"], 1);
    // DE and FR collude: many reviewers each, organisations claiming to be JP and US.
    for (j, orgs) in [("DE", ["JP", "US", "DE"]), ("FR", ["US", "JP", "FR"])] {
        for (i, org) in orgs.iter().enumerate() {
            let p = Person::new(&format!("{j}-{i}"));
            let r = review(P, "6.6.6", digest(6), None, &["safe-to-deploy"], &p, org);
            f.publish(j, &r, &p);
        }
    }
    let policy = f.policy(3, 1, "");
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "6.6.6", digest(6)), NOW);
    assert!(!v.pass, "{v}");
    assert_eq!(v.certified_by, ["DE", "FR"]);
    assert_eq!(reasons(&v, "JP"), [Why::NoReview]);
    assert_eq!(reasons(&v, "US"), [Why::NoReview]);
}

#[test]
fn jurisdiction_comes_from_the_policy_not_the_attestation() {
    let mut f = Fed::new(&["DE", "FR"], 1);
    let a = Person::new("anna");
    // Claims to be FR, is logged in DE's log: counts for DE only.
    f.publish(
        "DE",
        &review(P, "1.0.0", digest(1), None, &["safe-to-deploy"], &a, "FR"),
        &a,
    );
    let policy = f.policy(1, 1, "");
    let ev = f.load(&policy, 1, NOW - 60);
    let v = ev.evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert_eq!(v.certified_by, ["DE"]);
    assert_eq!(reasons(&v, "FR"), [Why::NoReview]);

    // The same log listed under another jurisdiction by another client's policy counts
    // for that jurisdiction instead: the client decides.
    let renamed = f
        .policy_text(1, 1, "")
        .replace("review-log DE ", "review-log Bavaria ");
    let policy2 = Policy::parse(&renamed).unwrap();
    let v = f
        .load(&policy2, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert_eq!(v.certified_by, ["Bavaria"]);

    // Entries from a log the policy does not list, or proven in a different log than
    // claimed, are refused as inputs.
    let mut ev = Evaluator::new(&policy);
    let env = &f.logs[0].entries[0];
    let att = attestation::verify(env).unwrap();
    assert_eq!(
        ev.add(
            "xx.example/log",
            att.clone(),
            Inclusion::unavailable("test")
        ),
        Err(InputError::UnknownLog("xx.example/log".into()))
    );
    let cp = f.logs[0].checkpoint(&[&f.witnesses[0]], NOW - 60);
    let inc = Inclusion::from_proof(&policy, &att, &f.logs[0].proof(0, &cp));
    assert!(matches!(inc, Inclusion::Proven(_)));
    assert!(matches!(
        ev.add("fr.example/log", att, inc),
        Err(InputError::WrongLog { .. })
    ));
}

#[test]
fn stale_checkpoint_is_named() {
    let mut f = Fed::new(&["DE"], 2);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let policy = f.policy(1, 1, "max-checkpoint-age 3600\n");
    assert!(
        f.load(&policy, 2, NOW - 600)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );
    let v = f
        .load(&policy, 2, NOW - 7200)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass);
    assert_eq!(
        rejection(&v, "DE"),
        Rejection::StaleCheckpoint {
            age: 7200,
            max: 3600
        }
    );
}

#[test]
fn too_few_witnesses_is_named() {
    let mut f = Fed::new(&["DE"], 3);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let policy = f.policy(1, 2, "");
    assert!(
        f.load(&policy, 2, NOW - 60)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass);
    assert_eq!(
        rejection(&v, "DE"),
        Rejection::TooFewWitnesses {
            cosigned: vec!["w0".into()]
        }
    );
    // Cosignatures dated in the future do not count either.
    let v = f
        .load(&policy, 3, NOW + 86_400)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert_eq!(
        rejection(&v, "DE"),
        Rejection::TooFewWitnesses { cosigned: vec![] }
    );
}

#[test]
fn not_included_and_impostor_checkpoints_are_named() {
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let policy = f.policy(1, 1, "");
    let att = attestation::verify(&f.logs[0].entries[0]).unwrap();

    let mut ev = Evaluator::new(&policy);
    ev.add(
        "de.example/log",
        att.clone(),
        Inclusion::unavailable("node unreachable"),
    )
    .unwrap();
    let v = ev.evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert_eq!(
        rejection(&v, "DE"),
        Rejection::NotIncluded(NotProven::Unavailable("node unreachable".into()))
    );

    // A checkpoint with the right origin signed by another key, verified by proto under
    // that key, is re-checked against the policy and refused.
    let impostor = Signer::generate("de.example/log", seed("impostor")).unwrap();
    let l = &f.logs[0];
    let cp = Checkpoint::new("de.example/log", l.tree.size(), l.tree.root(), vec![]).unwrap();
    let note_text = note::sign(&cp.to_text(), &[&impostor]).unwrap();
    let proof = l.proof(0, &note_text);
    let vi = proof
        .verify(att.leaf_hash(), &impostor.verifier(), &[], 0)
        .unwrap();
    let inc = Inclusion::from_verified(&policy, &att, &vi);
    assert!(
        matches!(inc, Inclusion::NotProven(NotProven::BadCheckpoint(_))),
        "{inc:?}"
    );
    assert!(matches!(
        Inclusion::from_proof(&policy, &att, &proof),
        Inclusion::NotProven(NotProven::BadInclusion(_))
    ));
    // The genuine one through the same path is accepted.
    let good = l.checkpoint(&[&f.witnesses[0]], NOW - 60);
    let vi = l
        .proof(0, &good)
        .verify(att.leaf_hash(), &l.signer.verifier(), &[], 0)
        .unwrap();
    assert!(matches!(
        Inclusion::from_verified(&policy, &att, &vi),
        Inclusion::Proven(_)
    ));
}

#[test]
fn reviewer_lines_restrict_a_jurisdiction() {
    let mut f = Fed::new(&["DE"], 1);
    let (a, m) = (Person::new("anna"), Person::new("mallory"));
    f.publish("DE", &full(P, "1.0.0", digest(1), &m), &m);
    let policy = f.policy(1, 1, &format!("reviewer DE {}\n", a.vkey()));
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass);
    assert_eq!(rejection(&v, "DE"), Rejection::UntrustedReviewer);
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    assert!(
        f.load(&policy, 1, NOW - 60)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );
}

#[test]
fn deltas_across_jurisdictions_only_when_allowed() {
    let mut f = Fed::new(&["DE", "FR"], 1);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    f.publish(
        "FR",
        &review(
            P,
            "1.1.0",
            digest(2),
            Some(("1.0.0", digest(1))),
            &["safe-to-deploy"],
            &b,
            "org",
        ),
        &b,
    );
    let no = f.policy(1, 1, "");
    let v = f
        .load(&no, 1, NOW - 60)
        .evaluate(&query(P, "1.1.0", digest(2)), NOW);
    assert!(!v.pass);
    assert!(
        matches!(&reasons(&v, "FR")[0], Why::ChainGap { never_fully_reviewed, .. } if never_fully_reviewed == "1.0.0")
    );
    let yes = f.policy(1, 1, "delta-across-jurisdictions yes\n");
    let ev = f.load(&yes, 1, NOW - 60);
    let v = ev.evaluate(&query(P, "1.1.0", digest(2)), NOW);
    assert!(v.pass, "{v}");
    // FR reviewed the delta; DE reviewed only 1.0.0, so DE gets no credit for 1.1.0.
    assert_eq!(v.certified_by, ["FR"]);
    // And FR gets no credit for DE's 1.0.0.
    assert_eq!(
        ev.evaluate(&query(P, "1.0.0", digest(1)), NOW).certified_by,
        ["DE"]
    );
}

#[test]
fn export_quorum_certified_versions_as_cargo_vet_audits() {
    use quorate_client::cargo_vet::{self, AuditsFile};
    let mut f = Fed::new(&["DE", "FR", "JP"], 1);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    for (j, p) in [("DE", &a), ("FR", &b)] {
        f.publish(
            j,
            &review(P, "1.0.0", digest(1), None, &["crypto-reviewed"], p, "org"),
            p,
        );
        f.publish(j, &full("log", "0.4.20", digest(2), p), p);
    }
    f.publish("DE", &full("lonely", "0.1.0", digest(3), &a), &a);
    let policy = f.policy(
        2,
        1,
        "criteria crypto-reviewed\nimplies crypto-reviewed safe-to-deploy\n",
    );
    let ev = f.load(&policy, 1, NOW - 60);
    let verdicts = vec![
        ev.evaluate(&query(P, "1.0.0", digest(1)), NOW),
        ev.evaluate_for(&query("log", "0.4.20", digest(2)), "safe-to-deploy", NOW),
        ev.evaluate(&query("lonely", "0.1.0", digest(3)), NOW),
    ];
    let text = cargo_vet::export(&verdicts, &policy);
    let back = AuditsFile::parse(&text).unwrap();
    assert_eq!(back.audit_count(), 2, "{text}");
    let s = &back.audits[P][0];
    assert_eq!(
        s.who.as_ref().unwrap().to_vec(),
        ["Quorate quorum (DE, FR)"]
    );
    assert_eq!(s.version.as_deref(), Some("1.0.0"));
    assert_eq!(s.criteria.to_vec(), ["crypto-reviewed"]);
    assert_eq!(
        back.implications(),
        [("crypto-reviewed".to_owned(), "safe-to-deploy".to_owned())]
    );
    assert!(back.criteria["crypto-reviewed"].description.is_some());
    assert!(!back.audits.contains_key("lonely"));
}

#[test]
fn a_logs_own_jurisdiction_cannot_witness_it() {
    let mut f = Fed::new(&["DE", "FR"], 2);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    f.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    f.publish("FR", &full(P, "1.0.0", digest(1), &b), &b);
    // Both witnesses cosign both logs; both are required.
    let q = query(P, "1.0.0", digest(1));
    let open = f.policy(2, 2, "");
    assert!(f.load(&open, 2, NOW - 60).evaluate(&q, NOW).pass);
    // w0 is operated by DE: it no longer counts for DE's log, which is then short of
    // witnesses, while FR's log keeps both.
    let policy = f.policy(2, 2, "review-witness DE w0\n");
    assert_eq!(policy.witness_jurisdiction("w0"), Some("DE"));
    let v = f.load(&policy, 2, NOW - 60).evaluate(&q, NOW);
    assert!(!v.pass, "{v}");
    assert_eq!(v.certified_by, ["FR"]);
    assert!(
        matches!(rejection(&v, "DE"), Rejection::TooFewWitnesses { ref cosigned } if cosigned == &["w1".to_string()]),
        "{v}"
    );
    // The line survives a round trip, and bad uses are refused with their line.
    assert_eq!(Policy::parse(&policy.to_text()).unwrap(), policy);
    for (extra, want) in [
        ("review-witness XX w0\n", "jurisdiction \"XX\""),
        ("review-witness DE w9\n", "\"w9\" is not a witness"),
        (
            "review-witness DE w0\nreview-witness FR w0\n",
            "already assigned",
        ),
        ("review-witness DE\n", "JURISDICTION WITNESS"),
    ] {
        let err = Policy::parse(&f.policy_text(2, 2, extra))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{extra:?}: {err}");
    }
}

// One key, one vote (issue 9, item 5).

/// One reviewer key registered with two institutes (or its envelope replayed into a
/// second log) counts for one jurisdiction, and the explanation says where.
#[test]
fn one_key_in_two_jurisdictions_counts_once() {
    let mut f = Fed::new(&["DE", "FR", "JP"], 1);
    let a = Person::new("anna");
    let review = full(P, "1.0.0", digest(1), &a);
    f.publish("DE", &review, &a);
    f.publish("FR", &review, &a); // the very same envelope, replayed
    let policy = f.policy(2, 1, "");
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass, "one key must not make two jurisdictions: {v}");
    assert_eq!(v.certified_by, ["DE"]);
    assert!(
        matches!(reasons(&v, "FR"), [Why::KeyCountedElsewhere { reviewer, counted_for, greedy: false, .. }]
            if reviewer == "anna" && counted_for == "DE"),
        "{v}"
    );
    assert!(
        v.to_string().contains("FR: reviewer \"anna\" (key ")
            && v.to_string()
                .contains("one key counts for one jurisdiction per package, and it counts for DE"),
        "{v}"
    );
    // A separately signed review by the same key counts once as well.
    let mut f2 = Fed::new(&["DE", "FR"], 1);
    f2.publish("DE", &full(P, "1.0.0", digest(1), &a), &a);
    let mut other = full(P, "1.0.0", digest(1), &a);
    other.organisation = "another institute".into();
    f2.publish("FR", &other, &a);
    let p2 = f2.policy(2, 1, "");
    assert!(
        !f2.load(&p2, 1, NOW - 60)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );
}

/// A replay into a log that certifies with its own reviewer takes no vote from the
/// original: the client counts the key where it is needed.
#[test]
fn a_replayed_envelope_takes_no_vote_from_its_origin() {
    let mut f = Fed::new(&["DE", "FR"], 1);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    let review = full(P, "1.0.0", digest(1), &a);
    f.publish("DE", &review, &a);
    // FR (sorted before nothing, after DE) carries anna's envelope and its own review.
    f.publish("FR", &review, &a);
    f.publish("FR", &full(P, "1.0.0", digest(1), &b), &b);
    let policy = f.policy(2, 1, "");
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(v.pass, "{v}");
    assert_eq!(v.certified_by, ["DE", "FR"]);
    // Even when the replaying log sorts first.
    let mut g = Fed::new(&["AT", "DE"], 1);
    g.publish("DE", &review, &a);
    g.publish("AT", &review, &a);
    g.publish("AT", &full(P, "1.0.0", digest(1), &b), &b);
    let pg = g.policy(2, 1, "");
    let v = g
        .load(&pg, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(v.pass, "{v}");
}

/// A key the policy pins to one jurisdiction counts nowhere else, even in a
/// jurisdiction that admits any reviewer.
#[test]
fn a_key_pinned_by_the_policy_counts_only_there() {
    let mut f = Fed::new(&["DE", "FR"], 1);
    let a = Person::new("anna");
    let review = full(P, "1.0.0", digest(1), &a);
    f.publish("DE", &review, &a);
    f.publish("FR", &review, &a);
    let policy = f.policy(1, 1, &format!("reviewer FR {}\n", a.vkey()));
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(v.pass, "{v}");
    assert_eq!(v.certified_by, ["FR"]);
    assert_eq!(
        rejection(&v, "DE"),
        Rejection::PinnedElsewhere {
            jurisdiction: "FR".into()
        }
    );
    assert!(v.to_string().contains("pinned to FR by the policy"), "{v}");
}

/// A withdrawal signed by the key withdraws its attestation in every log that carries
/// it, not only in the log the withdrawal was published to.
#[test]
fn a_withdrawal_by_the_key_withdraws_in_every_log() {
    let mut f = Fed::new(&["DE", "FR"], 1);
    let a = Person::new("anna");
    let review = full(P, "1.0.0", digest(1), &a);
    let leaf = f.publish("DE", &review, &a);
    f.publish("FR", &review, &a);
    let policy = f.policy(1, 1, "");
    assert!(
        f.load(&policy, 1, NOW - 60)
            .evaluate(&query(P, "1.0.0", digest(1)), NOW)
            .pass
    );
    f.publish(
        "FR",
        &withdrawal(
            leaf,
            SupersedeKind::Withdraw,
            full("unrelated", "0.1.0", digest(7), &a),
        ),
        &a,
    );
    let v = f
        .load(&policy, 1, NOW - 60)
        .evaluate(&query(P, "1.0.0", digest(1)), NOW);
    assert!(!v.pass, "{v}");
    for j in ["DE", "FR"] {
        assert!(
            matches!(rejection(&v, j), Rejection::Withdrawn { ref by, kind: SupersedeKind::Withdraw } if by == "anna"),
            "{j}: {v}"
        );
    }
}

/// 200 signed deltas of one crate, published newest first, then one full review:
/// decided, and a cut in the middle of the chain is named.
#[test]
fn long_reversed_delta_chain_is_decided_and_its_gap_named() {
    let n: u8 = 200;
    let mut f = Fed::new(&["DE"], 1);
    let a = Person::new("anna");
    let ver = |i: u8| format!("1.0.{i}");
    for i in (1..=n).rev() {
        let base = if i == 100 { digest(250) } else { digest(i - 1) };
        let d = review(
            P,
            &ver(i),
            digest(i),
            Some((&ver(i - 1), base)),
            &["safe-to-deploy"],
            &a,
            "org",
        );
        f.publish("DE", &d, &a);
    }
    f.publish("DE", &full(P, "1.0.0", digest(0), &a), &a);
    let policy = f.policy(1, 1, "");
    let ev = f.load(&policy, 1, NOW - 60);
    assert!(ev.evaluate(&query(P, &ver(99), digest(99)), NOW).pass);
    let v = ev.evaluate(&query(P, &ver(n), digest(n)), NOW);
    assert!(!v.pass);
    assert_eq!(
        reasons(&v, "DE"),
        [Why::ChainDigestMismatch {
            delta: "1.0.99 -> 1.0.100".into(),
            base_digest: digest(250),
            reviewed: vec![digest(99)],
        }]
    );
}
