//! The review, submit, mirror, check, bundle, gaps, import, export and bench-check
//! commands.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use clap::{Args, Subcommand};
use quorate_client::cargo_vet::{self, AuditsFile, ImportOptions};
use quorate_client::check::{self, Queries, Report};
use quorate_client::crates_index::{self, CratesIndex};
use quorate_client::lockfile::{FileDigest, Lockfile, PackageId, ParsedLockfile};
use quorate_client::mirror::{self, MirrorOptions};
use quorate_client::net::{self, Node};
use quorate_client::policy::Policy;
use quorate_client::quorum::Evaluator;
use quorate_client::submit::{self, Logged};
use quorate_client::{bundle, bundle_manifest, files, keys};
use quorate_proto::attestation::{
    self, Attestation, DeltaBase, Digest, Reviewer, SupersedeKind, Supersedes, Verdict,
};
use quorate_proto::note::Ed25519Verifier;

/// The policy file `check`, `bundle`, `gaps` and `export` read when `--policy` is absent.
pub const DEFAULT_POLICY: &str = "quorate.policy";

fn now_secs() -> Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_secs())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn load_policy(path: Option<&Path>) -> Result<Policy> {
    let p = path.unwrap_or(Path::new(DEFAULT_POLICY));
    if path.is_none() && !p.exists() {
        bail!(
            "no policy: {DEFAULT_POLICY} not found in the current directory; pass --policy FILE (write one with `quorate policy new`)"
        );
    }
    let text = files::read_text(p)?;
    Policy::parse(&text).map_err(|e| anyhow!("{}: {e}", p.display()))
}

/// Any supported lockfile or SBOM, its format detected by name and content.
fn load_any_lockfile(path: &Path) -> Result<ParsedLockfile> {
    ParsedLockfile::read(path).map_err(|e| anyhow!("{e}"))
}

