//! `quorate evidence`: tools that produce evidence and sign it as an attestation, with
//! the same key, output and `--seal` handling as `review` ([`super::attest`]).
//!
//! - `archive-vs-source`: compares a release archive with the tagged source tree
//!   ([`quorate_client::archive_diff`]), prints every difference, and signs an
//!   `archive-matches-source` attestation: it certifies when the trees match, and records
//!   the differing paths (informational) when they do not. Files allowed to differ as
//!   generated are explicit `--allow-generated` flags, each path they excuse recorded.
//! - `rebuild`: checks that a rebuilt file has the published digest and signs a
//!   `reproducible-build` attestation; a mismatch is refused (nothing signed, exit 1),
//!   because the schema's body asserts that the rebuild reproduced the digest.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use quorate_client::archive_diff::{self, Limits};
use quorate_proto::attestation::evidence::{MAX_DIFFERING_PATHS, MAX_PATH_BYTES};
use quorate_proto::attestation::{
    ArchiveMatchesSource, Artifact, Attestation, Digest, Evidence, ReproducibleBuild, Reviewer,
    ReviewerKind, Verdict,
};
use sha2::{Digest as _, Sha256, Sha512};

use super::attest::{self, SignArgs};
use super::evidence_args::parse_env_digest;
use super::review::{check_version, parse_digest};

#[derive(Subcommand)]
pub enum EvidenceCommand {
    /// Compare a release archive with its checked-out source tree, print the differences
    /// and sign an archive-matches-source attestation (exit 1 when they differ)
    ArchiveVsSource(Box<ArchiveArgs>),
    /// Check a rebuilt file against the published digest and sign a reproducible-build
    /// attestation (a mismatch signs nothing, exit 1)
    Rebuild(Box<RebuildArgs>),
}

#[derive(Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The release: a purl (pkg:generic/xz@5.6.1) or ECOSYSTEM/NAME@VERSION
    #[arg(long)]
    package: String,
    /// The release archive: .tar.gz, .tgz or .tar (its one top directory is removed from
    /// every path)
    #[arg(long, value_name = "FILE")]
    archive: PathBuf,
    /// The source tree checked out at the tagged revision (`.git` is ignored)
    #[arg(long, value_name = "DIR")]
    source: PathBuf,
    /// The revision the source tree is at (commit id or tag)
    #[arg(long, value_name = "REV")]
    source_revision: String,
    /// Where that source lives (https://, http:// or git+https:// URL)
    #[arg(long, value_name = "URL")]
    source_uri: String,
    /// A path, or a glob (`*`, `?` within a segment, `**` across), that the release
    /// process generates and may differ; repeat for several. Every path it excuses is
    /// printed and recorded in the attestation
    #[arg(long = "allow-generated", value_name = "PATH|GLOB")]
    allow_generated: Vec<String>,
}

#[derive(Args)]
pub struct RebuildArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The release: a purl or ECOSYSTEM/NAME@VERSION
    #[arg(long)]
    package: String,
    /// The file your rebuild produced
    #[arg(long, value_name = "FILE")]
    artifact: PathBuf,
    /// The published artifact's digest, in any notation `review --digest` takes
    /// (sha256:HEX, bare hex, sha512-BASE64)
    #[arg(long, value_name = "DIGEST")]
    digest: String,
    /// The source revision rebuilt from (commit id or tag)
    #[arg(long, value_name = "REV")]
    source_revision: String,
    /// Where that source lives (https://, http:// or git+https:// URL)
    #[arg(long, value_name = "URL")]
    source_uri: String,
    /// Who or what rebuilt it (a builder identity)
    #[arg(long, value_name = "NAME")]
    builder: String,
    /// Digest of the build environment (container image, Nix closure)
    #[arg(long, value_name = "DIGEST")]
    build_env: String,
}

pub fn evidence(c: &EvidenceCommand) -> Result<ExitCode> {
    match c {
        EvidenceCommand::ArchiveVsSource(a) => archive_vs_source(a),
        EvidenceCommand::Rebuild(a) => rebuild(a),
    }
}

