//! OpenSSF security-reviews import against the 136 real reviews in
//! shared/reviews/ossf-security-reviews: every file's front matter reads, and the mapping
//! table holds (drafts, partial scopes and versionless purls skipped; severe findings
//! become violations of exactly that version).

#[path = "../../proto/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use quorate_client::ossf::{self, ImportOptions};
use quorate_proto::attestation::{Digest, Verdict};

#[test]
fn shared_reviews_import_by_the_table() {
    let Some(dir) = common::shared_file("reviews/ossf-security-reviews/reviews") else {
        return;
    };
    let set = ossf::read_dir(&dir).unwrap();
    assert_eq!(set.reviews.len(), 136, "{:?}", set.refused);
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32])
        .verifying_key()
        .to_bytes();
    let digests = BTreeMap::new();
    let opts = ImportOptions {
        organisation: "importer".into(),
        reviewer_key: key,
        digests: &digests,
    };
    let imp = ossf::to_attestations(&set, &opts);
    // 973 purl entries in all.
    assert_eq!(imp.attestations.len() + imp.skipped.len(), 973);
    let count = |f: &dyn Fn(&quorate_proto::attestation::Attestation) -> bool| {
        imp.attestations.iter().filter(|a| f(a)).count()
    };
    let violations = count(&|a| matches!(a.verdict, Verdict::Violation { .. }));
    let deploy = count(&|a| a.verdict == Verdict::Certify && a.criteria == ["safe-to-deploy"]);
    let run = count(&|a| a.verdict == Verdict::Certify && a.criteria == ["safe-to-run"]);
    eprintln!(
        "ossf: {} attestations ({deploy} safe-to-deploy, {run} safe-to-run, {violations} violations), {} skipped",
        imp.attestations.len(),
        imp.skipped.len()
    );
    assert_eq!((deploy, run, violations), (6, 23, 790));
    let drafts = imp
        .skipped
        .iter()
        .filter(|(_, w)| w.contains("Draft"))
        .count();
    assert_eq!(drafts, 93, "every Omega review is a draft with one purl");
    let left_pad = imp
        .attestations
        .iter()
        .find(|a| a.package == "left-pad")
        .unwrap();
    assert_eq!(
        (left_pad.ecosystem.as_str(), left_pad.version.as_str()),
        ("npm", "1.3.0")
    );
    assert_eq!(left_pad.criteria, ["safe-to-deploy"]);
    assert_eq!(left_pad.digest, Digest::Unknown);
    let rustls = imp
        .attestations
        .iter()
        .find(|a| a.package == "rustls")
        .unwrap();
    assert_eq!(rustls.ecosystem, "cargo");
    assert!(
        imp.skipped
            .iter()
            .any(|(w, why)| w.contains("pkg:cargo/ring") && why.starts_with("no version"))
    );
    let cryo = imp
        .attestations
        .iter()
        .find(|a| a.package == "cryo")
        .unwrap();
    assert_eq!(
        cryo.verdict,
        Verdict::Violation {
            range: "=0.0.6".into()
        }
    );
    assert!(imp.skipped.iter().any(|(w, _)| w.contains("pkg:nuget/")));
}

#[test]
fn front_matter_errors_name_the_problem() {
    assert!(
        ossf::front_matter("# no front matter")
            .unwrap_err()
            .contains("does not start")
    );
    assert!(
        ossf::front_matter("---\nScope: x\n")
            .unwrap_err()
            .contains("not closed")
    );
    assert!(
        ossf::front_matter("---\n- a\n---\n")
            .unwrap_err()
            .contains("not a mapping")
    );
    assert!(ossf::front_matter("---\na: [\n---\n").is_err());
    assert!(ossf::front_matter("---\nPackage-URLs:\n- pkg:npm/x@1\n---\nbody").is_ok());
}
