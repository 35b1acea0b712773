//! `quorate bench-check`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct BenchArgs {
    /// Packages in the generated lockfile
    #[arg(long, default_value_t = 500)]
    packages: usize,
    /// Timed runs of `check --bundle` (the median is reported)
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Keep the generated files here (default: a temporary directory, removed after)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// cargo-vet binary to time on the same lockfile and audits (default: look for one)
    #[arg(long)]
    cargo_vet: Option<PathBuf>,
    /// Take packages, versions and file digests from this real lockfile, any format
    /// `check` reads (a Cargo.lock also times cargo-vet, which must resolve the crates)
    #[arg(long)]
    lockfile: Option<PathBuf>,
    /// Two attestations per package and jurisdiction (full review of a previous version
    /// and a delta to the locked one) instead of one full review
    #[arg(long)]
    deltas: bool,
    /// Instead: time the quorum decision over one log holding N deltas of one crate in
    /// reverse order plus one full review, beside the signature and hash floor
    #[arg(long, value_name = "N")]
    delta_bomb: Option<usize>,
}

pub fn bench_check(a: &BenchArgs) -> Result<ExitCode> {
    if let Some(n) = a.delta_bomb {
        crate::bench_delta::run(n, a.runs)?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::bench::run(
        a.packages,
        a.runs,
        a.dir.as_deref(),
        a.cargo_vet.as_deref(),
        a.lockfile.as_deref(),
        a.deltas,
    )?;
    Ok(ExitCode::SUCCESS)
}
