//! `quorate review` and `quorate withdraw`: sign an attestation of one release, or the
//! withdrawal of one. Both refuse what would be wrong by accident, since an append-only
//! log keeps a mistake forever: the release comes from the lockfile when one is given,
//! versions must parse in the ecosystem's syntax, a review without a digest must say so
//! (`--no-digest`), and criteria must be known (cargo-vet's built-ins, or declared).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use clap::Args;
use ed25519_dalek::SigningKey;
use quorate_client::check::Queries;
use quorate_client::lockfile::FileDigest;
use quorate_client::{files, keys};
use quorate_proto::attestation::{
    self, Attestation, DeltaBase, Digest, Evidence, Reviewer, ReviewerKind, Scope, SupersedeKind,
    Supersedes, Verdict,
};

use super::{hex, now_secs};

/// cargo-vet's built-in criteria: the ones every review may use without declaring them.
pub const BUILTIN_CRITERIA: [&str; 2] = ["safe-to-deploy", "safe-to-run"];

#[derive(Args)]
pub struct ReviewArgs {
    /// Reviewer secret key file (its key name is the reviewer name)
    #[arg(long, value_name = "SKEYFILE")]
    key: PathBuf,
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
    /// Criterion certified (or violated); repeat for several. cargo-vet's built-in
    /// safe-to-deploy and safe-to-run, or one declared with --criteria-file
    #[arg(long = "criteria", required = true)]
    criteria: Vec<String>,
    /// Declares more criteria: one name per line (`#` comments), or a cargo-vet
    /// audits.toml / config.toml whose `[criteria.NAME]` tables name them
    #[arg(long, value_name = "FILE")]
    criteria_file: Option<PathBuf>,
    /// Delta review: the version the changes were reviewed from
    #[arg(long, value_name = "VERSION", requires = "delta_digest")]
    delta_from: Option<String>,
    /// SHA-256 of the delta's base archive (`unknown` with --no-digest)
    #[arg(long, value_name = "SHA256")]
    delta_digest: Option<String>,
    /// A violation: every version matching RANGE violates the criteria
    #[arg(long, value_name = "RANGE", conflicts_with = "delta_from")]
    violation: Option<String>,
    /// Organisation claimed (informational; the client's policy decides jurisdiction)
    #[arg(long, default_value = "")]
    org: String,
    /// Free-text notes kept in the attestation (what was looked at, caveats)
    #[arg(long, default_value = "")]
    notes: String,
    /// A link (e.g. to the report); repeat for several
    #[arg(long = "link")]
    links: Vec<String>,
    /// Replace the attestation with this leaf hash (hex) by this one (needs --replace;
    /// to take one back without replacing it, use `quorate withdraw`)
    #[arg(long, value_name = "LEAF_HASH", requires = "replace")]
    supersedes: Option<String>,
    /// With --supersedes: this attestation replaces the earlier one
    #[arg(long, requires = "supersedes")]
    replace: bool,
    /// Review time (POSIX seconds); default now
    #[arg(long, hide = true)]
    time: Option<u64>,
    /// Output file (default NAME-VERSION.att; never overwritten)
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_digest(s: &str, no_digest: bool, flag: &str) -> Result<Digest> {
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

/// Criteria a file declares: one per line, or cargo-vet's `[criteria.NAME]` tables.
fn declared_criteria(path: &Path) -> Result<BTreeSet<String>> {
    let text = files::read_text(path)?;
    if let Ok(v) = text.parse::<toml::Table>()
        && let Some(t) = v.get("criteria").and_then(|c| c.as_table())
    {
        return Ok(t.keys().cloned().collect());
    }
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        quorate_client::policy::check_criterion(l)
            .map_err(|e| anyhow!("{} line {}: {e}", path.display(), i + 1))?;
        out.insert(l.to_owned());
    }
    Ok(out)
}

/// Refuses criteria that are neither built in nor declared: a typo such as
/// `safe-to-deplyo` would otherwise be signed into an append-only log for good.
fn check_criteria(criteria: &[String], file: Option<&Path>) -> Result<()> {
    let declared = file.map(declared_criteria).transpose()?.unwrap_or_default();
    for c in criteria {
        if !BUILTIN_CRITERIA.contains(&c.as_str()) && !declared.contains(c) {
            bail!(
                "--criteria {c:?} is not a known criterion: cargo-vet's built-in ones are {}{}; \
                 declare others with --criteria-file FILE",
                BUILTIN_CRITERIA.join(", "),
                if declared.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", and the criteria file declares {}",
                        declared.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                }
            );
        }
    }
    Ok(())
}

