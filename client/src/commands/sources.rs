//! `mirror`, `check`, `bundle` and `gaps`: the commands that read the logs through one
//! verified view per log (a live mirror or an offline bundle).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, anyhow};
use clap::Args;
use quorate_client::check::{self, Queries, Report};
use quorate_client::lockfile::ParsedLockfile;
use quorate_client::mirror::{self, MirrorOptions};
use quorate_client::net::{self};
use quorate_client::policy::Policy;
use quorate_client::quorum::Evaluator;
use quorate_client::{bundle, bundle_manifest, files, keys};

use super::{load_any_lockfile, load_policy, now_secs};

#[derive(Args, Clone)]
pub struct SourceArgs {
    /// Policy file (default: ./quorate.policy)
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// Mirror cache directory (default: ~/.cache/quorate/mirror)
    #[arg(long)]
    pub(crate) cache: Option<PathBuf>,
    /// Use the mirror cache only; fetch nothing
    #[arg(long)]
    pub(crate) offline: bool,
    /// Time budget per log, in seconds: a log (or the path to it) that has not delivered
    /// a verified view by then is reported unproven and the others decide
    #[arg(long, value_name = "SECS", default_value_t = net::DEFAULT_LOG_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) log_timeout: u64,
    /// Evaluate at this time (POSIX seconds) instead of now
    #[arg(long, hide = true)]
    pub(crate) now: Option<u64>,
}

impl SourceArgs {
    pub(crate) fn cache(&self) -> Result<PathBuf> {
        match &self.cache {
            Some(c) => Ok(c.clone()),
            None => mirror::default_cache_dir()
                .ok_or_else(|| anyhow!("no cache directory (HOME unset); pass --cache DIR")),
        }
    }
    pub(crate) fn now(&self) -> Result<u64> {
        match self.now {
            Some(t) => Ok(t),
            None => now_secs(),
        }
    }
    pub(crate) fn sync(&self, policy: &Policy, quiet: bool) -> Result<mirror::Mirror> {
        let m = mirror::sync(
            policy,
            &MirrorOptions {
                cache: self.cache()?,
                offline: self.offline,
                progress: !quiet,
                limits: net::Limits::with_budget(Duration::from_secs(self.log_timeout)),
            },
        );
        Ok(m)
    }
}

#[derive(Args)]
pub struct MirrorArgs {
    #[command(flatten)]
    src: SourceArgs,
    /// Print one JSON document (per log: origin, jurisdiction, size, entries, state)
    /// instead of the lines
    #[arg(long)]
    json: bool,
}

/// What went wrong per log: unproven logs first (their jurisdiction's vote is missing,
/// the other jurisdictions decide), then lesser problems, then equivocation evidence.
pub(crate) fn mirror_warnings(policy: &Policy, m: &mirror::Mirror) -> Vec<String> {
    let mut w = Vec::new();
    for l in &m.logs {
        if let Some(why) = &l.unproven {
            w.push(format!(
                "log {} ({}) is unproven, its vote is missing: {why}",
                l.origin,
                policy
                    .jurisdiction_of(&l.origin)
                    .unwrap_or("no jurisdiction")
            ));
        }
    }
    for l in &m.logs {
        if let Some((why, size)) = &l.not_refreshed {
            w.push(format!(
                "log {} ({}) could not be refreshed: {why}; using the cached checkpoint of size {size}",
                l.origin,
                policy
                    .jurisdiction_of(&l.origin)
                    .unwrap_or("no jurisdiction")
            ));
        }
    }
    for l in &m.logs {
        for x in &l.warnings {
            w.push(format!("{}: {x}", l.origin));
        }
    }
    w.extend(m.warnings.iter().cloned());
    for (o, evs) in &m.equivocations {
        w.push(format!(
            "{o}: {} piece(s) of verified equivocation evidence: nothing from this log counts",
            evs.len()
        ));
    }
    w
}

