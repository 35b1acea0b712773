//! `quorate withdraw`: take back one of your attestations. A withdrawal names the leaf
//! hash of what it withdraws and certifies nothing, so it needs no digest and no
//! criteria from the user; it is a command of its own so that nobody signs one by
//! accident as a review (or a review as one).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use quorate_client::keys;
use quorate_proto::attestation::{
    self, Attestation, Digest, Evidence, Reviewer, ReviewerKind, Scope, SupersedeKind, Supersedes,
    Verdict,
};

use super::review::{BUILTIN_CRITERIA, parse_hash};
use super::sources::SourceArgs;
use super::{hex, load_policy, now_secs};

#[derive(Args)]
pub struct WithdrawArgs {
    /// Reviewer secret key file: the key (or organisation) that signed what is withdrawn
    #[arg(long, value_name = "SKEYFILE")]
    key: PathBuf,
    /// Leaf hash (hex) of the attestation to withdraw (`review` printed it)
    #[arg(long, value_name = "LEAF_HASH", required_unless_present = "index",
          conflicts_with_all = ["log", "index"])]
    entry: Option<String>,
    /// With --entry: the release it withdrew, ECOSYSTEM/NAME@VERSION (the withdrawal is
    /// filed under it, so bundles and the node's package index keep them together);
    /// without it the entry is looked up in the verified mirror of the policy's logs
    #[arg(long)]
    package: Option<String>,
    /// The review log (its URL, as in the policy) holding the attestation to withdraw
    #[arg(long, value_name = "URL", requires = "index")]
    log: Option<String>,
    /// With --log: the attestation's index in that log (read from the verified mirror)
    #[arg(long, value_name = "N", requires = "log")]
    index: Option<u64>,
    /// Organisation claimed (a withdrawal counts when signed by the same key, or in the
    /// same log by the same organisation)
    #[arg(long, default_value = "")]
    org: String,
    /// Why it is withdrawn (kept in the attestation)
    #[arg(long, default_value = "")]
    notes: String,
    /// Withdrawal time (POSIX seconds); default now
    #[arg(long, hide = true)]
    time: Option<u64>,
    /// Output file (default NAME-VERSION-withdraw.att; never overwritten)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to read --log from (the policy and mirror options of `check`)
    #[command(flatten)]
    src: SourceArgs,
}

/// What is withdrawn: its leaf hash and release, and its criteria when known.
struct Target {
    leaf: [u8; 32],
    ecosystem: String,
    package: String,
    version: String,
    criteria: Vec<String>,
    by: Option<String>,
}

fn target(a: &WithdrawArgs, my_key: &[u8; 32]) -> Result<Target> {
    if let Some(h) = &a.entry {
        let leaf = parse_hash(h).map_err(|e| anyhow!("--entry: {e}"))?;
        let Some(spec) = a.package.as_deref() else {
            return find_entry(a, leaf, my_key);
        };
        let (ecosystem, package, version) = Attestation::parse_package_spec(spec)?;
        return Ok(Target {
            leaf,
            ecosystem,
            package,
            version,
            criteria: Vec::new(),
            by: None,
        });
    }
    let (Some(url), Some(index)) = (&a.log, a.index) else {
        bail!("pass --entry LEAF_HASH [--package ECO/NAME@VERSION], or --log URL --index N");
    };
    let policy = load_policy(a.src.policy.as_deref())?;
    let log = policy
        .logs()
        .iter()
        .find(|l| l.url.as_deref().is_some_and(|u| super::same_url(u, url)))
        .ok_or_else(|| anyhow!("--log {url}: no review log in the policy has this URL"))?;
    let origin = log.origin().to_owned();
    let m = a.src.sync(&policy, true)?;
    let lm =
        m.logs.iter().find(|l| l.origin == origin).ok_or_else(|| {
            anyhow!("--log {url}: the log counts for no jurisdiction in the policy")
        })?;
    if let Some(why) = &lm.unproven {
        bail!("--log {url}: the log could not be mirrored: {why}");
    }
    let env = lm.entries.get(index as usize).ok_or_else(|| {
        anyhow!(
            "--index {index}: {origin} holds {} entries (verified checkpoint)",
            lm.entries.len()
        )
    })?;
    target_of(env, index, &origin, my_key)
}

