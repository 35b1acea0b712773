//! `quorate`: the command-line face of Quorate's client.

mod bench;
mod bench_delta;
mod commands;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use quorate_client::files;
use quorate_client::keys::{self, AnyVerifier};
use quorate_client::policy::PolicyBuilder;
use quorate_proto::checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::note::{self, NoteVerifier, Signer};

#[derive(Parser)]
#[command(
    name = "quorate",
    version,
    about = "Trust a release only when a quorum of independent jurisdictions reviewed it",
    propagate_version = true
)]
struct Cli {
    /// PEM CA certificates to trust, besides the platform's roots, for every HTTPS
    /// connection (nodes, mirrors, crates.io index): a private CA.
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate signing keys (reviewers, logs, witnesses)
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign and verify C2SP signed notes
    #[command(subcommand)]
    Note(NoteCommand),
    /// Verify C2SP checkpoints and their witness cosignatures
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Write client trust policies (specs/policy.md)
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Sign a review attestation of one release
    Review(Box<commands::review::ReviewArgs>),
    /// Sign the reveal of a sealed attestation (`review --seal`), refused unless it opens
    /// its commitment; optionally submit it
    Reveal(commands::seal::RevealArgs),
    /// Tools that produce evidence (archive vs source, rebuilds) and sign it
    #[command(subcommand)]
    Evidence(commands::evidence::EvidenceCommand),
    /// Withdraw one of your attestations (it certifies nothing)
    Withdraw(commands::withdraw::WithdrawArgs),
    /// Submit attestation files to a node and verify the inclusion proofs it returns
    Submit(commands::submit::SubmitArgs),
    /// Sync the local verified mirror of every review log in the policy
    Mirror(commands::sources::MirrorArgs),
    /// Check every crates.io package of a lockfile against the policy's quorum
    Check(commands::sources::CheckArgs),
    /// Verify a Verification Summary Attestation (`check --vsa`) with the checker's key
    VerifyVsa(commands::vsa::VerifyVsaArgs),
    /// Write an offline bundle of everything `check --bundle` needs for a lockfile
    Bundle(commands::sources::BundleArgs),
    /// The review work list: packages without quorum, most depended-upon first, each with
    /// the cheapest review per missing jurisdiction
    Gaps(commands::sources::GapsArgs),
    /// One package in full: every attestation in every log, which can count, and why each
    /// jurisdiction is or is not satisfied
    Explain(commands::explain::ExplainArgs),
    /// List what the policy's review logs hold, verified
    Reviews(commands::reviews::ReviewsArgs),
    /// Import reviews from other tools
    #[command(subcommand)]
    Import(commands::cargo_vet::ImportCommand),
    /// Export quorum-certified releases for other tools
    #[command(subcommand)]
    Export(commands::cargo_vet::ExportCommand),
    /// Time `check --bundle` on a generated 500-package, 5-jurisdiction bundle
    BenchCheck(commands::bench::BenchArgs),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print a new policy: review logs by jurisdiction, witnesses, and the quorum k
    New {
        /// A review log: JURISDICTION=VKEY@URL (the jurisdiction is yours to assign)
        #[arg(long = "log", required = true)]
        logs: Vec<String>,
        /// A witness: JURISDICTION=VKEY (cosignature/v1); named JURISDICTION-wN
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// Cosignatures required from the witnesses (default: all of them)
        #[arg(long)]
        min_witnesses: Option<usize>,
        /// How many distinct jurisdictions must certify a release
        #[arg(long)]
        quorum: usize,
        /// Criterion releases must be certified for (default safe-to-deploy)
        #[arg(long)]
        criteria: Option<String>,
        /// Count reviews that record no artifact digest
        #[arg(long)]
        accept_unknown_digests: bool,
    },
    /// Parse a policy, fetch and verify each log's checkpoint, report witness freshness,
    /// and warn about weak settings
    Check(commands::policy_check::PolicyCheckArgs),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write NAME.key (secret, mode 0600) and NAME.pub (vkey); never overwrites
    Generate(KeyGenerate),
}

#[derive(Args)]
struct KeyGenerate {
    /// Key name, e.g. a reviewer's name or a log origin such as example.org/log
    #[arg(long)]
    name: String,
    /// Directory to write the key files into
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Make a witness key (C2SP cosignature/v1, type 0x04) instead of a signed-note key
    #[arg(long)]
    witness: bool,
}

