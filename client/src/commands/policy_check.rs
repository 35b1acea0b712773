//! `quorate policy check FILE`: is this policy usable, and is it strong? Parses it,
//! fetches each review log's checkpoint, verifies it under the policy's keys, reports how
//! fresh each witness's cosignature is, and warns about weak settings (`quorum none`,
//! `review-quorum 1`, a jurisdiction no witness counts for).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use quorate_client::net::{self, Deadline, Node};
use quorate_client::policy::Policy;
use quorate_proto::checkpoint::verify_log_checkpoint;

use super::{load_policy, now_secs};

/// Largest checkpoint read (as the mirror).
const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;

#[derive(Args)]
pub struct PolicyCheckArgs {
    /// The policy file to check
    file: PathBuf,
    /// Time budget per log, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    log_timeout: u64,
    /// Evaluate freshness at this time (POSIX seconds) instead of now
    #[arg(long, hide = true)]
    now: Option<u64>,
}

/// The weak spots of a policy, each as one warning.
pub fn weaknesses(p: &Policy) -> Vec<String> {
    let mut w = Vec::new();
    if !p.requires_witnesses() {
        w.push(
            "`quorum none`: checkpoints need no witness cosignature, so a log could show you a \
             history it shows nobody else without your noticing"
                .to_owned(),
        );
    }
    if p.review_quorum() <= 1 {
        w.push(format!(
            "`review-quorum {}`: a single jurisdiction decides alone; Quorate's protection is a \
             quorum of independent ones",
            p.review_quorum()
        ));
    }
    // A requirement on a criterion the checked one does not imply never applies to `check`.
    let applying = p.requirements_for(p.criteria());
    for r in p.requirements() {
        if !applying.iter().any(|a| std::ptr::eq(*a, r)) {
            w.push(format!(
                "`{}` (line {}) never applies to `check`: criteria {} does not imply {}",
                r.to_line(),
                r.line,
                p.criteria(),
                r.criterion
            ));
        }
    }
    if p.requires_witnesses() {
        for j in p.jurisdictions() {
            let logs: Vec<&str> = p
                .logs()
                .iter()
                .filter(|l| l.jurisdiction.as_deref() == Some(j))
                .map(|l| l.origin())
                .collect();
            let counted = logs.iter().all(|o| {
                p.witnesses()
                    .iter()
                    .any(|wi| p.witness_counts_for(&wi.name, o))
            });
            if !counted {
                w.push(format!(
                    "jurisdiction {j} has no witness that counts for its log: only its own \
                     witnesses cosign it, so nobody independent checks that log's history"
                ));
            }
        }
    }
    w
}

pub fn policy_check(a: &PolicyCheckArgs) -> Result<ExitCode> {
    let policy = load_policy(Some(&a.file))?;
    let now = match a.now {
        Some(t) => t,
        None => now_secs()?,
    };
    println!(
        "{}: {} review logs in {} jurisdictions, review-quorum {}, {} witnesses, criteria {}",
        a.file.display(),
        policy.logs().len(),
        policy.jurisdictions().len(),
        policy.review_quorum(),
        policy.witnesses().len(),
        policy.criteria()
    );
    for r in policy.requirements() {
        let from = match r.count {
            quorate_client::policy::Count::Any => "any jurisdiction".to_owned(),
            quorate_client::policy::Count::All => "every jurisdiction".to_owned(),
            quorate_client::policy::Count::AtLeast(k) => format!("{k} jurisdiction(s)"),
        };
        println!(
            "  requires for {}: {} from {from}",
            r.criterion,
            r.describe()
        );
    }
    let limits = net::Limits::with_budget(Duration::from_secs(a.log_timeout));
    let witness_keys = policy.witness_verifiers();
    let mut failed = 0usize;
    for l in policy.logs() {
        let j = l.jurisdiction.as_deref().unwrap_or("no jurisdiction");
        let Some(url) = &l.url else {
            println!("  {j} {}: no URL in the policy; not checked", l.origin());
            continue;
        };
        let deadline = Deadline::after(limits.per_log);
        let node = Node::with_limits(url, &limits);
        let body = match node.get_bounded("checkpoint", MAX_CHECKPOINT_BYTES, &deadline) {
            Ok(r) if r.status == 200 => r.body,
            Ok(r) => {
                failed += 1;
                println!("  {j} {}: FAIL {url}: {}", l.origin(), r.error_text());
                continue;
            }
            Err(e) => {
                failed += 1;
                println!("  {j} {}: FAIL unreachable: {e}", l.origin());
                continue;
            }
        };
        let v = match verify_log_checkpoint(&body, l.log_keys(), &witness_keys, None) {
            Ok(v) => v,
            Err(e) => {
                failed += 1;
                println!(
                    "  {j} {}: FAIL checkpoint does not verify under the policy's key: {e}",
                    l.origin()
                );
                continue;
            }
        };
        let mut cosigners = Vec::new();
        let mut ages = Vec::new();
        for c in v.cosignatures() {
            let Some(name) = policy.witness_name_for(c) else {
                continue;
            };
            let age = now.saturating_sub(c.timestamp());
            let counts = policy.witness_counts_for(name, l.origin());
            ages.push(format!(
                "{name} {}{}",
                age_text(age),
                if counts {
                    ""
                } else {
                    " (own jurisdiction: does not count)"
                }
            ));
            let fresh = policy
                .max_checkpoint_age()
                .is_none_or(|max| c.timestamp().saturating_add(max) >= now);
            if counts && fresh {
                cosigners.push(name);
            }
        }
        let ok = policy.witnesses_satisfied(&cosigners);
        if !ok {
            failed += 1;
        }
        println!(
            "  {} {j} {}: size {}, log signature verified; cosigned by {}; {}",
            if ok { "ok" } else { "FAIL" },
            l.origin(),
            v.checkpoint().size(),
            if ages.is_empty() {
                "no policy witness".to_owned()
            } else {
                ages.join(", ")
            },
            match (ok, policy.requires_witnesses(), policy.max_checkpoint_age()) {
                (_, false, _) => "no witness required (quorum none)".to_owned(),
                (true, true, None) => "witness quorum met".to_owned(),
                (true, true, Some(m)) =>
                    format!("witness quorum met within max-checkpoint-age {m}s"),
                (false, true, None) => "witness quorum NOT met".to_owned(),
                (false, true, Some(m)) => {
                    format!("witness quorum NOT met by cosignatures younger than {m}s")
                }
            }
        );
    }
    for w in weaknesses(&policy) {
        println!("warning: {w}");
    }
    if failed > 0 {
        println!("{failed} log(s) not usable under this policy now");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `42 s ago`, `3 min ago`, `5 h ago`, `2 days ago`.
fn age_text(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s ago"),
        120..7200 => format!("{} min ago", secs / 60),
        7200..172_800 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}