pub fn mirror(a: &MirrorArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let m = a.src.sync(&policy, a.json)?;
    let warnings = mirror_warnings(&policy, &m);
    // A log with no verified checkpoint, or only an old cached one, was not mirrored.
    let bad = m
        .logs
        .iter()
        .any(|l| l.checkpoint.is_none() || l.not_refreshed.is_some())
        || !m.equivocations.is_empty();
    if a.json {
        let logs: Vec<serde_json::Value> = m
            .logs
            .iter()
            .map(|l| {
                serde_json::json!({
                    "origin": l.origin,
                    "jurisdiction": policy.jurisdiction_of(&l.origin),
                    "size": l.tree.size(),
                    "entries": l.entries.len(),
                    "fetched": l.fetched,
                    "state": log_state(l),
                    "reason": l.unproven.as_ref().or(l.not_refreshed.as_ref().map(|x| &x.0)),
                    "equivocations": m.equivocations.get(&l.origin).map_or(0, Vec::len),
                })
            })
            .collect();
        let doc = serde_json::json!({"logs": logs, "warnings": warnings, "ok": !bad});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for l in &m.logs {
            println!(
                "{}: {} entries{}",
                l.origin,
                l.entries.len(),
                match log_state(l) {
                    "unproven" => " (no verified checkpoint)",
                    "cached" => " (not refreshed: the cached checkpoint)",
                    _ => "",
                }
            );
        }
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `mirrored`, `cached` (not refreshed, an older verified checkpoint used) or
/// `unproven` (nothing usable).
fn log_state(l: &mirror::LogMirror) -> &'static str {
    if l.checkpoint.is_none() {
        "unproven"
    } else if l.not_refreshed.is_some() {
        "cached"
    } else {
        "mirrored"
    }
}

/// `check --format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// The cargo-style table
    Table,
    /// One JSON document
    Json,
    /// SARIF 2.1.0, for code-scanning UIs
    Sarif,
}

#[derive(Args)]
pub struct CheckArgs {
    /// The lockfile or SBOM: Cargo.lock, package-lock.json, npm-shrinkwrap.json, uv.lock,
    /// poetry.lock, pylock.toml, requirements.txt, go.sum, gradle.lockfile, CycloneDX or
    /// SPDX JSON (detected by name and content; default: ./Cargo.lock)
    lockfile: Option<PathBuf>,
    #[command(flatten)]
    src: SourceArgs,
    /// Decide from this offline bundle (see `quorate bundle`) instead of the mirror. A
    /// bundle proves every entry in it but cannot prove that none was left out
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Trust this maker (note verifier key, or a file holding it) for the bundle's
    /// completeness: its signed manifest must verify under the key and match the bundle
    /// exactly, or check refuses (exit 2)
    #[arg(long, value_name = "VKEY", requires = "bundle")]
    bundle_maker: Option<String>,
    /// Print one JSON document instead of the table (same as --format json)
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: CheckFormat,
    /// List failing packages only
    #[arg(long, conflicts_with = "verbose")]
    failures_only: bool,
    /// Every reason for every package, and the packages not checked
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    vsa: super::vsa::VsaArgs,
}

/// Builds the evaluator's inputs from a bundle or the mirror and evaluates. From a
/// bundle, the report says what the bundle cannot prove and who (if anyone) vouches for
/// its completeness; with `maker`, a manifest that does not verify is an error.
pub(crate) fn evaluate(
    policy: &Policy,
    lock: &ParsedLockfile,
    src: &SourceArgs,
    bundle_dir: Option<&Path>,
    maker: Option<&str>,
    quiet: bool,
) -> Result<Report> {
    let q = Queries::from_parsed(lock);
    let mut r = evaluate_queries(policy, &q, src, bundle_dir, maker, quiet)?;
    r.warnings.extend(lock.notes.iter().cloned());
    Ok(r)
}

/// [`evaluate`] for given queries.
pub(crate) fn evaluate_queries(
    policy: &Policy,
    q: &Queries,
    src: &SourceArgs,
    bundle_dir: Option<&Path>,
    maker: Option<&str>,
    quiet: bool,
) -> Result<Report> {
    let v = load_view(policy, &Some(q.wanted()), src, bundle_dir, maker, quiet)?;
    let mut r = Report::evaluate(&v.ev, q, src.now()?, v.warnings);
    r.bundle = v.bundle_notes;
    Ok(r)
}