/// The release `--package` names: from the lockfile when given, else a full spec.
fn release(a: &ReviewArgs) -> Result<(String, String, String, Digest)> {
    let Some(lock_path) = &a.lock else {
        let (eco, name, version) =
            Attestation::parse_package_spec(&a.package).context("--package")?;
        check_version(&eco, &version, "--package")?;
        let digest = match &a.digest {
            Some(d) => parse_digest(d, a.no_digest, "--digest")?,
            None => Digest::Unknown, // --no-digest (clap requires one of them)
        };
        return Ok((eco, name, version, digest));
    };
    let lock = super::load_any_lockfile(lock_path)?;
    let q = Queries::from_parsed(&lock);
    // NAME, NAME@VERSION, or the full ECOSYSTEM/NAME@VERSION.
    let spec = a.package.as_str();
    let (eco, rest) = match spec.split_once('/') {
        Some((e, r)) if q.queries.iter().any(|x| x.ecosystem == e) => (Some(e), r),
        _ => (None, spec),
    };
    let (name, version) = match rest.rsplit_once('@') {
        Some((n, v)) if !n.is_empty() => (n, Some(v)),
        _ => (rest, None),
    };
    let found: Vec<_> = q
        .queries
        .iter()
        .filter(|x| x.package == name && eco.is_none_or(|e| x.ecosystem == e))
        .filter(|x| version.is_none_or(|v| x.version == v))
        .collect();
    match found.as_slice() {
        [one] => Ok((
            one.ecosystem.clone(),
            one.package.clone(),
            one.version.clone(),
            one.digest,
        )),
        [] => {
            let other: Vec<String> = q
                .queries
                .iter()
                .filter(|x| x.package == name)
                .map(|x| x.version.clone())
                .collect();
            let skipped = q.not_checkable.iter().find(|(p, _)| p.id.name() == name);
            match (other.is_empty(), skipped) {
                (false, _) => bail!(
                    "{} has {name} only at {}; pass --package {name}@VERSION",
                    lock_path.display(),
                    other.join(", ")
                ),
                (true, Some((p, why))) => bail!(
                    "{name} {} in {} cannot be reviewed from the lockfile: {why}",
                    p.id.version(),
                    lock_path.display()
                ),
                (true, None) => bail!("{} has no package {name}", lock_path.display()),
            }
        }
        many => bail!(
            "{} has {name} at {}; pass --package {name}@VERSION",
            lock_path.display(),
            many.iter()
                .map(|x| x.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn default_out(package: &str, version: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}-{}.att",
        keys::file_stem_for(package),
        keys::file_stem_for(version)
    ))
}

/// Signs, checks the signature, writes the envelope (never overwriting); returns its
/// leaf hash.
fn sign_and_write(att: &Attestation, key: &SigningKey, out: &Path) -> Result<String> {
    let env = attestation::sign(att, key).context("signing the attestation")?;
    let v = attestation::verify(&env).context("verifying the signed attestation")?;
    files::create_new(out, &env, false)?;
    Ok(hex(v.leaf_hash()))
}

fn org_suffix(org: &str) -> String {
    if org.is_empty() {
        String::new()
    } else {
        format!(" ({org})")
    }
}

pub fn review(a: &ReviewArgs) -> Result<ExitCode> {
    let (name, key) = keys::load_reviewer_key(&a.key)?;
    check_criteria(&a.criteria, a.criteria_file.as_deref())?;
    let (ecosystem, package, version, digest) = release(a)?;
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
    let verdict = match &a.violation {
        Some(r) => Verdict::Violation { range: r.clone() },
        None => Verdict::Certify,
    };
    let att = Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem,
        package,
        version,
        digest,
        delta_from,
        criteria: a.criteria.clone(),
        verdict,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: name.clone(),
            public_key: key.verifying_key().to_bytes(),
        },
        organisation: a.org.clone(),
        time: match a.time {
            Some(t) => t,
            None => now_secs()?,
        },
        notes: a.notes.clone(),
        links: a.links.clone(),
        supersedes: match &a.supersedes {
            None => None,
            Some(h) => Some(Supersedes {
                leaf_hash: parse_hash(h).context("--supersedes")?,
                kind: SupersedeKind::Replace,
            }),
        },
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&att.package, &att.version));
    let leaf = sign_and_write(&att, &key, &out)?;
    let what = match (&att.verdict, &att.delta_from) {
        (Verdict::Violation { range }, _) => format!("violation {range} of"),
        (_, Some(d)) => format!("delta {} -> {} for", d.version, att.version),
        _ if att.supersedes.is_some() => "replaces an earlier review and certifies".into(),
        _ => "certifies".into(),
    };
    println!(
        "{} {what} {}/{}@{} ({}) {} by {name}{}",
        out.display(),
        att.ecosystem,
        att.package,
        att.version,
        att.digest,
        att.criteria.join(", "),
        org_suffix(&att.organisation)
    );
    println!("leaf hash {leaf}");
    Ok(ExitCode::SUCCESS)
}
