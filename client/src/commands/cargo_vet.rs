//! `import cargo-vet`, `import crev`, `import ossf-security-reviews` and `export cargo-vet`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use quorate_client::cargo_vet::{self, AuditsFile, ImportOptions};
use quorate_client::crates_index::{self, CratesIndex};
use quorate_client::net::Node;
use quorate_client::submit::{self, Logged};
use quorate_client::{files, keys};
use quorate_proto::attestation::{self, Attestation, Digest};

use super::sources::{SourceArgs, evaluate};
use super::submit::log_key_for;
use super::{hex, load_lockfile, load_policy, now_secs};

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Sign the audits of a cargo-vet audits.toml and submit them (or write them out)
    CargoVet(ImportArgs),
    /// Sign the package reviews of a cargo-crev proofs directory (each proof's crev
    /// signature checked first; a proof that does not verify is refused and makes the
    /// import exit 1) and submit them (or write them out). Mapping: specs/cli.md
    Crev(ImportArgs),
    /// Sign the OpenSSF security-reviews under a directory (markdown with front matter)
    /// and submit them (or write them out). Mapping: specs/cli.md
    OssfSecurityReviews(ImportArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    /// The audits.toml (cargo-vet), the proofs directory (crev), or the reviews directory
    /// (ossf-security-reviews)
    audits: PathBuf,
    /// Reviewer secret key to sign with
    #[arg(long, value_name = "SKEYFILE")]
    key: PathBuf,
    /// Organisation recorded in every attestation
    #[arg(long)]
    org: String,
    /// Lockfile to take archive digests from. Each digest an audit uses is first
    /// cross-checked against the crates.io index (--index) and the import refuses, signing
    /// nothing, if the index records a different digest. When the index cannot be reached
    /// (or, with --offline, has nothing cached), the lockfile's digest is what gets
    /// certified, unchecked, and the import says so
    #[arg(long)]
    lock: Option<PathBuf>,
    /// Submit to this node
    #[arg(long, required_unless_present = "out")]
    node: Option<String>,
    /// The node's log vkey, to verify returned checkpoints
    #[arg(long, value_name = "VKEY")]
    log: Option<String>,
    /// A policy whose review-log URL matches --node supplies the log key
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Write envelopes into this directory instead of (or as well as) submitting
    #[arg(long)]
    out: Option<PathBuf>,
    /// Digests not in the lockfile come from the crates.io index cache only
    #[arg(long)]
    offline: bool,
    /// crates.io index cache (default: ~/.cache/quorate/crates-index)
    #[arg(long)]
    index_cache: Option<PathBuf>,
    /// Sparse index to read digests from (a crates.io mirror)
    #[arg(long, value_name = "URL", default_value = crates_index::CRATES_IO_SPARSE)]
    index: String,
    #[arg(long, hide = true)]
    time: Option<u64>,
}

/// What an import read, before digests are known.
enum ImportInput {
    Vet(AuditsFile),
    Crev(quorate_client::crev::ProofSet),
    Ossf(quorate_client::ossf::ReviewSet),
}

