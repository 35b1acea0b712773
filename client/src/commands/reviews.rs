//! `quorate reviews`: what a log holds, verified. Lists every attestation of the
//! policy's logs (or of one, `--log URL`) from the verified mirror: each entry is proven
//! in the tree of a checkpoint that satisfied the policy, and its signature checked.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Args;
use quorate_proto::attestation::{self, Verdict};
use quorate_proto::note;

use super::sources::{SourceArgs, mirror_warnings};
use super::{hex, load_policy, same_url};

#[derive(Args)]
pub struct ReviewsArgs {
    /// Only this review log (its URL as the policy names it); default: every log
    #[arg(long, value_name = "URL")]
    log: Option<String>,
    /// Only attestations of this package (NAME, or ECOSYSTEM/NAME)
    #[arg(long)]
    package: Option<String>,
    /// Only attestations by this reviewer (the name their key carries)
    #[arg(long, value_name = "NAME")]
    reviewer: Option<String>,
    #[command(flatten)]
    src: SourceArgs,
    /// Print one JSON document instead of the lines
    #[arg(long)]
    json: bool,
}

pub fn reviews(a: &ReviewsArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    if let Some(url) = &a.log
        && !policy
            .logs()
            .iter()
            .any(|l| l.url.as_deref().is_some_and(|u| same_url(u, url)))
    {
        return Err(anyhow!(
            "--log {url}: no review log in the policy has this URL (the policy gives each log's key)"
        ));
    }
    let m = a.src.sync(&policy, a.json)?;
    let warnings = mirror_warnings(&policy, &m);
    let (eco_filter, pkg_filter) = match a.package.as_deref().map(|p| p.split_once('/')) {
        Some(Some((e, p))) => (Some(e), Some(p)),
        Some(None) => (None, a.package.as_deref()),
        None => (None, None),
    };
    let mut rows = Vec::new();
    let mut invalid = 0usize;
    let mut failed = false;
    for lm in &m.logs {
        if let Some(url) = &a.log
            && !lm.url.as_deref().is_some_and(|u| same_url(u, url))
        {
            continue;
        }
        failed |= lm.checkpoint.is_none() || lm.not_refreshed.is_some();
        for (i, env) in lm.entries.iter().enumerate() {
            let Ok(v) = attestation::verify(env) else {
                invalid += 1;
                continue;
            };
            let at = v.attestation();
            if eco_filter.is_some_and(|e| e != at.ecosystem)
                || pkg_filter.is_some_and(|p| p != at.package)
                || a.reviewer.as_deref().is_some_and(|r| r != at.reviewer.name)
            {
                continue;
            }
            let key_id = note::key_id(&at.reviewer.name, note::ED25519_TYPE, v.reviewer_key());
            let what = match (&at.verdict, &at.delta_from, &at.supersedes) {
                (_, _, Some(s)) => format!(
                    "{} {}",
                    match s.kind {
                        attestation::SupersedeKind::Withdraw => "withdraws",
                        attestation::SupersedeKind::Replace => "replaces",
                    },
                    hex(&s.leaf_hash)
                ),
                (Verdict::Violation { range }, _, _) => format!("violation {range}"),
                (Verdict::Certify, Some(d), _) => {
                    format!("delta {} -> {}", d.version, at.version)
                }
                (Verdict::Certify, None, _) => format!("full {}", at.version),
            };
            rows.push(serde_json::json!({
                "log": lm.origin,
                "jurisdiction": policy.jurisdiction_of(&lm.origin),
                "index": i,
                "ecosystem": at.ecosystem,
                "package": at.package,
                "version": at.version,
                "what": what,
                "criteria": at.criteria,
                "digest": at.digest.to_string(),
                "reviewer": format!("{}+{key_id:08x}", at.reviewer.name),
                "organisation": at.organisation,
                "time": at.time,
                "leaf_hash": hex(v.leaf_hash()),
            }));
        }
    }
    if a.json {
        let doc = serde_json::json!({"reviews": rows, "invalid": invalid, "warnings": warnings});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        for r in &rows {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            println!(
                "{} #{} {}/{}@{} {} [{}] {} by {}{}",
                s("log"),
                r["index"],
                s("ecosystem"),
                s("package"),
                s("version"),
                s("what"),
                r["criteria"]
                    .as_array()
                    .map(|c| c
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                s("digest"),
                s("reviewer"),
                match s("organisation") {
                    o if o.is_empty() => String::new(),
                    o => format!(" ({o})"),
                }
            );
        }
        println!(
            "{} attestation{} listed{}",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" },
            if invalid > 0 {
                format!("; {invalid} entries whose signature does not verify skipped")
            } else {
                String::new()
            }
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
