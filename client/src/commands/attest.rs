//! What every attestation-signing command shares (`review`, `evidence archive-vs-source`,
//! `evidence rebuild`): the reviewer's key, kind and organisation, the criteria, the
//! scope, free text, and the last step: sign and write the attestation, or, with
//! `--seal`, a sealed commitment and the seal file that reveals it later
//! ([`super::seal`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use ed25519_dalek::SigningKey;
use quorate_client::{files, keys};
use quorate_proto::attestation::{self, Attestation, ReviewerKind, Scope};

use super::{hex, now_secs};

/// cargo-vet's built-in criteria: the ones every review may use without declaring them.
pub const BUILTIN_CRITERIA: [&str; 2] = ["safe-to-deploy", "safe-to-run"];

/// `--reviewer-kind`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A person read the code
    Human,
    /// An automated tool (scanner, rebuilder, fuzzing farm, archive comparison)
    Tool,
    /// A language-model agent
    LlmAgent,
}

impl From<KindArg> for ReviewerKind {
    fn from(k: KindArg) -> ReviewerKind {
        match k {
            KindArg::Human => ReviewerKind::Human,
            KindArg::Tool => ReviewerKind::Tool,
            KindArg::LlmAgent => ReviewerKind::LlmAgent,
        }
    }
}

/// `--scope`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Everything the covered artifacts contain was examined
    Full,
    /// Parts were left out (name them with --omitted, say why with --scope-reason)
    Partial,
}

#[derive(Args)]
pub struct SignArgs {
    /// Reviewer secret key file (its key name is the reviewer name)
    #[arg(long, value_name = "SKEYFILE")]
    pub key: PathBuf,
    /// Criterion certified (or violated); repeat for several. cargo-vet's built-in
    /// safe-to-deploy and safe-to-run, or one declared with --criteria-file
    #[arg(long = "criteria", required = true)]
    pub criteria: Vec<String>,
    /// Declares more criteria: one name per line (`#` comments), or a cargo-vet
    /// audits.toml / config.toml whose `[criteria.NAME]` tables name them
    #[arg(long, value_name = "FILE")]
    pub criteria_file: Option<PathBuf>,
    /// Who or what made the review (default: human for `review`, tool for `evidence`)
    #[arg(long, value_enum, value_name = "KIND")]
    pub reviewer_kind: Option<KindArg>,
    /// How much of the covered artifacts was examined
    #[arg(long, value_enum, default_value = "full")]
    pub scope: ScopeArg,
    /// With --scope partial: a part that was left out (a path, a module, a feature);
    /// repeat for several
    #[arg(long = "omitted", value_name = "WHAT")]
    pub omitted: Vec<String>,
    /// With --scope partial: why those parts were left out
    #[arg(long, value_name = "TEXT")]
    pub scope_reason: Option<String>,
    /// Organisation claimed (informational; the client's policy decides jurisdiction)
    #[arg(long, default_value = "")]
    pub org: String,
    /// Free-text notes kept in the attestation (what was looked at, caveats)
    #[arg(long, default_value = "")]
    pub notes: String,
    /// A link (e.g. to the report); repeat for several
    #[arg(long = "link")]
    pub links: Vec<String>,
    /// Sign a sealed commitment instead (content hidden until `quorate reveal`); the
    /// content and its salt go to a seal file (mode 0600) that you must keep secret and safe
    #[arg(long)]
    pub seal: bool,
    /// With --seal: where to write the seal file (default: the output file with `.seal`)
    #[arg(long, value_name = "FILE", requires = "seal")]
    pub seal_file: Option<PathBuf>,
    /// Review time (POSIX seconds); default now
    #[arg(long, hide = true)]
    pub time: Option<u64>,
    /// Output file (default NAME-VERSION.att, or NAME-VERSION-sealed.att with --seal;
    /// never overwritten)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl SignArgs {
    pub fn time(&self) -> Result<u64> {
        match self.time {
            Some(t) => Ok(t),
            None => now_secs(),
        }
    }

    pub fn kind(&self, default: ReviewerKind) -> ReviewerKind {
        self.reviewer_kind.map_or(default, ReviewerKind::from)
    }

    /// The scope the flags describe; a partial scope must say what and why, a full one
    /// neither.
    pub fn scope(&self) -> Result<Scope> {
        match self.scope {
            ScopeArg::Full => {
                if !self.omitted.is_empty() || self.scope_reason.is_some() {
                    bail!(
                        "--omitted and --scope-reason describe a partial review: pass --scope partial, \
                         or drop them for a full one"
                    );
                }
                Ok(Scope::Full)
            }
            ScopeArg::Partial => {
                if self.omitted.is_empty() {
                    bail!(
                        "--scope partial needs at least one --omitted WHAT naming what was left out"
                    );
                }
                let reason = self
                    .scope_reason
                    .clone()
                    .filter(|r| !r.trim().is_empty())
                    .ok_or_else(|| {
                        anyhow!("--scope partial needs --scope-reason TEXT saying why")
                    })?;
                Ok(Scope::Partial {
                    omitted: self.omitted.clone(),
                    reason,
                })
            }
        }
    }

    /// Loads the key and refuses unknown criteria before anything is built.
    pub fn load(&self) -> Result<(String, SigningKey)> {
        let k = keys::load_reviewer_key(&self.key)?;
        check_criteria(&self.criteria, self.criteria_file.as_deref())?;
        Ok(k)
    }
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

pub fn default_out(package: &str, version: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}-{}{suffix}.att",
        keys::file_stem_for(package),
        keys::file_stem_for(version)
    ))
}

/// Signs, checks the signature, writes the envelope (never overwriting); returns its
/// leaf hash.
pub fn sign_and_write(att: &Attestation, key: &SigningKey, out: &Path) -> Result<String> {
    let env = attestation::sign(att, key).context("signing the attestation")?;
    let v = attestation::verify(&env).context("verifying the signed attestation")?;
    files::create_new(out, &env, false)?;
    Ok(hex(v.leaf_hash()))
}

pub fn org_suffix(org: &str) -> String {
    if org.is_empty() {
        String::new()
    } else {
        format!(" ({org})")
    }
}

/// The last step of every signing command: without `--seal`, sign `att` and write it
/// (printing `FILE WHAT ECO/NAME@VERSION (DIGEST) CRITERIA by NAME (ORG)` and its leaf
/// hash); with `--seal`, write the commitment and the seal file instead.
pub fn finish(
    att: &Attestation,
    key: &SigningKey,
    s: &SignArgs,
    what: &str,
    suffix: &str,
) -> Result<()> {
    if s.seal {
        let out = s
            .out
            .clone()
            .unwrap_or_else(|| default_out(&att.package, &att.version, "-sealed"));
        return super::seal::seal(att, key, &out, s.seal_file.as_deref(), s.time()?);
    }
    let out = s
        .out
        .clone()
        .unwrap_or_else(|| default_out(&att.package, &att.version, suffix));
    let leaf = sign_and_write(att, key, &out)?;
    println!(
        "{} {what} {}/{}@{} ({}) {} by {}{}",
        out.display(),
        att.ecosystem,
        att.package,
        att.version,
        att.digest,
        att.criteria.join(", "),
        att.reviewer.name,
        org_suffix(&att.organisation)
    );
    println!("leaf hash {leaf}");
    Ok(())
}