/// The evaluator loaded with every verified entry for `wanted` packages, from a bundle or
/// the mirror, and what the source had to say.
pub(crate) struct View<'p> {
    pub ev: Evaluator<'p>,
    pub warnings: Vec<String>,
    pub bundle_notes: Vec<String>,
}

/// Builds the evaluator's inputs from a bundle or the mirror. From a bundle, the notes
/// say what the bundle cannot prove and who (if anyone) vouches for its completeness;
/// with `maker`, a manifest that does not verify is an error.
pub(crate) fn load_view<'p>(
    policy: &'p Policy,
    wanted: &mirror::Wanted,
    src: &SourceArgs,
    bundle_dir: Option<&Path>,
    maker: Option<&str>,
    quiet: bool,
) -> Result<View<'p>> {
    let mut ev = Evaluator::new(policy);
    let mut warnings = Vec::new();
    let mut bundle_notes = Vec::new();
    match bundle_dir {
        Some(d) => {
            let maker = maker.map(keys::load_ed25519_verifier).transpose()?;
            let vouched = bundle_manifest::vouched(d, policy, maker.as_ref())?;
            let l = bundle::load_into(d, &mut ev, wanted)?;
            warnings.extend(l.warnings);
            bundle_notes.push(bundle_manifest::CANNOT_PROVE.to_owned());
            bundle_notes.push(vouched.describe());
        }
        None => {
            let m = src.sync(policy, quiet)?;
            warnings.extend(mirror_warnings(policy, &m));
            mark_unreachable(&m, &mut ev);
            let st = mirror::load_into(&m, &mut ev, wanted);
            warnings.extend(st.warnings);
            if st.invalid > 0 {
                warnings.push(format!(
                    "{} log entries did not verify and were ignored{}",
                    st.invalid,
                    if st.refused.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", st.refused.join("; "))
                    }
                ));
            }
        }
    }
    Ok(View {
        ev,
        warnings,
        bundle_notes,
    })
}

/// Tells the evaluator which logs this sync could not reach, so that a jurisdiction
/// missing because of them is explained as such.
pub(crate) fn mark_unreachable(m: &mirror::Mirror, ev: &mut Evaluator<'_>) {
    for l in &m.logs {
        if let Some(why) = &l.unproven {
            ev.mark_unreachable(&l.origin, why, None);
        } else if let Some((why, size)) = &l.not_refreshed {
            ev.mark_unreachable(&l.origin, why, Some(*size));
        }
    }
}

pub fn check(a: &CheckArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock_path = a
        .lockfile
        .clone()
        .unwrap_or_else(|| PathBuf::from("Cargo.lock"));
    let lock = load_any_lockfile(&lock_path)?;
    let policy_path = a
        .src
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(super::DEFAULT_POLICY));
    let vsa = a.vsa.writer(&policy_path)?;
    let format = if a.json { CheckFormat::Json } else { a.format };
    let r = evaluate(
        &policy,
        &lock,
        &a.src,
        a.bundle.as_deref(),
        a.bundle_maker.as_deref(),
        format != CheckFormat::Table,
    )?;
    if format == CheckFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&check::render_json(&r, &policy))?
        );
    } else if format == CheckFormat::Sarif {
        // Read again only for line numbers; the decision used the text read above.
        let text = std::fs::read_to_string(&lock_path).unwrap_or_default();
        let sarif = check::sarif::render_sarif(&r, &policy, &lock_path.to_string_lossy(), &text);
        println!("{}", serde_json::to_string_pretty(&sarif)?);
    } else {
        let detail = if a.failures_only {
            check::Detail::FailuresOnly
        } else if a.verbose {
            check::Detail::Verbose
        } else {
            check::Detail::Normal
        };
        print!("{}", check::render_table(&r, &policy, detail));
    }
    if let Some(w) = &vsa {
        let n = w.write(&r, &policy, &crate::format_utc(a.src.now()?))?;
        eprintln!(
            "wrote {n} verification summary attestations to {}",
            w.dir().display()
        );
    }
    Ok(if r.all_pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Args)]