fn load_lockfile(path: &Path) -> Result<Lockfile> {
    let text = files::read_text(path)?;
    Lockfile::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// review

#[derive(Args)]
pub struct ReviewArgs {
    /// Reviewer secret key file (its key name is the reviewer name)
    #[arg(long, value_name = "SKEYFILE")]
    key: PathBuf,
    /// The release: a purl (pkg:npm/%40scope/name@1.0.0, pkg:pypi/requests@2.32.0,
    /// pkg:golang/golang.org/x/mod@v0.7.0, pkg:maven/group/artifact@1.0, pkg:generic/xz@5.6.1)
    /// or ECOSYSTEM/NAME@VERSION, e.g. crates.io/serde@1.0.210
    #[arg(long)]
    package: String,
    /// Digest of the reviewed archive in its ecosystem's notation: `sha256:HEX` or bare hex
    /// (Cargo.lock, Python lockfiles), `sha512-BASE64` (npm integrity), `h1:BASE64` (go.sum);
    /// or `unknown`
    #[arg(long)]
    digest: String,
    /// Criterion certified (or violated); repeat for several
    #[arg(long = "criteria", required = true)]
    criteria: Vec<String>,
    /// Delta review: the version the changes were reviewed from
    #[arg(long, value_name = "VERSION", requires = "delta_digest")]
    delta_from: Option<String>,
    /// SHA-256 of the delta's base archive (or `unknown`)
    #[arg(long, value_name = "SHA256")]
    delta_digest: Option<String>,
    /// A violation: every version matching RANGE violates the criteria
    #[arg(long, value_name = "RANGE", conflicts_with = "delta_from")]
    violation: Option<String>,
    /// Organisation claimed (informational; the client's policy decides jurisdiction)
    #[arg(long, default_value = "")]
    org: String,
    #[arg(long, default_value = "")]
    notes: String,
    /// A link (e.g. to the report); repeat for several
    #[arg(long = "link")]
    links: Vec<String>,
    /// Withdraw (or, with --replace, replace) the attestation with this leaf hash (hex)
    #[arg(long, value_name = "LEAF_HASH")]
    supersedes: Option<String>,
    /// With --supersedes: this attestation replaces the earlier one instead of withdrawing it
    #[arg(long, requires = "supersedes")]
    replace: bool,
    /// Review time (POSIX seconds); default now
    #[arg(long, hide = true)]
    time: Option<u64>,
    /// Output file (default NAME-VERSION.att; never overwritten)
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_digest(s: &str) -> Result<Digest> {
    if s.eq_ignore_ascii_case("unknown") {
        return Ok(Digest::Unknown);
    }
    let d = FileDigest::parse(s).map_err(|e| anyhow!("{e}"))?;
    if d.is_weak() {
        bail!(
            "{s:?} is SHA-1, which is too weak to name reviewed bytes; give the sha256 or sha512"
        );
    }
    d.to_attestation().ok_or_else(|| {
        anyhow!(
            "this build's attestations carry SHA-256 digests only, not {}",
            d.algorithm()
        )
    })
}

/// `--package`: a purl, or the older ECOSYSTEM/NAME@VERSION.
fn parse_package(s: &str) -> Result<(String, String, String)> {
    if s.starts_with("pkg:") {
        let id = PackageId::from_purl(s)?;
        return Ok((
            id.ecosystem().attestation_name().to_owned(),
            id.name().to_owned(),
            id.version().to_owned(),
        ));
    }
    Ok(Attestation::parse_package_spec(s)?)
}

fn parse_hash(s: &str) -> Result<[u8; 32]> {
    if let Ok(Digest::Sha256(h)) = Digest::from_hex(s) {
        return Ok(h);
    }
    let b = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| anyhow!("{s:?} is neither 64 hex digits nor base64"))?;
    <[u8; 32]>::try_from(b.as_slice()).map_err(|_| anyhow!("{s:?} is not a 32-byte hash"))
}

pub fn review(a: &ReviewArgs) -> Result<ExitCode> {
    let (name, key) = keys::load_reviewer_key(&a.key)?;
    let (ecosystem, package, version) = parse_package(&a.package)?;
    let delta_from = match &a.delta_from {
        None => None,
        Some(v) => Some(DeltaBase {
            version: v.clone(),
            digest: parse_digest(a.delta_digest.as_deref().unwrap_or("unknown"))
                .context("--delta-digest")?,
        }),
    };
    let verdict = match &a.violation {
        Some(r) => Verdict::Violation { range: r.clone() },
        None => Verdict::Certify,
    };
    let att = Attestation {
        ecosystem,
        package,
        version,
        digest: parse_digest(&a.digest).context("--digest")?,
        delta_from,
        criteria: a.criteria.clone(),
        verdict,
        reviewer: Reviewer {
            name: name.clone(),
            public_key: key.verifying_key().to_bytes(),
        },
        organisation: a.org.clone(),
        time: match a.time {
            Some(t) => t,
            None => now_secs()?,
        },
        notes: a.notes.clone(),
        links: a.links.clone(),
        supersedes: match &a.supersedes {
            None => None,
            Some(h) => Some(Supersedes {
                leaf_hash: parse_hash(h).context("--supersedes")?,
                kind: if a.replace {
                    SupersedeKind::Replace
                } else {
                    SupersedeKind::Withdraw
                },
            }),
        },
    };
    let env = attestation::sign(&att, &key).context("signing the attestation")?;
    let v = attestation::verify(&env).context("verifying the signed attestation")?;
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}-{}.att",
            keys::file_stem_for(&att.package),
            keys::file_stem_for(&att.version)
        ))
    });
    files::create_new(&out, &env, false)?;
    let what = match (&att.verdict, &att.delta_from) {
        (Verdict::Violation { range }, _) => format!("violation {range} of"),
        (_, Some(d)) => format!("delta {} -> {} for", d.version, att.version),
        _ => "certifies".into(),
    };
    println!(
        "{} {what} {}/{}@{} ({}) {} by {name}{}",
        out.display(),
        att.ecosystem,
        att.package,
        att.version,
        att.digest,
        att.criteria.join(", "),
        if att.organisation.is_empty() {
            String::new()
        } else {
            format!(" ({})", att.organisation)
        }
    );
    println!("leaf hash {}", hex(v.leaf_hash()));
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// submit

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

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn log_key_for(
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

/// Prints one line per file; returns how many failed.
fn report_submitted(labels: &[String], results: &[Result<Logged, String>]) -> usize {
    let mut failed = 0;
    for (l, r) in labels.iter().zip(results) {
        match r {
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
        eprintln!("{failed} of {} files were not logged", labels.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// mirror, check, bundle, gaps

#[derive(Args, Clone)]
pub struct SourceArgs {
    /// Policy file (default: ./quorate.policy)
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Mirror cache directory (default: ~/.cache/quorate/mirror)
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Use the mirror cache only; fetch nothing
    #[arg(long)]
    offline: bool,
    /// Time budget per log, in seconds: a log (or the path to it) that has not delivered
    /// a verified view by then is reported unproven and the others decide
    #[arg(long, value_name = "SECS", default_value_t = net::DEFAULT_LOG_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    log_timeout: u64,
    /// Evaluate at this time (POSIX seconds) instead of now
    #[arg(long, hide = true)]
    now: Option<u64>,
}

impl SourceArgs {
    fn cache(&self) -> Result<PathBuf> {
        match &self.cache {
            Some(c) => Ok(c.clone()),
            None => mirror::default_cache_dir()
                .ok_or_else(|| anyhow!("no cache directory (HOME unset); pass --cache DIR")),
        }
    }
    fn now(&self) -> Result<u64> {
        match self.now {
            Some(t) => Ok(t),
            None => now_secs(),
        }
    }
    fn sync(&self, policy: &Policy, quiet: bool) -> Result<mirror::Mirror> {
        let m = mirror::sync(
            policy,
            &MirrorOptions {
                cache: self.cache()?,
                offline: self.offline,
                progress: !quiet,
                limits: net::Limits::with_budget(Duration::from_secs(self.log_timeout)),
            },
        );
        Ok(m)
    }
}

#[derive(Args)]
pub struct MirrorArgs {
    #[command(flatten)]
    src: SourceArgs,
}

/// What went wrong per log: unproven logs first (their jurisdiction's vote is missing,
/// the other jurisdictions decide), then lesser problems, then equivocation evidence.
fn mirror_warnings(policy: &Policy, m: &mirror::Mirror) -> Vec<String> {
    let mut w = Vec::new();
    for l in &m.logs {
        if let Some(why) = &l.unproven {
            w.push(format!(
                "log {} ({}) is unproven, its vote is missing: {why}",
                l.origin,
                policy
                    .jurisdiction_of(&l.origin)
                    .unwrap_or("no jurisdiction")
            ));
        }
    }
    for l in &m.logs {
        for x in &l.warnings {
            w.push(format!("{}: {x}", l.origin));
        }
    }
    w.extend(m.warnings.iter().cloned());
    for (o, evs) in &m.equivocations {
        w.push(format!(
            "{o}: {} piece(s) of verified equivocation evidence: nothing from this log counts",
            evs.len()
        ));
    }
    w
}

pub fn mirror(a: &MirrorArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let m = a.src.sync(&policy, false)?;
    let mut bad = false;
    for l in &m.logs {
        println!(
            "{}: {} entries{}",
            l.origin,
            l.entries.len(),
            if l.checkpoint.is_some() {
                ""
            } else {
                " (no verified checkpoint)"
            }
        );
        bad |= l.checkpoint.is_none();
    }
    for w in mirror_warnings(&policy, &m) {
        eprintln!("warning: {w}");
    }
    bad |= !m.equivocations.is_empty();
    Ok(if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `check --format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Table,
    Json,
    /// SARIF 2.1.0, for code-scanning UIs
    Sarif,
}

#[derive(Args)]
pub struct CheckArgs {
    /// The lockfile or SBOM: Cargo.lock, package-lock.json, npm-shrinkwrap.json, uv.lock,
    /// poetry.lock, pylock.toml, requirements.txt, go.sum, gradle.lockfile, CycloneDX or
    /// SPDX JSON (detected by name and content; default: ./Cargo.lock)
    lockfile: Option<PathBuf>,
    #[command(flatten)]
    src: SourceArgs,
    /// Decide from this offline bundle (see `quorate bundle`) instead of the mirror. A
    /// bundle proves every entry in it but cannot prove that none was left out
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Trust this maker (note verifier key, or a file holding it) for the bundle's
    /// completeness: its signed manifest must verify under the key and match the bundle
    /// exactly, or check refuses (exit 2)
    #[arg(long, value_name = "VKEY", requires = "bundle")]
    bundle_maker: Option<String>,
    /// Print one JSON document instead of the table (same as --format json)
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: CheckFormat,
    /// List failing packages only
    #[arg(long, conflicts_with = "verbose")]
    failures_only: bool,
    /// Every reason for every package, and the packages not checked
    #[arg(long, short)]
    verbose: bool,
}

/// Builds the evaluator's inputs from a bundle or the mirror and evaluates. From a
/// bundle, the report says what the bundle cannot prove and who (if anyone) vouches for
/// its completeness; with `maker`, a manifest that does not verify is an error.
fn evaluate(
    policy: &Policy,
    lock: &ParsedLockfile,
    src: &SourceArgs,
    bundle_dir: Option<&Path>,
    maker: Option<&str>,
    quiet: bool,
) -> Result<Report> {
    let q = Queries::from_parsed(lock);
    let wanted = Some(q.wanted());
    let mut ev = Evaluator::new(policy);
    let mut warnings = Vec::new();
    let mut bundle_notes = Vec::new();
    match bundle_dir {
        Some(d) => {
            let maker = maker.map(keys::load_ed25519_verifier).transpose()?;
            let vouched = bundle_manifest::vouched(d, policy, maker.as_ref())?;
            let l = bundle::load_into(d, &mut ev, &wanted)?;
            warnings.extend(l.warnings);
            bundle_notes.push(bundle_manifest::CANNOT_PROVE.to_owned());
            bundle_notes.push(vouched.describe());
        }
        None => {
            let m = src.sync(policy, quiet)?;
            warnings.extend(mirror_warnings(policy, &m));
            let st = mirror::load_into(&m, &mut ev, &wanted);
            warnings.extend(st.warnings);
            if st.invalid > 0 {
                warnings.push(format!(
                    "{} log entries did not verify and were ignored",
                    st.invalid
                ));
            }
        }
    }
    warnings.extend(lock.notes.iter().cloned());
    let mut r = Report::evaluate(&ev, &q, src.now()?, warnings);
    r.bundle = bundle_notes;
    Ok(r)
}

pub fn check(a: &CheckArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock_path = a
        .lockfile
        .clone()
        .unwrap_or_else(|| PathBuf::from("Cargo.lock"));
    let lock = load_any_lockfile(&lock_path)?;
    let format = if a.json { CheckFormat::Json } else { a.format };
    let r = evaluate(
        &policy,
        &lock,
        &a.src,
        a.bundle.as_deref(),
        a.bundle_maker.as_deref(),
        format != CheckFormat::Table,
    )?;
    if format == CheckFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&check::render_json(&r, &policy))?
        );
    } else if format == CheckFormat::Sarif {
        // The text was read once already; reading it again only finds line numbers.
        let text = std::fs::read_to_string(&lock_path).unwrap_or_default();
        let sarif = check::sarif::render_sarif(&r, &policy, &lock_path.to_string_lossy(), &text);
        println!("{}", serde_json::to_string_pretty(&sarif)?);
    } else {
        let detail = if a.failures_only {
            check::Detail::FailuresOnly
        } else if a.verbose {
            check::Detail::Verbose
        } else {
            check::Detail::Normal
        };
        print!("{}", check::render_table(&r, &policy, detail));
    }
    Ok(if r.all_pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Args)]
pub struct BundleArgs {
    /// The lockfile whose packages to bundle
    lockfile: PathBuf,
    /// Output directory
    #[arg(long)]
    out: PathBuf,
    /// Sign a manifest (who made the bundle, from which checkpoints, which entries) with
    /// this note secret key (`quorate key`), so users can choose to trust you for its
    /// completeness (`check --bundle-maker VKEY`). Without it the bundle is unsigned
    #[arg(long, value_name = "KEYFILE")]
    sign: Option<PathBuf>,
    #[command(flatten)]
    src: SourceArgs,
}

pub fn bundle(a: &BundleArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock = load_any_lockfile(&a.lockfile)?;
    let q = Queries::from_parsed(&lock);
    let m = a.src.sync(&policy, false)?;
    for w in mirror_warnings(&policy, &m) {
        eprintln!("warning: {w}");
    }
    let signer = a.sign.as_deref().map(keys::load_signer).transpose()?;
    let w = bundle::write_from_mirror(&m, &Some(q.wanted()), &a.out)?;
    let signed = match &signer {
        Some(s) => {
            let manifest =
                bundle_manifest::Manifest::from_written(s.name(), a.src.now()?, q.wanted(), &w)
                    .map_err(anyhow::Error::msg)?;
            bundle_manifest::write(&a.out, &manifest.sign(s)?)?;
            format!("; manifest signed by {}", s.name())
        }
        None => "; unsigned (no --sign): nobody vouches that it is complete".to_owned(),
    };
    println!(
        "wrote {}: {} logs, {} entries with tlog-proofs, {} equivocation evidence files{signed}",
        a.out.display(),
        w.logs,
        w.entries,
        w.equivocations
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct GapsArgs {
    lockfile: PathBuf,
    #[command(flatten)]
    src: SourceArgs,
    #[arg(long)]
    bundle: Option<PathBuf>,
}

pub fn gaps(a: &GapsArgs) -> Result<ExitCode> {
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock = load_any_lockfile(&a.lockfile)?;
    let r = evaluate(&policy, &lock, &a.src, a.bundle.as_deref(), None, false)?;
    print!("{}", check::render_gaps(&check::gaps(&r)));
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// import / export

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
        let ok: Vec<&Logged> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let failed = results.len() - ok.len();
        for (att, r) in attestations.iter().zip(&results) {
            if let Err(e) = r {
                eprintln!("{}@{}: not logged: {e}", att.package, att.version);
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
    #[arg(long)]
    lock: Option<PathBuf>,
    #[command(flatten)]
    src: SourceArgs,
    #[arg(long)]
    bundle: Option<PathBuf>,
}

pub fn export(c: &ExportCommand) -> Result<ExitCode> {
    let ExportCommand::CargoVet(a) = c;
    let policy = load_policy(a.src.policy.as_deref())?;
    let lock = load_any_lockfile(a.lock.as_deref().unwrap_or(Path::new("Cargo.lock")))?;
    let r = evaluate(&policy, &lock, &a.src, a.bundle.as_deref(), None, true)?;
    print!("{}", cargo_vet::export(&r.verdicts, &policy));
    eprintln!(
        "exported {} of {} packages (the rest lack a quorum)",
        r.passed(),
        r.verdicts.len()
    );
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// bench-check

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
