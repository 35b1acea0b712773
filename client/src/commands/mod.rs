//! The `quorate` subcommands, one module per responsibility: [`review`] (signing reviews
//! and withdrawals), [`submit`], [`sources`] (mirror, check, bundle, gaps: everything that
//! reads the logs through a verified view), [`cargo_vet`] (import, export) and [`bench`].
//! This module holds what they share: loading policies and lockfiles, and the clock.

pub mod attest;
pub mod bench;
pub mod cargo_vet;
pub mod evidence;
pub mod evidence_args;
pub mod explain;
pub mod policy_check;
pub mod review;
pub mod reviews;
pub mod seal;
pub mod sources;
pub mod submit;
pub mod vsa;
pub mod withdraw;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use quorate_client::files;
use quorate_client::lockfile::{Lockfile, ParsedLockfile};
use quorate_client::policy::Policy;

/// The policy file `check`, `bundle`, `gaps` and `export` read when `--policy` is absent.
pub const DEFAULT_POLICY: &str = "quorate.policy";

pub(crate) fn now_secs() -> Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_secs())
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn load_policy(path: Option<&Path>) -> Result<Policy> {
    let p = path.unwrap_or(Path::new(DEFAULT_POLICY));
    if path.is_none() && !p.exists() {
        bail!(
            "no policy: {DEFAULT_POLICY} not found in the current directory; pass --policy FILE (write one with `quorate policy new`)"
        );
    }
    let text = files::read_text(p)?;
    Policy::parse(&text).map_err(|e| anyhow!("{}: {e}", p.display()))
}

/// Whether two base URLs name the same server path (a trailing `/` aside).
pub(crate) fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Any supported lockfile or SBOM, its format detected by name and content.
pub(crate) fn load_any_lockfile(path: &Path) -> Result<ParsedLockfile> {
    ParsedLockfile::read(path).map_err(|e| anyhow!("{e}"))
}

pub(crate) fn load_lockfile(path: &Path) -> Result<Lockfile> {
    let text = files::read_text(path)?;
    Lockfile::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}