#[derive(Subcommand)]
enum NoteCommand {
    /// Sign a text (ending in a newline) with a secret key; prints the signed note
    Sign {
        /// Secret key file (as written by `quorate key generate`)
        #[arg(long, value_name = "SKEYFILE")]
        key: PathBuf,
        /// The text to sign (`-` or absent: standard input)
        file: Option<PathBuf>,
    },
    /// Verify a signed note; prints the text on success, the signers on stderr
    Verify {
        /// Trusted vkey, literally or as a .pub file; repeat for several
        #[arg(long = "key", required = true, value_name = "VKEY")]
        keys: Vec<String>,
        /// The signed note (`-` or absent: standard input)
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CheckpointCommand {
    /// Verify a checkpoint's log signature and witness cosignatures
    Verify {
        /// The log's vkey, literally or as a .pub file
        #[arg(long, value_name = "VKEY")]
        log: String,
        /// A trusted witness vkey (cosignature/v1); repeat for several
        #[arg(long = "witness", value_name = "VKEY")]
        witnesses: Vec<String>,
        /// Fail unless at least this many trusted witnesses cosigned
        #[arg(long, default_value_t = 0, value_name = "N")]
        min_witnesses: usize,
        /// The checkpoint note (`-`: standard input)
        file: PathBuf,
    },
    /// Cosign a checkpoint with a witness key (cosignature/v1); prints the note with the
    /// cosignature line added. Verifies the log signature first.
    Cosign {
        /// Witness secret key file
        #[arg(long)]
        key: PathBuf,
        /// The log's vkey, literally or as a .pub file
        #[arg(long, value_name = "VKEY")]
        log: String,
        /// Timestamp to cosign at (POSIX seconds); default: now
        #[arg(long)]
        time: Option<u64>,
        /// The checkpoint note (`-`: standard input)
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(p) = &cli.ca_file
        && let Err(e) = quorate_client::net::trust_ca_file(p)
    {
        eprintln!("error: --ca-file: {e}");
        return ExitCode::from(2);
    }
    // The newer commands answer 0 (all good), 1 (verdict: something failed) or 2 (usage
    // or input error); the older ones keep 1 for every failure.
    let input_errors = 2;
    let (code, res) = match cli.command {
        Command::Review(a) => (input_errors, commands::review::review(&a)),
        Command::Withdraw(a) => (input_errors, commands::withdraw::withdraw(&a)),
        Command::Reveal(a) => (input_errors, commands::seal::reveal(&a)),
        Command::VerifyVsa(a) => (input_errors, commands::vsa::verify_vsa(&a)),
        Command::Evidence(c) => (input_errors, commands::evidence::evidence(&c)),
        Command::Submit(a) => (input_errors, commands::submit::submit(&a)),
        Command::Mirror(a) => (input_errors, commands::sources::mirror(&a)),
        Command::Check(a) => (input_errors, commands::sources::check(&a)),
        Command::Bundle(a) => (input_errors, commands::sources::bundle(&a)),
        Command::Gaps(a) => (input_errors, commands::sources::gaps(&a)),
        Command::Explain(a) => (input_errors, commands::explain::explain(&a)),
        Command::Reviews(a) => (input_errors, commands::reviews::reviews(&a)),
        Command::Policy(PolicyCommand::Check(a)) => {
            (input_errors, commands::policy_check::policy_check(&a))
        }
        Command::Import(a) => (input_errors, commands::cargo_vet::import(&a)),
        Command::Export(a) => (input_errors, commands::cargo_vet::export(&a)),
        Command::BenchCheck(a) => (input_errors, commands::bench::bench_check(&a)),
        other => (1, run(other).map(|()| ExitCode::SUCCESS)),
    };
    match res {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", quorate_proto::error_chain::Chain(e.as_ref()));
            ExitCode::from(code)
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Key(KeyCommand::Generate(g)) => key_generate(&g),
        Command::Note(NoteCommand::Sign { key, file }) => note_sign(&key, file.as_deref()),
        Command::Note(NoteCommand::Verify { keys, file }) => note_verify(&keys, file.as_deref()),
        Command::Checkpoint(CheckpointCommand::Verify {
            log,
            witnesses,
            min_witnesses,
            file,
        }) => checkpoint_verify(&log, &witnesses, min_witnesses, &file),
        Command::Checkpoint(CheckpointCommand::Cosign {
            key,
            log,
            time,
            file,
        }) => checkpoint_cosign(&key, &log, time, &file),
        Command::Policy(PolicyCommand::New {
            logs,
            witnesses,
            min_witnesses,
            quorum,
            criteria,
            accept_unknown_digests,
        }) => {
            let b = PolicyBuilder {
                logs: logs
                    .iter()
                    .map(|l| PolicyBuilder::parse_log_arg(l))
                    .collect::<Result<_, _>>()
                    .map_err(anyhow::Error::msg)
                    .context("--log")?,
                witnesses: witnesses
                    .iter()
                    .map(|w| PolicyBuilder::parse_witness_arg(w))
                    .collect::<Result<_, _>>()
                    .map_err(anyhow::Error::msg)
                    .context("--witness")?,
                min_witnesses,
                quorum,
                criteria,
                accept_unknown_digests,
            };
            let (text, _) = b.build()?;
            print!("{text}");
            Ok(())
        }
        _ => unreachable!("dispatched in main"),
    }
}

fn key_generate(g: &KeyGenerate) -> Result<()> {
    let seed = zeroize::Zeroizing::new(
        keys::random_seed().context("reading randomness from the operating system")?,
    );
    let (vkey, skey) = if g.witness {
        let s = CosignatureSigner::generate(&g.name, *seed)?;
        (s.vkey(), s.skey())
    } else {
        let s = Signer::generate(&g.name, *seed)?;
        (s.vkey(), s.skey())
    };
    let stem = keys::file_stem_for(&g.name);
    let key_path = g.out.join(format!("{stem}.key"));
    let pub_path = g.out.join(format!("{stem}.pub"));
    // Check both first, so a half-written pair is never left behind.
    for p in [&key_path, &pub_path] {
        if p.exists() {
            bail!("{} already exists; refusing to overwrite it", p.display());
        }
    }
    let line = zeroize::Zeroizing::new(format!("{}\n", skey.as_str()));
    files::create_new(&key_path, line.as_bytes(), true)?;
    files::create_new(&pub_path, format!("{vkey}\n").as_bytes(), false)?;
    eprintln!("wrote {} (secret, mode 0600)", key_path.display());
    eprintln!("wrote {}", pub_path.display());
    println!("{vkey}");
    Ok(())
}

fn read_utf8(file: Option<&Path>) -> Result<(String, String)> {
    let (label, bytes) = files::read_input(file)?;
    let text = String::from_utf8(bytes).with_context(|| format!("{label} is not valid UTF-8"))?;
    Ok((label, text))
}

fn note_sign(key: &Path, file: Option<&Path>) -> Result<()> {
    let signer = keys::load_signer(key)?;
    let (label, text) = read_utf8(file)?;
    let signed = note::sign(&text, &[&signer]).with_context(|| format!("signing {label}"))?;
    print!("{signed}");
    Ok(())
}

fn note_verify(key_args: &[String], file: Option<&Path>) -> Result<()> {
    let verifiers = key_args
        .iter()
        .map(|k| keys::load_any_verifier(k))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&dyn NoteVerifier> = verifiers
        .iter()
        .map(AnyVerifier::as_note_verifier)
        .collect();
    let (label, bytes) = files::read_input(file)?;
    let opened = note::open(&bytes, &refs).with_context(|| format!("verifying {label}"))?;
    for s in opened.verified_signatures() {
        eprintln!("verified: signed by {}+{:08x}", s.name(), s.key_id());
    }
    for s in opened.unverified_signatures() {
        eprintln!(
            "ignored: signature by unknown key {}+{:08x}",
            s.name(),
            s.key_id()
        );
    }
    print!("{}", opened.text());
    Ok(())
}

fn checkpoint_verify(log: &str, witnesses: &[String], min: usize, file: &Path) -> Result<()> {
    let log_key = keys::load_ed25519_verifier(log)?;
    let witness_keys = witnesses
        .iter()
        .map(|w| keys::load_witness_verifier(w))
        .collect::<Result<Vec<_>, _>>()?;
    let (label, bytes) = files::read_input(Some(file))?;
    let verified = checkpoint::verify_checkpoint(&bytes, &log_key, &witness_keys)
        .with_context(|| format!("verifying checkpoint {label}"))?;
    let cp = verified.checkpoint();
    println!("origin: {}", cp.origin());
    println!("size: {}", cp.size());
    println!(
        "root: {}",
        base64::engine::general_purpose::STANDARD.encode(cp.root_hash())
    );
    for ext in cp.extensions() {
        println!("extension: {ext}");
    }
    for c in verified.cosignatures() {
        println!(
            "cosigned: {}+{:08x} at {} ({})",
            c.name(),
            c.key_id(),
            c.timestamp(),
            format_utc(c.timestamp())
        );
    }
    println!(
        "witnesses: {} of {} trusted cosigned",
        verified.cosignatures().len(),
        witness_keys.len()
    );
    verified
        .require_witnesses(min)
        .with_context(|| format!("checkpoint {label}"))?;
    Ok(())
}

fn checkpoint_cosign(key: &Path, log: &str, time: Option<u64>, file: &Path) -> Result<()> {
    let signer = keys::load_witness_signer(key)?;
    let log_key = keys::load_ed25519_verifier(log)?;
    let (label, bytes) = files::read_input(Some(file))?;
    let verified = checkpoint::verify_checkpoint(&bytes, &log_key, &[])
        .with_context(|| format!("verifying checkpoint {label}"))?;
    let now = match time {
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("system clock is before 1970")?
            .as_secs(),
    };
    let sig = signer.cosign(verified.note_text(), now)?;
    let text = std::str::from_utf8(verified.note_bytes()).context("checkpoint is not UTF-8")?;
    print!("{}", note::add_signatures(text, &[sig])?);
    Ok(())
}

/// RFC 3339 UTC for a POSIX timestamp, without a date crate: days-to-civil conversion
/// (Howard Hinnant's algorithm).
pub(crate) fn format_utc(ts: u64) -> String {
    let days = (ts / 86_400) as i64;
    let secs = ts % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}

#[cfg(test)]
#[path = "../../support/help_lines.rs"]
mod help_lines;

#[cfg(test)]
mod help_tests {
    /// Every subcommand, flag and argument a user can see has a help line.
    #[test]
    fn every_flag_and_argument_has_help() {
        let missing =
            super::help_lines::without_help(&<super::Cli as clap::CommandFactory>::command());
        assert!(missing.is_empty(), "without a help line: {missing:#?}");
    }
}