pub fn import(c: &ImportCommand) -> Result<ExitCode> {
    let a = match c {
        ImportCommand::CargoVet(a)
        | ImportCommand::Crev(a)
        | ImportCommand::OssfSecurityReviews(a) => a,
    };
    let (_, key) = keys::load_reviewer_key(&a.key)?;
    let (input, named) = match c {
        ImportCommand::CargoVet(_) => {
            let text = files::read_text(&a.audits)?;
            let audits =
                AuditsFile::parse(&text).map_err(|e| anyhow!("{}: {e}", a.audits.display()))?;
            let named = audited_versions(&audits);
            (ImportInput::Vet(audits), named)
        }
        ImportCommand::Crev(_) => {
            let set = quorate_client::crev::read_dir(&a.audits)?;
            let named = quorate_client::crev::named_versions(&set);
            (ImportInput::Crev(set), named)
        }
        ImportCommand::OssfSecurityReviews(_) => {
            let set = quorate_client::ossf::read_dir(&a.audits)?;
            let named = quorate_client::ossf::named_crates(&set);
            (ImportInput::Ossf(set), named)
        }
    };
    let mut digests: BTreeMap<(String, String), Digest> = match &a.lock {
        Some(l) => load_lockfile(l)?.crates_io_digests(),
        None => BTreeMap::new(),
    };
    let mut index = CratesIndex::with_base(
        &a.index,
        a.index_cache
            .clone()
            .or_else(CratesIndex::default_cache_dir),
    )
    .offline(a.offline);
    let mut index_down = false;
    if let Some(lock) = &a.lock {
        index_down = cross_check_lockfile(&mut index, lock, &named, &digests, a.offline)?;
    }
    // Versions the reviews name that the lockfile does not: ask the crates.io index.
    let mut unknown = 0usize;
    let mut index_errors = 0usize;
    for k in named {
        if digests.contains_key(&k) {
            continue;
        }
        if index_down {
            index_errors += 1;
            continue;
        }
        match index.digest(&k.0, &k.1) {
            Ok(Some(d)) => {
                digests.insert(k, Digest::Sha256(d));
            }
            Ok(None) => unknown += 1,
            Err(_) => index_errors += 1,
        }
    }
    let time = match a.time {
        Some(t) => t,
        None => now_secs()?,
    };
    let reviewer_key = key.verifying_key().to_bytes();
    let mut refused: Vec<(String, String)> = Vec::new();
    let (attestations, skipped, what): (Vec<Attestation>, Vec<(String, String)>, &str) = match input
    {
        ImportInput::Vet(audits) => {
            let opts = ImportOptions {
                organisation: a.org.clone(),
                reviewer_key,
                time,
                digests: &digests,
            };
            let imported = cargo_vet::import(&audits, &opts);
            let skipped = imported
                .skipped
                .iter()
                .map(|s| (format!("{} #{}", s.package, s.entry), s.reason.clone()))
                .collect();
            (imported.attestations, skipped, "audits")
        }
        ImportInput::Crev(set) => {
            eprintln!(
                "read {} proof files: {} package reviews verified ({} replaced by a newer one), {} trust proofs, {} refused",
                set.files,
                set.reviews.len() + set.superseded,
                set.superseded,
                set.trust,
                set.refused.len()
            );
            refused = set.refused.clone();
            let opts = quorate_client::crev::ImportOptions {
                organisation: a.org.clone(),
                reviewer_key,
                digests: &digests,
            };
            let imported = quorate_client::crev::to_attestations(&set, &opts);
            (
                imported.attestations,
                imported.skipped,
                "crev package reviews",
            )
        }
        ImportInput::Ossf(set) => {
            for (f, why) in &set.refused {
                eprintln!("  not a review: {f}: {why}");
            }
            let opts = quorate_client::ossf::ImportOptions {
                organisation: a.org.clone(),
                reviewer_key,
                digests: &digests,
            };
            let imported = quorate_client::ossf::to_attestations(&set, &opts);
            (
                imported.attestations,
                imported.skipped,
                "OpenSSF reviewed releases",
            )
        }
    };
    let mut envs = Vec::with_capacity(attestations.len());
    for att in &attestations {
        envs.push(attestation::sign(att, &key).context("signing")?);
    }
    eprintln!(
        "imported {} {what} as attestations ({} skipped; {} versions without a known digest{})",
        envs.len(),
        skipped.len(),
        unknown,
        if index_errors > 0 {
            format!(", {index_errors} index lookups failed")
        } else {
            String::new()
        }
    );
    for (what, why) in &skipped {
        eprintln!("  skipped {what}: {why}");
    }
    for (at, why) in &refused {
        eprintln!("error: refused {at}: {why}");
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (att, env) in attestations.iter().zip(&envs) {
            let name = format!(
                "{}-{}-{}.att",
                keys::file_stem_for(&att.package),
                keys::file_stem_for(&att.version),
                &hex(&quorate_proto::merkle::leaf_hash(env))[..16]
            );
            std::fs::write(dir.join(&name), env)
                .with_context(|| format!("writing {}", dir.join(&name).display()))?;
        }
        println!("wrote {} attestations to {}", envs.len(), dir.display());
    }
    if let Some(url) = &a.node {
        let key = log_key_for(url, a.log.as_deref(), a.policy.as_deref())?;
        let results = submit::submit_all(&Node::new(url), &envs, key.as_ref());
        let labels: Vec<String> = attestations
            .iter()
            .map(|att| format!("{}@{}", att.package, att.version))
            .collect();
        let ok: Vec<&Logged> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter(|l| l.wrong_log_key.is_none())
            .collect();
        let failed = results.len() - ok.len();
        for (label, r) in labels.iter().zip(&results) {
            match r {
                Err(e) => eprintln!("{label}: not logged: {e}"),
                Ok(l) if l.wrong_log_key.is_some() => eprintln!(
                    "{label}: logged at index {}, but the checkpoint does not verify under the log key you gave: {}",
                    l.index,
                    l.wrong_log_key.as_deref().unwrap_or_default()
                ),
                Ok(_) => {}
            }
        }
        println!(
            "submitted {} attestations to {url}: {} logged ({} already present), {} failed; every inclusion proof verified{}",
            results.len(),
            ok.len(),
            ok.iter().filter(|l| l.duplicate).count(),
            failed,
            if key.is_some() {
                " under the log key"
            } else {
                " (log signature NOT checked: pass --log or --policy)"
            }
        );
        if failed > 0 {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every (crate, version) an audits file names, delta endpoints included.
fn audited_versions(audits: &AuditsFile) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (pkg, entries) in &audits.audits {
        for e in entries {
            let mut vs: Vec<String> = e.version.iter().cloned().collect();
            if let Some(d) = &e.delta
                && let Some((f, t)) = d.split_once("->")
            {
                vs.push(f.trim().to_owned());
                vs.push(t.trim().to_owned());
            }
            for v in vs {
                out.insert((pkg.clone(), v.trim().to_owned()));
            }
        }
    }
    out
}

/// Holds the lockfile digests the audits use against the index. A mismatch refuses the
/// import (nothing signed); an index that cannot be read is a warning, and the lockfile's
/// digests are certified as they stand. Returns whether the index was unreachable.
fn cross_check_lockfile(
    index: &mut CratesIndex,
    lock: &Path,
    named: &BTreeSet<(String, String)>,
    digests: &BTreeMap<(String, String), Digest>,
    offline: bool,
) -> Result<bool> {
    let to_check: Vec<(&str, &str, &[u8; 32])> = named
        .iter()
        .filter_map(|k| match digests.get(k) {
            Some(Digest::Sha256(d)) => Some((k.0.as_str(), k.1.as_str(), d)),
            _ => None,
        })
        .collect();
    let total = to_check.len();
    let cc = index.cross_check(to_check);
    if !cc.mismatches.is_empty() {
        let mut msg = format!(
            "the crates.io index at {} contradicts {}; nothing was signed:",
            index.base(),
            lock.display()
        );
        for m in &cc.mismatches {
            msg.push_str(&format!(
                "\n  {} {}: lockfile sha256 {}, index sha256 {}",
                m.name,
                m.version,
                hex(&m.lockfile),
                hex(&m.index)
            ));
        }
        bail!(msg);
    }
    let unchecked = total - cc.agreed - cc.absent.len();
    if let Some(e) = &cc.unreachable {
        eprintln!(
            "warning: cannot read the crates.io index ({e}); {unchecked} of {total} lockfile \
             digests were not cross-checked: what gets certified is {} as it stands",
            lock.display()
        );
        return Ok(true);
    }
    eprintln!(
        "cross-checked {} lockfile digests against {}{}: all agree{}",
        cc.agreed,
        index.base(),
        if offline {
            " (cached copy, --offline)"
        } else {
            ""
        },
        if cc.absent.is_empty() {
            String::new()
        } else {
            format!(
                "; {} not in the index{}, certified from the lockfile unchecked",
                cc.absent.len(),
                if offline { " cache" } else { "" }
            )
        }
    );
    Ok(false)
}

#[derive(Subcommand)]
pub enum ExportCommand {
    /// Print the quorum-certified versions of a lockfile as a cargo-vet audits.toml
    CargoVet(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// The lockfile whose certified packages to export (default: ./Cargo.lock)
    #[arg(long)]
    lock: Option<PathBuf>,
    #[command(flatten)]
    src: SourceArgs,
    /// Decide from this offline bundle (see `quorate bundle`) instead of the mirror
    #[arg(long)]
    bundle: Option<PathBuf>,
}

pub fn export(c: &ExportCommand) -> Result<ExitCode> {
    let ExportCommand::CargoVet(a) = c;
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock = super::load_any_lockfile(a.lock.as_deref().unwrap_or(Path::new("Cargo.lock")))?;
    let r = evaluate(&policy, &lock, &a.src, a.bundle.as_deref(), None, true)?;
    print!("{}", cargo_vet::export(&r.verdicts, &policy));
    eprintln!(
        "exported {} of {} packages (the rest lack a quorum)",
        r.passed(),
        r.verdicts.len()
    );
    Ok(ExitCode::SUCCESS)
}