pub struct BundleArgs {
    /// The lockfile whose packages to bundle
    lockfile: PathBuf,
    /// Output directory
    #[arg(long)]
    out: PathBuf,
    /// Sign a manifest (who made the bundle, from which checkpoints, which entries) with
    /// this note secret key (`quorate key`), so users can choose to trust you for its
    /// completeness (`check --bundle-maker VKEY`). Without it the bundle is unsigned
    #[arg(long, value_name = "KEYFILE")]
    sign: Option<PathBuf>,
    /// Store each log's entries in one file (`entries.pack`, "quorate-bundle v2") instead
    /// of two files per entry: faster to check and copy; clients that predate v2 refuse it
    /// by its version marker instead of misreading it
    #[arg(long)]
    packed: bool,
    #[command(flatten)]
    src: SourceArgs,
    /// Print one JSON document instead of the summary line
    #[arg(long)]
    json: bool,
}

pub fn bundle(a: &BundleArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock = load_any_lockfile(&a.lockfile)?;
    let q = Queries::from_parsed(&lock);
    let m = a.src.sync(&policy, a.json)?;
    let warnings = mirror_warnings(&policy, &m);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    // A log missing from the bundle (or only in an old cached state) is that
    // jurisdiction's vote missing for whoever checks it: written, but not success.
    let incomplete: Vec<&str> = m
        .logs
        .iter()
        .filter(|l| l.unproven.is_some() || l.not_refreshed.is_some())
        .map(|l| l.origin.as_str())
        .collect();
    let signer = a.sign.as_deref().map(keys::load_signer).transpose()?;
    let layout = if a.packed {
        bundle::Layout::Packed
    } else {
        bundle::Layout::Files
    };
    let w = bundle::write_from_mirror(&m, &Some(q.wanted()), &a.out, layout)?;
    let signed_by = match &signer {
        Some(s) => {
            let manifest =
                bundle_manifest::Manifest::from_written(s.name(), a.src.now()?, q.wanted(), &w)
                    .map_err(anyhow::Error::msg)?;
            bundle_manifest::write(&a.out, &manifest.sign(s)?)?;
            Some(s.name().to_owned())
        }
        None => None,
    };
    if a.json {
        let doc = serde_json::json!({
            "out": a.out.display().to_string(),
            "logs": w.logs,
            "entries": w.entries,
            "equivocations": w.equivocations,
            "signed_by": signed_by,
            "incomplete": incomplete,
            "warnings": warnings,
            "ok": incomplete.is_empty(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "wrote {}: {} logs, {} entries with tlog-proofs, {} equivocation evidence files{}",
            a.out.display(),
            w.logs,
            w.entries,
            w.equivocations,
            match &signed_by {
                Some(n) => format!("; manifest signed by {n}"),
                None => "; unsigned (no --sign): nobody vouches that it is complete".to_owned(),
            }
        );
    }
    if !incomplete.is_empty() {
        eprintln!(
            "error: {} log(s) could not be mirrored now, so the bundle lacks them or holds an older cached state: {}",
            incomplete.len(),
            incomplete.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct GapsArgs {
    /// The lockfile whose packages to rank (any format `check` reads)
    lockfile: PathBuf,
    #[command(flatten)]
    src: SourceArgs,
    /// Decide from this offline bundle (see `quorate bundle`) instead of the mirror
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Print one JSON document instead of the table
    #[arg(long)]
    json: bool,
}

pub fn gaps(a: &GapsArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let text = files::read_text(&a.lockfile)?;
    let lock = load_any_lockfile(&a.lockfile)?;
    let r = evaluate(&policy, &lock, &a.src, a.bundle.as_deref(), None, a.json)?;
    let gs = quorate_client::gaps::gaps(&r, &quorate_client::dependents::count(&text));
    if a.json {
        let doc = quorate_client::gaps::render_json(&r.warnings, &gs);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", quorate_client::gaps::render(&r.warnings, &gs));
    }
    Ok(ExitCode::SUCCESS)
}
