//! Sealed attestations on the command line: `review --seal` (and the `evidence` commands
//! with `--seal`) writes the commitment to log now and a seal file holding what opens
//! it; `quorate reveal SEALFILE` signs the reveal, refuses it unless it opens the
//! commitment, and can submit it.
//!
//! The seal file is the embargoed content: it is created with mode 0600, never
//! overwritten, and refused when group or others can read it (as secret keys are).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use ed25519_dalek::SigningKey;
use quorate_client::net::Node;
use quorate_client::{files, keys, submit};
use quorate_proto::attestation::{
    self, Attestation, Verdict, VerifiedAttestation, sealed::SALT_BYTES, verify_reveal,
};
use serde::{Deserialize, Serialize};

use super::attest::{default_out, org_suffix};
use super::hex;
use super::submit::{log_key_for, report_submitted};

/// The seal file's `format` value.
pub const SEAL_FORMAT: &str = "quorate-seal/v1";

/// The seal file: JSON, everything `reveal` needs and nothing it could take from
/// elsewhere unchecked (the commitment is re-verified, the content re-validated).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealFile {
    format: String,
    /// The commitment's log entry (envelope), base64.
    commitment: String,
    /// Its RFC 6962 leaf hash, hex.
    commitment_leaf_hash: String,
    /// The salt, hex.
    salt: String,
    /// The canonical payload of the attestation to reveal (without its `reveal`), base64.
    inner_payload: String,
}

fn seal_path(out: &Path, given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out.with_extension("seal"))
}

/// Writes the commitment for `inner` to `out` and the seal file beside it (or to
/// `seal_file`). The seal file is written first: a commitment whose opening was lost
/// could never be revealed.
pub fn seal(
    inner: &Attestation,
    key: &SigningKey,
    out: &Path,
    seal_file: Option<&Path>,
    time: u64,
) -> Result<()> {
    // Sign the inner attestation once, only to validate it now: content that could not
    // be signed later must not be committed to.
    attestation::sign(inner, key).context("the sealed content is not a valid attestation")?;
    let salt = zeroize::Zeroizing::new(keys::random_seed().context("reading randomness")?);
    let commitment = Attestation::sealed_commitment(inner, &salt, time);
    let env = attestation::sign(&commitment, key).context("signing the commitment")?;
    let v = attestation::verify(&env).context("verifying the signed commitment")?;
    let file = SealFile {
        format: SEAL_FORMAT.into(),
        commitment: B64.encode(&env),
        commitment_leaf_hash: hex(v.leaf_hash()),
        salt: hex(salt.as_slice()),
        inner_payload: B64.encode(inner.encode_payload()),
    };
    let sp = seal_path(out, seal_file);
    if out.exists() {
        bail!("{} already exists; refusing to overwrite it", out.display());
    }
    let text = zeroize::Zeroizing::new(serde_json::to_string_pretty(&file)? + "\n");
    files::create_new(&sp, text.as_bytes(), true)?;
    files::create_new(out, &env, false)?;
    println!(
        "{} seals an attestation of {}/{}@{} by {}{}: submit it now; the content stays hidden",
        out.display(),
        inner.ecosystem,
        inner.package,
        inner.version,
        inner.reviewer.name,
        org_suffix(&inner.organisation)
    );
    println!(
        "{}: the sealed content and its salt (mode 0600): keep it secret until the reveal, and keep it safe: without it the commitment can never be opened",
        sp.display()
    );
    println!("leaf hash {}", hex(v.leaf_hash()));
    Ok(())
}

#[derive(Args)]
pub struct RevealArgs {
    /// The seal file `review --seal` wrote
    seal_file: PathBuf,
    /// The reviewer's secret key file (the one that signed the commitment)
    #[arg(long, value_name = "SKEYFILE")]
    key: PathBuf,
    /// Output file for the reveal (default NAME-VERSION-reveal.att; never overwritten)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also submit the reveal to this node (base URL), verifying the proof it returns
    #[arg(long)]
    node: Option<String>,
    /// With --node: the log's vkey (literally or a .pub file), to verify its checkpoint
    #[arg(long, value_name = "VKEY", requires = "node")]
    log: Option<String>,
    /// With --node: a policy whose review-log URL matches --node supplies the log key
    #[arg(long, requires = "node")]
    policy: Option<PathBuf>,
}