/// `--entry LEAF` alone: the attestation with that leaf hash in the verified mirror of
/// the policy's logs (its release and criteria are taken from it).
fn find_entry(a: &WithdrawArgs, leaf: [u8; 32], my_key: &[u8; 32]) -> Result<Target> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let m = a.src.sync(&policy, true)?;
    for lm in &m.logs {
        if let Some(index) = lm
            .entries
            .iter()
            .position(|env| quorate_proto::merkle::leaf_hash(env) == leaf)
        {
            return target_of(&lm.entries[index], index as u64, &lm.origin, my_key);
        }
    }
    let unproven: Vec<&str> = m
        .logs
        .iter()
        .filter(|l| l.unproven.is_some())
        .map(|l| l.origin.as_str())
        .collect();
    bail!(
        "--entry {}: no verified log of the policy holds this leaf hash{}; pass --package \
         ECO/NAME@VERSION to withdraw it without looking it up",
        hex(&leaf),
        if unproven.is_empty() {
            String::new()
        } else {
            format!(" (could not be mirrored: {})", unproven.join(", "))
        }
    )
}

fn target_of(env: &[u8], index: u64, origin: &str, my_key: &[u8; 32]) -> Result<Target> {
    let v = attestation::verify(env)
        .map_err(|e| anyhow!("entry {index} of {origin} does not verify: {e}"))?;
    let att = v.attestation();
    if v.reviewer_key() != my_key {
        eprintln!(
            "warning: entry {index} of {origin} was signed by reviewer {:?}, not by this key: \
             the withdrawal counts only if you sign for the same organisation in the same log",
            att.reviewer.name
        );
    }
    Ok(Target {
        leaf: *v.leaf_hash(),
        ecosystem: att.ecosystem.clone(),
        package: att.package.clone(),
        version: att.version.clone(),
        criteria: att.criteria.clone(),
        by: Some(att.reviewer.name.clone()),
    })
}

pub fn withdraw(a: &WithdrawArgs) -> Result<ExitCode> {
    let (name, key) = keys::load_reviewer_key(&a.key)?;
    let public_key = key.verifying_key().to_bytes();
    let t = target(a, &public_key)?;
    // The schema requires criteria on every attestation; a withdrawal certifies none of
    // them, so it repeats what it withdraws (or the default criterion).
    let criteria = if t.criteria.is_empty() {
        vec![BUILTIN_CRITERIA[0].to_owned()]
    } else {
        t.criteria.clone()
    };
    let att = Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: t.ecosystem,
        package: t.package,
        version: t.version,
        digest: Digest::Unknown,
        delta_from: None,
        criteria,
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: name.clone(),
            public_key,
        },
        organisation: a.org.clone(),
        time: match a.time {
            Some(x) => x,
            None => now_secs()?,
        },
        notes: a.notes.clone(),
        links: Vec::new(),
        supersedes: Some(Supersedes {
            leaf_hash: t.leaf,
            kind: SupersedeKind::Withdraw,
        }),
    };
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}-{}-withdraw.att",
            keys::file_stem_for(&att.package),
            keys::file_stem_for(&att.version)
        ))
    });
    let env = attestation::sign(&att, &key)?;
    let v = attestation::verify(&env)?;
    quorate_client::files::create_new(&out, &env, false)?;
    println!(
        "{} withdraws {} ({}/{}@{}{}) by {name}",
        out.display(),
        hex(&t.leaf),
        att.ecosystem,
        att.package,
        att.version,
        t.by.map(|b| format!(", reviewed by {b}"))
            .unwrap_or_default()
    );
    println!("leaf hash {}", hex(v.leaf_hash()));
    Ok(ExitCode::SUCCESS)
}
