//! `quorate submit`: send attestation files to a node and verify what it returns.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Args;
use quorate_client::net::Node;
use quorate_client::submit::{self, Logged};
use quorate_client::{files, keys};
use quorate_proto::attestation::{self};
use quorate_proto::note::Ed25519Verifier;

use super::{load_policy, same_url};

#[derive(Args)]
pub struct SubmitArgs {
    /// The node's base URL, e.g. http://127.0.0.1:8780
    #[arg(long)]
    node: String,
    /// The log's vkey (literally or a .pub file), to verify the returned checkpoint
    #[arg(long, value_name = "VKEY")]
    log: Option<String>,
    /// A policy whose review-log URL matches --node supplies the log key
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Attestation files (envelope bytes)
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub(crate) fn log_key_for(
    node: &str,
    log: Option<&str>,
    policy: Option<&Path>,
) -> Result<Option<Ed25519Verifier>> {
    if let Some(k) = log {
        return Ok(Some(keys::load_ed25519_verifier(k)?));
    }
    if let Some(p) = policy {
        let pol = load_policy(Some(p))?;
        let l = pol
            .logs()
            .iter()
            .find(|l| l.url.as_deref().is_some_and(|u| same_url(u, node)))
            .ok_or_else(|| anyhow!("no log in {} has the URL {node}", p.display()))?;
        return Ok(Some(l.verifier().clone()));
    }
    Ok(None)
}

/// Prints one line per file; returns how many failed. An entry the node logged under a
/// checkpoint that does not verify under the given log key counts as failed, and says so.
pub(crate) fn report_submitted(labels: &[String], results: &[Result<Logged, String>]) -> usize {
    let mut failed = 0;
    for (l, r) in labels.iter().zip(results) {
        match r {
            Ok(x) if x.wrong_log_key.is_some() => {
                failed += 1;
                eprintln!(
                    "{l}: logged at index {} of {} (inclusion proof verified against the node's checkpoint), but that checkpoint does not verify under the log key you gave: {}; is --log (or the policy's key) this log's?",
                    x.index,
                    x.origin,
                    x.wrong_log_key.as_deref().unwrap_or_default()
                );
            }
            Ok(x) => println!(
                "{l}: {} at index {} of {} (tree size {}), inclusion proof verified{}",
                if x.duplicate {
                    "already logged"
                } else {
                    "logged"
                },
                x.index,
                x.origin,
                x.size,
                if x.log_signature_checked {
                    ", checkpoint signature verified"
                } else {
                    "; log signature NOT checked (pass --log or --policy)"
                }
            ),
            Err(e) => {
                failed += 1;
                eprintln!("{l}: not logged: {e}");
            }
        }
    }
    failed
}

pub fn submit(a: &SubmitArgs) -> Result<ExitCode> {
    let key = log_key_for(&a.node, a.log.as_deref(), a.policy.as_deref())?;
    let mut envs = Vec::new();
    let mut labels = Vec::new();
    for f in &a.files {
        let (label, bytes) = files::read_input(Some(f))?;
        if let Err(e) = attestation::verify(&bytes) {
            eprintln!(
                "{label}: warning: does not verify locally ({e}); submitting anyway, the node decides"
            );
        }
        envs.push(bytes);
        labels.push(label);
    }
    let node = Node::new(&a.node);
    let results = submit::submit_all(&node, &envs, key.as_ref());
    let failed = report_submitted(&labels, &results);
    if failed > 0 {
        eprintln!(
            "{failed} of {} files were not logged, or not under the log key given",
            labels.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