/// Decodes a seal file strictly: the commitment verifies and is the one named, the
/// content is a valid attestation without a `reveal`, the salt is 32 bytes.
fn read_seal(path: &Path) -> Result<(VerifiedAttestation, Attestation, [u8; SALT_BYTES])> {
    let label = path.display().to_string();
    let text = files::read_secret(path)?;
    let f: SealFile =
        serde_json::from_str(&text).map_err(|e| anyhow!("{label} is not a seal file: {e}"))?;
    if f.format != SEAL_FORMAT {
        bail!(
            "{label}: unsupported seal format {:?} (supported: {SEAL_FORMAT})",
            f.format
        );
    }
    let env = B64
        .decode(&f.commitment)
        .map_err(|_| anyhow!("{label}: commitment is not base64"))?;
    let commitment = attestation::verify(&env)
        .map_err(|e| anyhow!("{label}: the commitment does not verify: {e}"))?;
    if hex(commitment.leaf_hash()) != f.commitment_leaf_hash {
        bail!(
            "{label}: commitment_leaf_hash {} is not the commitment's leaf hash {}",
            f.commitment_leaf_hash,
            hex(commitment.leaf_hash())
        );
    }
    let payload = B64
        .decode(&f.inner_payload)
        .map_err(|_| anyhow!("{label}: inner_payload is not base64"))?;
    let inner = Attestation::decode_payload(&payload)
        .map_err(|e| anyhow!("{label}: the sealed content is not a valid attestation: {e}"))?;
    if inner.reveal.is_some() {
        bail!("{label}: the sealed content already carries a reveal link");
    }
    let salt = quorate_proto::attestation::Digest::from_hex(&f.salt)
        .ok()
        .and_then(|d| match d {
            quorate_proto::attestation::Digest::Sha256(b) => Some(b),
            _ => None,
        })
        .ok_or_else(|| anyhow!("{label}: salt must be {SALT_BYTES} bytes of hex"))?;
    Ok((commitment, inner, salt))
}

pub fn reveal(a: &RevealArgs) -> Result<ExitCode> {
    let (name, key) = keys::load_reviewer_key(&a.key)?;
    let (commitment, inner, salt) = read_seal(&a.seal_file)?;
    if key.verifying_key().to_bytes() != *commitment.reviewer_key() {
        bail!(
            "{} is not the key that signed the commitment (reviewer {:?}); a reveal must be signed by the same key",
            a.key.display(),
            commitment.attestation().reviewer.name
        );
    }
    let att = Attestation::revealing(&inner, *commitment.leaf_hash(), salt);
    let env = attestation::sign(&att, &key).context("signing the reveal")?;
    let revealed = attestation::verify(&env).context("verifying the signed reveal")?;
    // The same check every client makes: refuse locally, before anything is logged.
    verify_reveal(&commitment, &revealed).map_err(|e| {
        anyhow!(
            "refusing the reveal: it does not open commitment {}: {e}",
            hex(commitment.leaf_hash())
        )
    })?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| default_out(&inner.package, &inner.version, "-reveal"));
    files::create_new(&out, &env, false)?;
    println!(
        "{} reveals {} {}/{}@{} ({}) {} by {name}{}, opening commitment {}",
        out.display(),
        match &att.verdict {
            Verdict::Violation { range } => format!("a violation {range} of"),
            Verdict::Informational => "a fact (informational) about".into(),
            _ => "a certification of".into(),
        },
        att.ecosystem,
        att.package,
        att.version,
        att.digest,
        att.criteria.join(", "),
        org_suffix(&att.organisation),
        hex(commitment.leaf_hash())
    );
    println!("leaf hash {}", hex(revealed.leaf_hash()));
    let Some(url) = &a.node else {
        return Ok(ExitCode::SUCCESS);
    };
    let log_key = log_key_for(url, a.log.as_deref(), a.policy.as_deref())?;
    let results = submit::submit_all(&Node::new(url), &[env], log_key.as_ref());
    let failed = report_submitted(&[out.display().to_string()], &results);
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
