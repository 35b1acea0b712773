//! cargo-crev import against the three real proof repositories in shared/reviews/crev:
//! every proof's signature verifies (914 package reviews, 100 trust proofs, old and new
//! envelopes), the mapping table holds, and tampered or forged proofs are refused.

#[path = "../../proto/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use quorate_client::crev::{self, ImportOptions};
use quorate_proto::attestation::{Digest, Verdict};

#[test]
fn shared_proofs_verify_and_map() {
    let Some(dir) = common::shared_file("reviews/crev") else {
        return;
    };
    let set = crev::read_dir(&dir).unwrap();
    assert!(set.refused.is_empty(), "{:?}", set.refused);
    assert_eq!(set.reviews.len() + set.superseded, 914);
    assert_eq!(set.trust, 100);
    assert_eq!(set.other_kinds, 0);
    let digests = BTreeMap::from([(
        ("log".to_owned(), "0.4.6".to_owned()),
        Digest::from_hex("523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149")
            .unwrap(),
    )]);
    let opts = ImportOptions {
        organisation: "crev importers".into(),
        reviewer_key: ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .verifying_key()
            .to_bytes(),
        digests: &digests,
    };
    let imported = crev::to_attestations(&set, &opts);
    assert_eq!(
        imported.attestations.len() + imported.skipped.len(),
        set.reviews.len()
    );
    let n = |f: &dyn Fn(&quorate_proto::attestation::Attestation) -> bool| {
        imported.attestations.iter().filter(|a| f(a)).count()
    };
    let violations = n(&|a| matches!(a.verdict, Verdict::Violation { .. }));
    let deploy = n(&|a| a.criteria == ["safe-to-deploy"] && a.verdict == Verdict::Certify);
    let run = n(&|a| a.criteria == ["safe-to-run"] && a.verdict == Verdict::Certify);
    let deltas = n(&|a| a.delta_from.is_some());
    eprintln!(
        "crev: {} reviews -> {} attestations ({deploy} safe-to-deploy, {run} safe-to-run, {violations} violations, {deltas} deltas), {} skipped",
        set.reviews.len(),
        imported.attestations.len(),
        imported.skipped.len()
    );
    // 914 proofs, 107 replaced by a newer one of the same author and release.
    assert_eq!(set.reviews.len(), 807);
    assert_eq!((deploy, run, violations, deltas), (195, 319, 132, 64));
    assert_eq!(imported.skipped.len(), 161);
    assert!(
        imported
            .skipped
            .iter()
            .any(|(_, why)| why == "neutral rating certifies nothing")
    );
    assert!(
        imported
            .skipped
            .iter()
            .any(|(_, why)| why.starts_with("no review"))
    );
    // dpc's log 0.4.6: low thoroughness, medium understanding, positive -> safe-to-run,
    // with the digest from the lockfile map and the crev id recorded.
    let log = imported
        .attestations
        .iter()
        .find(|a| {
            a.package == "log" && a.version == "0.4.6" && a.reviewer.name.starts_with("crev:FYlr8")
        })
        .unwrap();
    assert_eq!(log.criteria, ["safe-to-run"]);
    assert_eq!(log.digest, digests[&("log".to_owned(), "0.4.6".to_owned())]);
    assert!(
        log.notes
            .contains("crev id FYlr8YoYGVvDwHQxqEIs89reKKDy-oWisoO0qXXEfHE")
    );
    assert!(
        log.notes
            .contains("thoroughness low, understanding medium, rating positive")
    );
    assert_eq!(log.links, ["https://github.com/dpc/crev-proofs"]);
    // Violations never carry build metadata into the semver range.
    for a in &imported.attestations {
        if let Verdict::Violation { range } = &a.verdict {
            assert!(range.starts_with('=') && !range.contains('+'), "{range}");
        }
    }
}

const LEGACY: &str = "-----BEGIN CREV PACKAGE REVIEW-----
version: -1
date: \"2018-12-18T23:10:21.111854021-08:00\"
from:
  id-type: crev
  id: FYlr8YoYGVvDwHQxqEIs89reKKDy-oWisoO0qXXEfHE
  url: \"https://github.com/dpc/crev-proofs\"
package:
  source: \"https://crates.io\"
  name: log
  version: 0.4.6
  digest: BhDmOOjfESqs8i3z9qsQANH8A39eKklgQKuVtrwN-Tw
review:
  thoroughness: low
  understanding: medium
  rating: positive
-----BEGIN CREV PACKAGE REVIEW SIGNATURE-----
4R2WjtU-avpBznmJYAl44H1lOYgETu3RSNhCDcB4GpqhJbSRkd-eqnUuhHgDUs77OlhUf7BSA0dydxaALwx0Dg
-----END CREV PACKAGE REVIEW-----
";

#[test]
fn tampered_and_malformed_proofs_are_refused() {
    let ok = crev::split(LEGACY, "f").unwrap();
    assert_eq!(ok.len(), 1);
    crev::verify(&ok[0]).unwrap();
    // CRLF checkouts still verify: the signed body always uses LF.
    let crlf = crev::split(&LEGACY.replace('\n', "\r\n"), "f").unwrap();
    crev::verify(&crlf[0]).unwrap();
    for (text, want) in [
        (
            LEGACY.replace("rating: positive", "rating: strong"),
            "signature does not verify",
        ),
        (
            LEGACY.replace("4R2Wjt", "5R2Wjt"),
            "signature does not verify",
        ),
        (LEGACY.replace("FYlr8YoY", "AYlr8YoY"), ""),
        (LEGACY.replace("id-type: crev", "id-type: pgp"), "id-type"),
        (
            LEGACY.replace("4R2WjtU-avpB", "4R2W"),
            "signature is not 64 bytes",
        ),
    ] {
        let p = crev::split(&text, "f").unwrap();
        let e = crev::verify(&p[0]).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
    assert!(
        crev::split(&LEGACY[..LEGACY.len() - 40], "f")
            .unwrap_err()
            .contains("ends inside a proof")
    );
    assert!(
        crev::split(&format!("junk\n{LEGACY}"), "f")
            .unwrap_err()
            .contains("text outside a proof")
    );
    let huge = format!("----- BEGIN CREV PROOF -----\n{}", "a: b\n".repeat(10_000));
    assert!(crev::split(&huge, "f").unwrap_err().contains("body over"));
}
