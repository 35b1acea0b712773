//! `quorate review` and `quorate withdraw`: sign an attestation of one release, or the
//! withdrawal of one. Both refuse what would be wrong by accident, since an append-only
//! log keeps a mistake forever: the release comes from the lockfile when one is given,
//! versions must parse in the ecosystem's syntax, a review without a digest must say so
//! (`--no-digest`), and criteria must be known (cargo-vet's built-ins, or declared).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use clap::Args;
use quorate_client::check::{EntryPlan, Queries};
use quorate_client::lockfile::FileDigest;
use quorate_proto::attestation::{
    Artifact, Attestation, DeltaBase, Digest, Evidence, EvidenceKind, Reviewer, ReviewerKind,
    SupersedeKind, Supersedes, Verdict,
};

pub use super::attest::BUILTIN_CRITERIA;
use super::attest::{self, SignArgs};
use super::evidence_args::EvidenceArgs;

#[derive(Args)]
pub struct ReviewArgs {
    #[command(flatten)]
    sign: SignArgs,
    /// The release: a purl (pkg:npm/%40scope/name@1.0.0, pkg:pypi/requests@2.32.0,
    /// pkg:golang/golang.org/x/mod@v0.7.0, pkg:maven/group/artifact@1.0,
    /// pkg:generic/xz@5.6.1) or ECOSYSTEM/NAME@VERSION, e.g. cargo/serde@1.0.210; with
    /// --lock, NAME (or NAME@VERSION when the lockfile holds several versions)
    #[arg(long)]
    package: String,
    /// Take the ecosystem, version and digest of --package from this lockfile
    #[arg(long, value_name = "LOCKFILE", conflicts_with_all = ["digest", "no_digest"])]
    lock: Option<PathBuf>,
    /// Digest of the reviewed archive in its ecosystem's notation: `sha256:HEX` or bare hex
    /// (Cargo.lock, Python lockfiles), `sha512-BASE64` (npm integrity), `h1:BASE64` (go.sum)
    #[arg(long, value_name = "DIGEST", required_unless_present_any = ["lock", "no_digest"],
          conflicts_with = "no_digest")]
    digest: Option<String>,
    /// Record no artifact digest (policies count such a review only with
    /// `accept-unknown-digests`)
    #[arg(long)]
    no_digest: bool,
    /// A further file of the release covered by the same review (a wheel beside the
    /// sdist): NAME=DIGEST in any --digest notation; repeat for several files, or for a
    /// second digest of the same file
    #[arg(long = "artifact", value_name = "NAME=DIGEST")]
    artifacts: Vec<String>,
    /// Delta review: the version the changes were reviewed from
    #[arg(long, value_name = "VERSION", requires = "delta_digest")]
    delta_from: Option<String>,
    /// SHA-256 of the delta's base archive (`unknown` with --no-digest)
    #[arg(long, value_name = "SHA256")]
    delta_digest: Option<String>,
    /// A violation: every version matching RANGE violates the criteria
    #[arg(long, value_name = "RANGE", conflicts_with = "delta_from")]
    violation: Option<String>,
    /// A recorded fact that concludes nothing about the criteria (fuzzing,
    /// benchmark-delta, reproducible-build evidence; maintainer-change always is)
    #[arg(long, conflicts_with = "violation")]
    informational: bool,
    #[command(flatten)]
    evidence: EvidenceArgs,
    /// Replace the attestation with this leaf hash (hex) by this one (needs --replace;
    /// to take one back without replacing it, use `quorate withdraw`)
    #[arg(long, value_name = "LEAF_HASH", requires = "replace")]
    supersedes: Option<String>,
    /// With --supersedes: this attestation replaces the earlier one
    #[arg(long, requires = "supersedes")]
    replace: bool,
}

pub(crate) fn parse_digest(s: &str, no_digest: bool, flag: &str) -> Result<Digest> {
    if s.eq_ignore_ascii_case("unknown") {
        if !no_digest {
            bail!(
                "{flag} unknown: a review that records no digest is not bound to the bytes reviewed; \
                 pass --no-digest (instead of --digest) if that is what you mean"
            );
        }
        return Ok(Digest::Unknown);
    }
    // Each ecosystem's notation: sha256:HEX or bare hex, sha512-BASE64, h1:BASE64.
    let d = FileDigest::parse(s).map_err(|e| anyhow!("{flag}: {e}"))?;
    if d.is_weak() {
        bail!("{flag} {s:?} is SHA-1, too weak to name reviewed bytes; give the sha256 or sha512");
    }
    Ok(d.to_attestation())
}

pub(crate) fn parse_hash(s: &str) -> Result<[u8; 32]> {
    if let Ok(Digest::Sha256(h)) = Digest::from_hex(s) {
        return Ok(h);
    }
    let b = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| anyhow!("{s:?} is neither 64 hex digits nor base64"))?;
    <[u8; 32]>::try_from(b.as_slice()).map_err(|_| anyhow!("{s:?} is not a 32-byte hash"))
}

