//! Cross-check against the cargo-vet binary: with k = 1 and one organisation, the quorum
//! engine must certify exactly the (crate, version) pairs cargo-vet 0.10.3 certifies for
//! safe-to-deploy from that organisation's audits alone, over the 507 crates.io packages
//! of shared/locks/zellij.Cargo.lock. cargo-vet's answers are recorded in
//! `cargo-vet-oracle/zellij-safe-to-deploy.txt` by `cargo-vet-oracle/regenerate.sh`
//! (which runs the real cargo-vet offline); nothing of cargo-vet is re-implemented here.
//!
//! The audits go the whole Quorate way: imported, signed, appended to a Merkle log,
//! proven included under a signed and cosigned checkpoint, then evaluated.

#[path = "../../proto/tests/common/mod.rs"]
mod common;
mod fed;

use std::collections::BTreeSet;

use fed::*;
use quorate_client::cargo_vet::{self, AuditsFile, ImportOptions};
use quorate_client::lockfile::Lockfile;
use quorate_client::quorum::Query;
use quorate_proto::attestation::Ecosystem;

const ORACLE: &str = include_str!("cargo-vet-oracle/zellij-safe-to-deploy.txt");

fn certified_by_quorate(org: &str, lock: &Lockfile) -> BTreeSet<String> {
    let text = std::fs::read_to_string(common::shared_file(&format!("audits/{org}.toml")).unwrap())
        .unwrap();
    let audits = AuditsFile::parse(&text).unwrap();
    let digests = lock.crates_io_digests();
    let reviewer = Person::new(org);
    let imported = cargo_vet::import(
        &audits,
        &ImportOptions {
            organisation: org.into(),
            reviewer_key: reviewer.key.verifying_key().to_bytes(),
            time: NOW - 86_400,
            digests: &digests,
        },
    );
    // Only entries for names that are no crate name (google.toml audits a "0.7.11") are
    // skipped: cargo vet can never match them to a package either.
    let odd: Vec<_> = imported
        .skipped
        .iter()
        .filter(|s| Ecosystem::Cargo.validate_name(&s.package).is_ok())
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
    let mut f = Fed::new(&[org], 1);
    // Only the lockfile's packages: other packages' audits cannot affect these (and
    // signing all of them makes a debug-build test slow).
    let names: BTreeSet<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    for a in imported
        .attestations
        .iter()
        .filter(|a| names.contains(a.package.as_str()))
    {
        f.publish(org, a, &reviewer);
    }
    // The organisation's own criteria implications, plus intermediate versions have no
    // recorded digest (the crates.io index lookup is not part of this crate yet).
    let mut extra = String::from("accept-unknown-digests yes\n");
    for (a, b) in audits.implications() {
        extra.push_str(&format!("implies {a} {b}\n"));
    }
    let policy = f.policy(1, 1, &extra);
    let ev = f.load_fast(&policy, 1, NOW - 60);
    lock.packages
        .iter()
        .filter_map(|p| {
            let digest = p.checkable().ok()?;
            let q = Query {
                ecosystem: "cargo".into(),
                package: p.name.clone(),
                version: p.version.clone(),
                digest,
            };
            ev.evaluate(&q, NOW)
                .pass
                .then(|| format!("{}@{}", p.name, p.version))
        })
        .collect()
}

#[test]
fn agrees_with_cargo_vet_for_each_organisation_alone() {
    let Some(path) = common::shared_file("locks/zellij.Cargo.lock") else {
        return;
    };
    let lock = Lockfile::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let checkable = lock
        .packages
        .iter()
        .filter(|p| p.checkable().is_ok())
        .count();
    for line in ORACLE.lines() {
        let mut it = line.split(' ');
        let org = it.next().unwrap();
        let total: usize = it.next().unwrap().parse().unwrap();
        assert_eq!(
            total, checkable,
            "oracle and lockfile disagree on the package set"
        );
        let want: BTreeSet<String> = it.map(str::to_owned).collect();
        let got = certified_by_quorate(org, &lock);
        assert_eq!(
            got,
            want,
            "{org}: only Quorate: {:?}; only cargo-vet: {:?}",
            got.difference(&want).collect::<Vec<_>>(),
            want.difference(&got).collect::<Vec<_>>()
        );
        eprintln!(
            "{org}: {} of {total} certified, same as cargo-vet",
            got.len()
        );
    }
}