fn package(spec: &str) -> Result<(String, String, String)> {
    let (eco, name, version) = Attestation::parse_package_spec(spec).context("--package")?;
    check_version(&eco, &version, "--package")?;
    Ok((eco, name, version))
}

fn reviewer(name: String, key: &ed25519_dalek::SigningKey, s: &SignArgs) -> Reviewer {
    Reviewer {
        kind: s.kind(ReviewerKind::Tool),
        name,
        public_key: key.verifying_key().to_bytes(),
    }
}

/// An `--allow-generated` pattern is a relative path pattern: no leading `/`, no `..`.
fn check_pattern(p: &str) -> Result<()> {
    if p.is_empty()
        || p.starts_with('/')
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || p.contains('\\')
        || p.chars().any(char::is_control)
    {
        bail!(
            "--allow-generated {p:?}: give a path relative to the tree's top, e.g. configure or **/Makefile.in"
        );
    }
    Ok(())
}

fn archive_vs_source(a: &ArchiveArgs) -> Result<ExitCode> {
    let (name, key) = a.sign.load()?;
    let scope = a.sign.scope()?;
    let (ecosystem, package, version) = package(&a.package)?;
    for p in &a.allow_generated {
        check_pattern(p)?;
    }
    let limits = Limits::default();
    let ar = archive_diff::read_archive(&a.archive, &limits)
        .with_context(|| format!("--archive {}", a.archive.display()))?;
    let src = archive_diff::read_source(&a.source, &limits)?;
    let diffs = archive_diff::diff(&ar.tree, &src);
    let mut allowed = Vec::new();
    let mut differing = Vec::new();
    let mut used = vec![false; a.allow_generated.len()];
    for (p, c) in &diffs {
        match a
            .allow_generated
            .iter()
            .position(|g| archive_diff::glob_match(g, p))
        {
            Some(i) => {
                used[i] = true;
                allowed.push((p.clone(), *c, &a.allow_generated[i]));
            }
            None => differing.push((p.clone(), *c)),
        }
    }
    println!(
        "archive {} (top directory {}/, {} files) vs source {} ({} files; .git ignored)",
        a.archive.display(),
        ar.top,
        ar.tree.len(),
        a.source.display(),
        src.len()
    );
    for (p, c) in &differing {
        println!("  {:<8} {p}", c.as_str());
    }
    for (p, c, g) in &allowed {
        println!("  allowed  {p} ({}; --allow-generated {g})", c.as_str());
    }
    for (g, u) in a.allow_generated.iter().zip(&used) {
        if !u {
            eprintln!("warning: --allow-generated {g} matched no differing path");
        }
    }
    if allowed.len() > MAX_DIFFERING_PATHS {
        bail!(
            "--allow-generated excuses {} paths, more than the {MAX_DIFFERING_PATHS} an attestation records; \
             narrow the patterns",
            allowed.len()
        );
    }
    if let Some((p, _)) = diffs.iter().find(|(p, _)| p.len() > MAX_PATH_BYTES) {
        bail!(
            "differing path {p:?} is longer than the {MAX_PATH_BYTES} bytes an attestation records"
        );
    }
    let count = u32::try_from(differing.len()).map_err(|_| anyhow!("too many differing paths"))?;
    let body = ArchiveMatchesSource {
        source_revision: a.source_revision.clone(),
        source_uri: a.source_uri.clone(),
        differing_paths: differing
            .iter()
            .take(MAX_DIFFERING_PATHS)
            .map(|(p, _)| p.clone())
            .collect(),
        differing_count: count,
        allowed_generated: allowed.iter().map(|(p, _, _)| p.clone()).collect(),
    };
    let matches = body.matches();
    let summary = format!(
        "{} path{} differ{}{}",
        differing.len(),
        if differing.len() == 1 { "" } else { "s" },
        if differing.len() == 1 { "s" } else { "" },
        if allowed.is_empty() {
            String::new()
        } else {
            format!(
                " ({} more allowed as generated: {})",
                allowed.len(),
                allowed
                    .iter()
                    .map(|(p, _, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    println!("{summary}");
    // The archive file as a lockfile names it: SHA-256 as the primary digest, SHA-512 (npm's
    // integrity) as a further digest of the same file.
    let file_name = a
        .archive
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned();
    let artifacts = if !file_name.is_empty()
        && file_name.len() <= quorate_proto::attestation::MAX_ARTIFACT_NAME_BYTES
        && file_name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'\\')
    {
        vec![Artifact {
            name: file_name,
            digests: vec![Digest::Sha512(ar.sha512)],
        }]
    } else {
        Vec::new()
    };
    let att = Attestation {
        ecosystem,
        package,
        version,
        digest: Digest::Sha256(ar.sha256),
        delta_from: None,
        artifacts,
        scope: Some(scope),
        criteria: a.sign.criteria.clone(),
        verdict: if matches {
            Verdict::Certify
        } else {
            Verdict::Informational
        },
        evidence: Some(Evidence::ArchiveMatchesSource(body)),
        reviewer: reviewer(name, &key, &a.sign),
        organisation: a.sign.org.clone(),
        time: a.sign.time()?,
        notes: a.sign.notes.clone(),
        links: a.sign.links.clone(),
        supersedes: None,
        reveal: None,
    };
    let what = if matches {
        "certifies (archive matches source)".to_owned()
    } else {
        format!(
            "records an archive-matches-source MISMATCH ({} differing; informational) for",
            differing.len()
        )
    };
    attest::finish(&att, &key, &a.sign, &what, "-archive")?;
    Ok(if matches {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The file's digest in `like`'s algorithm, read through a fixed buffer.
fn file_digest(path: &std::path::Path, like: &Digest) -> Result<Digest> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut buf = [0u8; 64 * 1024];
    let mut s256 = Sha256::new();
    let mut s512 = Sha512::new();
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        match like {
            Digest::Sha512(_) => s512.update(&buf[..n]),
            _ => s256.update(&buf[..n]),
        }
    }
    Ok(match like {
        Digest::Sha512(_) => Digest::Sha512(s512.finalize().into()),
        _ => Digest::Sha256(s256.finalize().into()),
    })
}

fn rebuild(a: &RebuildArgs) -> Result<ExitCode> {
    let (name, key) = a.sign.load()?;
    let scope = a.sign.scope()?;
    let (ecosystem, package, version) = package(&a.package)?;
    let published = parse_digest(&a.digest, false, "--digest")?;
    if matches!(published, Digest::GoH1(_)) {
        bail!(
            "--digest h1:...: Go's module hash is over the module's file tree, not one file; \
             give the sha256 of the rebuilt file"
        );
    }
    let build_environment = parse_env_digest(&a.build_env)?;
    let rebuilt = file_digest(&a.artifact, &published)?;
    if rebuilt != published {
        eprintln!(
            "error: not reproduced: the rebuilt {} has {rebuilt}, the published digest is {published}; nothing signed \
             (a rebuild that differs is not reproducible-build evidence; report it with `quorate review --violation` \
             or `--informational` and notes if it matters)",
            a.artifact.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "rebuilt {} matches the published digest {published}",
        a.artifact.display()
    );
    let att = Attestation {
        ecosystem,
        package,
        version,
        digest: published,
        delta_from: None,
        artifacts: Vec::new(),
        scope: Some(scope),
        criteria: a.sign.criteria.clone(),
        verdict: Verdict::Certify,
        evidence: Some(Evidence::ReproducibleBuild(ReproducibleBuild {
            source_revision: a.source_revision.clone(),
            source_uri: a.source_uri.clone(),
            builder: a.builder.clone(),
            build_environment,
        })),
        reviewer: reviewer(name, &key, &a.sign),
        organisation: a.sign.org.clone(),
        time: a.sign.time()?,
        notes: a.sign.notes.clone(),
        links: a.sign.links.clone(),
        supersedes: None,
        reveal: None,
    };
    attest::finish(
        &att,
        &key,
        &a.sign,
        "certifies (reproducible build)",
        "-rebuild",
    )?;
    Ok(ExitCode::SUCCESS)
}
