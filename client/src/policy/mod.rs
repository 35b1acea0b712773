//! The client's trust policy: which logs and witnesses it believes, how many witnesses must
//! cosign a checkpoint, and which review logs belong to which jurisdiction and how many
//! jurisdictions must agree. Format and semantics: `specs/policy.md`.
//!
//! The witness part is C2SP tlog-policy (`witness`, `group`, `quorum`, `log`) unchanged;
//! the review part extends it in the same line-oriented style. A [`Policy`] can only be
//! made by [`Policy::parse`] (or [`PolicyBuilder`], which renders text and parses it), so a
//! value in hand has passed every check.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use quorate_proto::checkpoint::LogKeys;
use quorate_proto::note::Ed25519Verifier;

mod builder;
mod evidence;
mod parse;
mod text;
mod witnesses;

pub use builder::PolicyBuilder;
use evidence::EvidencePolicy;
pub use evidence::{Count, MAX_DISTRUSTED, MAX_REQUIREMENTS, Requirement};
pub use witnesses::Witness;
use witnesses::{Group, Member};

/// The built-in criterion every policy requires unless it says otherwise.
pub const SAFE_TO_DEPLOY: &str = "safe-to-deploy";
/// cargo-vet's other built-in criterion; `safe-to-deploy` implies it.
pub const SAFE_TO_RUN: &str = "safe-to-run";

/// Implementation limits (tlog-policy recommends supporting at least 32 of each).
pub const MAX_WITNESSES: usize = 256;
pub const MAX_GROUPS: usize = 256;
pub const MAX_LOGS: usize = 256;
pub const MAX_REVIEWERS: usize = 4096;
pub const MAX_POLICY_BYTES: usize = 1 << 20;
/// Most `log-mirror` URLs per log (each costs a fallback attempt when the log is down).
pub const MAX_MIRRORS_PER_LOG: usize = 8;

/// A policy error: the line it is on (0 for the file as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "policy: {}", self.message)
        } else {
            write!(f, "policy line {}: {}", self.line, self.message)
        }
    }
}

fn err(line: usize, message: impl Into<String>) -> PolicyError {
    PolicyError {
        line,
        message: message.into(),
    }
}

/// A log the policy accepts checkpoints from. `jurisdiction` is `Some` for `review-log`
/// lines: the client, not the log, says which jurisdiction the log's reviews count for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub jurisdiction: Option<String>,
    pub vkey: String,
    pub url: Option<String>,
    /// Other URLs serving the same read path (`log-mirror ORIGIN URL`), tried in order
    /// when `url` cannot be read; everything they serve is verified the same way.
    pub mirrors: Vec<String>,
    verifier: Ed25519Verifier,
    /// Origin and every key that may sign for it (`log-origin`, `log-key` lines).
    keys: LogKeys,
    /// Whether a `log-origin` line set the origin (else it is the key name).
    origin_set: bool,
    /// The vkeys of `log-key` lines, in order.
    extra_vkeys: Vec<String>,
}

impl Log {
    /// The log's origin: its key name, unless a `log-origin` line says otherwise.
    pub fn origin(&self) -> &str {
        self.keys.origin()
    }
    /// The key of the log's own line (the first of [`Log::log_keys`]).
    pub fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
    /// The origin and every key accepted for it: verify checkpoints with these.
    pub fn log_keys(&self) -> &LogKeys {
        &self.keys
    }
}

/// A reviewer key the policy restricts a jurisdiction to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedReviewer {
    pub jurisdiction: String,
    pub vkey: String,
    pub name: String,
    pub public_key: [u8; 32],
}

/// What a violation attestation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Veto {
    /// A violation from any trusted jurisdiction blocks the version (default).
    Any,
    /// Violations are reported but do not block.
    None,
}