/// Refuses a version that does not parse in the ecosystem's syntax (`latest` is not a
/// version). crates.io (and `cargo`) versions are semver; other ecosystems are checked
/// by the attestation schema only.
pub(crate) fn check_version(ecosystem: &str, version: &str, flag: &str) -> Result<()> {
    if matches!(ecosystem, "crates.io" | "cargo")
        && let Err(e) = semver::Version::parse(version)
    {
        bail!(
            "{flag}: {version:?} is not a {ecosystem} version ({e}); give the exact version, e.g. 1.0.210"
        );
    }
    Ok(())
}

/// The release `--package` names, its primary digest and, from a lockfile, the entry's
/// further files: from the lockfile when given, else a full spec.
type Release = (String, String, String, Digest, Vec<Artifact>);

fn release(a: &ReviewArgs) -> Result<Release> {
    let Some(lock_path) = &a.lock else {
        let (eco, name, version) =
            Attestation::parse_package_spec(&a.package).context("--package")?;
        check_version(&eco, &version, "--package")?;
        let digest = match &a.digest {
            Some(d) => parse_digest(d, a.no_digest, "--digest")?,
            None => Digest::Unknown, // --no-digest (clap requires one of them)
        };
        return Ok((eco, name, version, digest, Vec::new()));
    };
    let lock = super::load_any_lockfile(lock_path)?;
    let q = Queries::from_parsed(&lock);
    // NAME, NAME@VERSION, or the full ECOSYSTEM/NAME@VERSION.
    let spec = a.package.as_str();
    let eco_of = |p: &EntryPlan| p.entry.id.ecosystem().attestation_name().to_owned();
    let (eco, rest) = match spec.split_once('/') {
        Some((e, r)) if q.entries.iter().any(|x| eco_of(x) == e) => (Some(e), r),
        _ => (None, spec),
    };
    let (name, version) = match rest.rsplit_once('@') {
        Some((n, v)) if !n.is_empty() => (n, Some(v)),
        _ => (rest, None),
    };
    let found: Vec<&EntryPlan> = q
        .entries
        .iter()
        .filter(|x| x.entry.id.name() == name && eco.is_none_or(|e| eco_of(x) == e))
        .filter(|x| version.is_none_or(|v| x.entry.id.version() == v))
        .collect();
    // The same release at several install paths (npm) is one release.
    let versions: BTreeSet<&str> = found.iter().map(|x| x.entry.id.version()).collect();
    match (found.first(), versions.len()) {
        (Some(one), 1) => entry_release(one, &q),
        (_, 0) => {
            let other: BTreeSet<&str> = q
                .entries
                .iter()
                .filter(|x| x.entry.id.name() == name)
                .map(|x| x.entry.id.version())
                .collect();
            let skipped = q.not_checkable.iter().find(|(p, _)| p.id.name() == name);
            match (other.is_empty(), skipped) {
                (false, _) => bail!(
                    "{} has {name} only at {}; pass --package {name}@VERSION",
                    lock_path.display(),
                    other.into_iter().collect::<Vec<_>>().join(", ")
                ),
                (true, Some((p, why))) => bail!(
                    "{name} {} in {} cannot be reviewed from the lockfile: {why}",
                    p.id.version(),
                    lock_path.display()
                ),
                (true, None) => bail!("{} has no package {name}", lock_path.display()),
            }
        }
        _ => bail!(
            "{} has {name} at {}; pass --package {name}@VERSION",
            lock_path.display(),
            versions.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A lockfile entry as the release to review: the first file's first digest is the
/// primary digest, and every file the entry allows the installer (a PyPI sdist and its
/// wheels) is covered too, each with all its digests, so one review covers the entry.
fn entry_release(p: &EntryPlan, q: &Queries) -> Result<Release> {
    let id = &p.entry.id;
    let (eco, name, version) = (
        id.ecosystem().attestation_name().to_owned(),
        id.name().to_owned(),
        id.version().to_owned(),
    );
    let mut primary = None;
    let mut artifacts: Vec<Artifact> = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &p.files {
        if let Some(why) = &f.unusable {
            eprintln!(
                "warning: {} of {name} {version} is not covered: {why}",
                f.label
            );
            continue;
        }
        let mut digests: Vec<Digest> = f
            .queries
            .iter()
            .map(|&i| q.queries[i].digest)
            .filter(|d| seen.insert(*d))
            .collect();
        digests.sort_by_key(|d| d.algorithm());
        if primary.is_none() && !digests.is_empty() {
            primary = Some(digests.remove(0));
        }
        if !digests.is_empty() {
            artifacts.push(Artifact {
                name: f.label.clone(),
                digests,
            });
        }
    }
    if artifacts.len() > quorate_proto::attestation::MAX_ARTIFACTS {
        bail!(
            "{name} {version} allows {} files, more than one attestation covers ({}); review them with \
             --package and --artifact in several attestations",
            artifacts.len() + 1,
            quorate_proto::attestation::MAX_ARTIFACTS + 1
        );
    }
    Ok((
        eco,
        name,
        version,
        primary.unwrap_or(Digest::Unknown),
        artifacts,
    ))
}

/// `--artifact NAME=DIGEST`s as artifacts: one per name (in the order first given), its
/// digests one per algorithm in ascending order, as the schema wants them.
pub(crate) fn parse_artifacts(args: &[String]) -> Result<Vec<Artifact>> {
    let mut out: Vec<Artifact> = Vec::new();
    for a in args {
        let (name, d) = a
            .split_once('=')
            .filter(|(n, d)| !n.is_empty() && !d.is_empty())
            .ok_or_else(|| anyhow!("--artifact {a:?}: expected NAME=DIGEST, e.g. pkg-1.0-py3-none-any.whl=sha256:HEX"))?;
        let digest = parse_digest(d, false, &format!("--artifact {name}"))?;
        match out.iter_mut().find(|x| x.name == name) {
            Some(x) => {
                if x.digests
                    .iter()
                    .any(|y| y.algorithm() == digest.algorithm())
                {
                    bail!(
                        "--artifact {name}: two {} digests for one file",
                        digest.algorithm().as_str()
                    );
                }
                x.digests.push(digest);
                x.digests.sort_by_key(|y| y.algorithm());
            }
            None => out.push(Artifact {
                name: name.to_owned(),
                digests: vec![digest],
            }),
        }
    }
    Ok(out)
}

/// The verdict the flags ask for, refusing combinations the schema would refuse later
/// with a less helpful message.
fn verdict(a: &ReviewArgs, evidence: &Evidence) -> Result<Verdict> {
    let kind = evidence.kind();
    match (&a.violation, a.informational, kind) {
        (Some(_), _, EvidenceKind::MaintainerChange) => bail!(
            "--violation with --evidence maintainer-change: a maintainer change is an informational signal, \
             never a violation by itself"
        ),
        (None, _, EvidenceKind::MaintainerChange) => Ok(Verdict::Informational),
        (_, true, EvidenceKind::SourceReview) => bail!(
            "--informational with --evidence source-review: a source review certifies or reports a \
             violation; pick the evidence kind the fact is about (--evidence fuzzing, benchmark-delta, ...)"
        ),
        (Some(r), _, _) => Ok(Verdict::Violation { range: r.clone() }),
        (None, true, _) => Ok(Verdict::Informational),
        (None, false, _) => Ok(Verdict::Certify),
    }
}

pub fn review(a: &ReviewArgs) -> Result<ExitCode> {
    let (name, key) = a.sign.load()?;
    let scope = a.sign.scope()?;
    let evidence = a.evidence.evidence()?;
    let verdict = verdict(a, &evidence)?;
    let artifacts = parse_artifacts(&a.artifacts)?;
    let (ecosystem, package, version, digest, from_lock) = release(a)?;
    let mut artifacts = artifacts;
    for x in from_lock {
        if !artifacts.iter().any(|y| y.name == x.name) {
            artifacts.push(x);
        }
    }
    if !digest.is_recorded() && !artifacts.is_empty() {
        bail!("--artifact with --no-digest: name the primary file's digest with --digest first");
    }
    if !digest.is_recorded() && evidence.kind() == EvidenceKind::ReproducibleBuild {
        bail!("--evidence reproducible-build names the rebuilt artifact: give its --digest");
    }
    let delta_from = match &a.delta_from {
        None => None,
        Some(v) => {
            check_version(&ecosystem, v, "--delta-from")?;
            Some(DeltaBase {
                version: v.clone(),
                digest: parse_digest(
                    a.delta_digest.as_deref().unwrap_or("unknown"),
                    a.no_digest,
                    "--delta-digest",
                )?,
            })
        }
    };
    let att = Attestation {
        artifacts,
        scope: Some(scope),
        evidence: Some(evidence),
        reveal: None,
        ecosystem,
        package,
        version,
        digest,
        delta_from,
        criteria: a.sign.criteria.clone(),
        verdict,
        reviewer: Reviewer {
            kind: a.sign.kind(ReviewerKind::Human),
            name,
            public_key: key.verifying_key().to_bytes(),
        },
        organisation: a.sign.org.clone(),
        time: a.sign.time()?,
        notes: a.sign.notes.clone(),
        links: a.sign.links.clone(),
        supersedes: match &a.supersedes {
            None => None,
            Some(h) => Some(Supersedes {
                leaf_hash: parse_hash(h).context("--supersedes")?,
                kind: SupersedeKind::Replace,
            }),
        },
    };
    let ev = att.evidence.as_ref().map(Evidence::kind);
    let what = match (&att.verdict, &att.delta_from) {
        (Verdict::Violation { range }, _) => format!("violation {range} of"),
        (Verdict::Informational, _) => format!(
            "records {} (informational) for",
            ev.map_or("", EvidenceKind::as_str)
        ),
        (_, Some(d)) => format!("delta {} -> {} for", d.version, att.version),
        _ if att.supersedes.is_some() => "replaces an earlier review and certifies".into(),
        _ if ev != Some(EvidenceKind::SourceReview) => {
            format!("certifies ({})", ev.map_or("", EvidenceKind::as_str))
        }
        _ => "certifies".into(),
    };
    attest::finish(&att, &key, &a.sign, &what, "")?;
    Ok(ExitCode::SUCCESS)
}
