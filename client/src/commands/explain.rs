//! `quorate explain PACKAGE[@VERSION] [LOCKFILE]`: one package, in full. Every
//! attestation for it in every log of the policy (verified, with whether it can count
//! and why not), then the verdict with the same per-jurisdiction reasons as `check -v`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use quorate_client::check::Queries;
use quorate_client::quorum::EntryStatus;

use super::load_policy;
use super::sources::{SourceArgs, load_view};

#[derive(Args)]
pub struct ExplainArgs {
    /// The package: NAME or NAME@VERSION (the version the lockfile holds by default)
    package: String,
    /// The lockfile that gives the version and the artifact digest (default: ./Cargo.lock)
    lockfile: Option<PathBuf>,
    #[command(flatten)]
    src: SourceArgs,
    /// Decide from this offline bundle (see `quorate bundle`) instead of the mirror
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Print one JSON document instead of the text
    #[arg(long)]
    json: bool,
}

pub fn explain(a: &ExplainArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock_path = a
        .lockfile
        .clone()
        .unwrap_or_else(|| PathBuf::from("Cargo.lock"));
    let lock = super::load_any_lockfile(&lock_path)?;
    let all = Queries::from_parsed(&lock);
    let (name, version) = match a.package.rsplit_once('@') {
        Some((n, v)) if !n.is_empty() => (n, Some(v)),
        _ => (a.package.as_str(), None),
    };
    let found: Vec<_> = all
        .queries
        .iter()
        .filter(|q| q.package == name && version.is_none_or(|v| q.version == v))
        .cloned()
        .collect();
    if found.is_empty() {
        let versions: Vec<&str> = all
            .queries
            .iter()
            .filter(|q| q.package == name)
            .map(|q| q.version.as_str())
            .collect();
        if let Some((p, why)) = all.not_checkable.iter().find(|(p, _)| p.id.name() == name) {
            bail!(
                "{name} {} in {} is not checked: {why}",
                p.id.version(),
                lock_path.display()
            );
        }
        if versions.is_empty() {
            bail!("{} has no package {name}", lock_path.display());
        }
        bail!(
            "{} has {name} only at {}",
            lock_path.display(),
            versions.join(", ")
        );
    }
    let wanted: HashSet<(String, String)> = found
        .iter()
        .map(|q| (q.ecosystem.clone(), q.package.clone()))
        .collect();
    let view = load_view(
        &policy,
        &Some(wanted),
        &a.src,
        a.bundle.as_deref(),
        None,
        a.json,
    )?;
    let now = a.src.now()?;
    let q0 = &found[0];
    let listed = view.ev.entries_of(&q0.ecosystem, &q0.package, now);
    let verdicts: Vec<_> = found.iter().map(|q| view.ev.evaluate(q, now)).collect();
    let all_pass = verdicts.iter().all(|v| v.pass);
    if a.json {
        let doc = serde_json::json!({
            "warnings": view.warnings,
            "bundle": view.bundle_notes,
            "attestations": listed.iter().map(|l| serde_json::json!({
                "log": l.entry.origin,
                "jurisdiction": l.jurisdiction,
                "index": l.index,
                "reviewer": l.entry.reviewer,
                "key": l.key,
                "what": l.entry.what,
                "criteria": l.criteria,
                "digest": l.digest.to_string(),
                "leaf_hash": l.leaf_hash,
                "usable": matches!(l.status, EntryStatus::Usable),
                "status": status_text(&l.status),
            })).collect::<Vec<_>>(),
            "verdicts": verdicts.iter().map(|v| serde_json::json!({
                "version": v.query.version,
                "digest": v.query.digest.to_string(),
                "pass": v.pass,
                "required": v.required,
                "certified_by": v.certified_by,
                "requirements": v.requirements.iter().map(quorate_client::check::requirement_json).collect::<Vec<_>>(),
                "notices": v.notices.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "sealed_unrevealed": v.sealed_unrevealed.len(),
                "missing": v.missing.iter().map(|m| serde_json::json!({
                    "jurisdiction": m.jurisdiction,
                    "reasons": m.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for w in &view.warnings {
            println!("warning: {w}");
        }
        for b in &view.bundle_notes {
            println!("bundle: {b}");
        }
        println!(
            "{} attestation{} of {}/{} in the policy's logs:",
            listed.len(),
            if listed.len() == 1 { "" } else { "s" },
            q0.ecosystem,
            q0.package
        );
        for l in &listed {
            println!(
                "  {}{} #{}: {} by {:?} (key {}) for {} at {}: {}",
                l.jurisdiction.as_deref().unwrap_or("-"),
                if l.violation { " violation" } else { "" },
                l.index.map_or_else(|| "?".to_owned(), |i| i.to_string()),
                l.entry.what,
                l.entry.reviewer,
                l.key,
                l.criteria.join(", "),
                l.digest,
                status_text(&l.status)
            );
        }
        for v in &verdicts {
            print!("{v}");
        }
    }
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn status_text(s: &EntryStatus) -> String {
    match s {
        EntryStatus::Usable => "usable (verified, included, trusted)".to_owned(),
        EntryStatus::Supersedes { leaf_hash, replace } => format!(
            "{} {leaf_hash}; certifies nothing itself",
            if *replace { "replaces" } else { "withdraws" }
        ),
        EntryStatus::SetAside(r) => format!("set aside: {r}"),
    }
}