/// A validated policy. Build it with [`Policy::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    witnesses: Vec<Witness>,
    groups: Vec<Group>,
    quorum: Option<Member>,
    logs: Vec<Log>,
    reviewers: Vec<TrustedReviewer>,
    review_quorum: Option<usize>,
    criteria: String,
    criteria_set: bool,
    implies: Vec<(String, String)>,
    veto: Option<Veto>,
    max_checkpoint_age: Option<u64>,
    delta_across_jurisdictions: Option<bool>,
    accept_unknown_digests: Option<bool>,
    /// Witness name -> the jurisdiction that operates it (`review-witness J NAME`).
    witness_jurisdictions: BTreeMap<String, String>,
    /// `require`, `exclude-reviewer-kind`, `accept-partial-scope`, `distrust`.
    evidence: EvidencePolicy,
}

/// cargo-vet criterion names (TOML bare keys) plus `:` for namespaced imports, as in proto.
pub fn check_criterion(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.char_indices()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | ':')));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "criterion {s:?} must be 1-64 characters of [A-Za-z0-9_:-] starting with a letter or digit"
        ))
    }
}

impl Policy {
    pub fn logs(&self) -> &[Log] {
        &self.logs
    }

    /// The log with this origin, if the policy lists one.
    pub fn log(&self, origin: &str) -> Option<&Log> {
        self.logs.iter().find(|l| l.origin() == origin)
    }

    pub fn jurisdiction_of(&self, origin: &str) -> Option<&str> {
        self.log(origin).and_then(|l| l.jurisdiction.as_deref())
    }

    /// Distinct jurisdictions, sorted.
    pub fn jurisdictions(&self) -> Vec<&str> {
        let s: BTreeSet<&str> = self
            .logs
            .iter()
            .filter_map(|l| l.jurisdiction.as_deref())
            .collect();
        s.into_iter().collect()
    }

    pub fn reviewers(&self) -> &[TrustedReviewer] {
        &self.reviewers
    }

    /// Whether `key` may review for `jurisdiction`: listed by a `reviewer` line, or any
    /// key when the jurisdiction has no `reviewer` lines.
    pub fn reviewer_trusted(&self, jurisdiction: &str, key: &[u8; 32]) -> bool {
        let mut restricted = false;
        for r in &self.reviewers {
            if r.jurisdiction == jurisdiction {
                if &r.public_key == key {
                    return true;
                }
                restricted = true;
            }
        }
        !restricted
    }

    /// The jurisdiction a `reviewer` line pins `key` to (a key is on at most one line).
    pub fn reviewer_jurisdiction(&self, key: &[u8; 32]) -> Option<&str> {
        self.reviewers
            .iter()
            .find(|r| &r.public_key == key)
            .map(|r| r.jurisdiction.as_str())
    }

    /// k: how many distinct jurisdictions must certify (0 when there are no review logs).
    pub fn review_quorum(&self) -> usize {
        self.review_quorum.unwrap_or(0)
    }

    /// The criterion a release must be certified for.
    pub fn criteria(&self) -> &str {
        &self.criteria
    }

    /// Custom implications (`implies A B`), not including the built-in one.
    pub fn implications(&self) -> &[(String, String)] {
        &self.implies
    }

    /// Every criterion `c` implies, `c` included (transitive closure, built-ins included).
    pub fn implied_by(&self, c: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![c.to_owned()];
        while let Some(x) = stack.pop() {
            if !out.insert(x.clone()) {
                continue;
            }
            if x == SAFE_TO_DEPLOY {
                stack.push(SAFE_TO_RUN.to_owned());
            }
            for (a, b) in &self.implies {
                if *a == x {
                    stack.push(b.clone());
                }
            }
        }
        out
    }

    pub fn veto(&self) -> Veto {
        self.veto.unwrap_or(Veto::Any)
    }

    pub fn max_checkpoint_age(&self) -> Option<u64> {
        self.max_checkpoint_age
    }

    pub fn delta_across_jurisdictions(&self) -> bool {
        self.delta_across_jurisdictions.unwrap_or(false)
    }

    pub fn accept_unknown_digests(&self) -> bool {
        self.accept_unknown_digests.unwrap_or(false)
    }
}
