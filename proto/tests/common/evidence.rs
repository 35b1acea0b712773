//! Evidence bodies for attestation tests: valid unless a test edits them.
#![allow(dead_code)]

use quorate_proto::attestation::{
    ArchiveMatchesSource, BenchmarkDelta, Digest, Evidence, Fuzzing, MaintainerChange,
    MaintainerChangeKind, ReproducibleBuild,
};

/// `archive-matches-source` listing `paths` as differing, `count` in all.
pub fn archive(paths: &[&str], count: u32) -> Evidence {
    Evidence::ArchiveMatchesSource(ArchiveMatchesSource {
        source_revision: "v5.6.1".into(),
        source_uri: "https://github.com/tukaani-project/xz".into(),
        differing_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        differing_count: count,
        allowed_generated: vec![],
    })
}

pub fn fuzzing(harnesses: Vec<String>, duration_seconds: u64) -> Evidence {
    Evidence::Fuzzing(Fuzzing {
        harnesses,
        duration_seconds,
        findings: 0,
    })
}

pub fn bench(baseline_version: &str, ratio_ppm: u64) -> Evidence {
    Evidence::BenchmarkDelta(BenchmarkDelta {
        benchmark: "decompress-1MiB".into(),
        baseline_version: baseline_version.into(),
        ratio_ppm,
    })
}

pub fn rebuild(build_environment: Digest, source_uri: &str) -> Evidence {
    Evidence::ReproducibleBuild(ReproducibleBuild {
        source_revision: "0123456789abcdef0123456789abcdef01234567".into(),
        source_uri: source_uri.into(),
        builder: "rebuilder.example.org".into(),
        build_environment,
    })
}

pub fn maintainer_change() -> Evidence {
    Evidence::MaintainerChange(MaintainerChange {
        kind: MaintainerChangeKind::NewMaintainer,
        subject: "Jia Tan".into(),
        source: "https://example.org/announcement".into(),
    })
}
