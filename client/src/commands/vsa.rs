//! `check --vsa DIR`: one signed SLSA Verification Summary Attestation per lockfile entry
//! that passed; and `verify-vsa`: check one with the checker's public key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use quorate_client::check::Report;
use quorate_client::policy::Policy;
use quorate_client::quorum::Counted;
use quorate_client::vsa::{self, Subject, Summary};
use quorate_client::{files, keys};
use quorate_proto::note::Signer;
use sha2::{Digest as _, Sha256};

/// The `check` flags that ask for VSAs.
#[derive(Args)]
pub struct VsaArgs {
    /// Write a SLSA Verification Summary Attestation (in-toto statement in a DSSE
    /// envelope) for every package that passed into DIR (needs --vsa-key)
    #[arg(long, value_name = "DIR", requires = "vsa_key")]
    pub vsa: Option<PathBuf>,
    /// The checker's signed-note secret key (`quorate key generate`) that signs the VSAs
    #[arg(long, value_name = "SKEYFILE", requires = "vsa")]
    pub vsa_key: Option<PathBuf>,
    /// The VSAs' verifier.id, a URI (default urn:quorate:checker:KEYNAME)
    #[arg(long, value_name = "URI", requires = "vsa")]
    pub vsa_verifier: Option<String>,
    /// The VSAs' policy.uri (default: the file:// URL of the policy file)
    #[arg(long, value_name = "URI", requires = "vsa")]
    pub vsa_policy_uri: Option<String>,
}

/// What writing needs, loaded before the (long) evaluation so a bad key fails fast.
pub struct VsaWriter {
    dir: PathBuf,
    signer: Signer,
    verifier_id: String,
    policy_uri: String,
    policy_sha256: [u8; 32],
}

impl VsaArgs {
    pub fn writer(&self, policy_path: &Path) -> Result<Option<VsaWriter>> {
        let (Some(dir), Some(key)) = (&self.vsa, &self.vsa_key) else {
            return Ok(None);
        };
        let signer = keys::load_signer(key)?;
        let (_, policy_bytes) = files::read_input(Some(policy_path))?;
        let policy_uri = match &self.vsa_policy_uri {
            Some(u) => u.clone(),
            None => {
                let abs = std::fs::canonicalize(policy_path)
                    .with_context(|| format!("cannot resolve {}", policy_path.display()))?;
                format!("file://{}", abs.display())
            }
        };
        let verifier_id = self.vsa_verifier.clone().unwrap_or_else(|| {
            format!("urn:quorate:checker:{}", keys::file_stem_for(signer.name()))
        });
        for (flag, u) in [
            ("--vsa-verifier", &verifier_id),
            ("--vsa-policy-uri", &policy_uri),
        ] {
            if !u.contains(':') || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("{flag} {u:?} is not a URI");
            }
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Some(VsaWriter {
            dir: dir.clone(),
            signer,
            verifier_id,
            policy_uri,
            policy_sha256: Sha256::digest(&policy_bytes).into(),
        }))
    }
}

/// `QUORATE_QUORUM_K2_SAFE_TO_DEPLOY`: a custom SlsaResult (the VSA spec reserves `SLSA_`
/// names for SLSA's own tracks, which a review quorum is not).
fn level(policy: &Policy, criterion: &str) -> String {
    format!(
        "QUORATE_QUORUM_K{}_{}",
        policy.review_quorum().max(1),
        criterion
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            })
            .collect::<String>()
    )
}

impl VsaWriter {
    /// Writes one VSA per passing entry; returns how many.
    pub fn write(&self, r: &Report, policy: &Policy, time_verified: &str) -> Result<usize> {
        let mut n = 0;
        for e in r.entries.iter().filter(|e| e.pass) {
            let purl = e.entry.id.purl();
            let mut subjects = Vec::new();
            let mut counted: Vec<Counted> = Vec::new();
            let mut criterion = policy.criteria().to_owned();
            for f in &e.files {
                let Some(v) = f.verdict.map(|i| &r.verdicts[i]) else {
                    continue;
                };
                let digest = v.query.digest;
                let name = if f.label == digest.to_string() || f.label.starts_with('(') {
                    purl.clone()
                } else {
                    f.label.clone()
                };
                subjects.push(Subject { name, digest });
                counted.extend(v.counted.iter().cloned());
                criterion.clone_from(&v.criteria);
            }
            counted.sort();
            counted.dedup();
            if subjects
                .iter()
                .all(|s| vsa::digest_set(&s.digest).is_none())
            {
                // Passed under accept-unknown-digests: nothing to name as the subject.
                eprintln!(
                    "warning: no VSA for {purl}: it passed without a digest (accept-unknown-digests), and a VSA names its subject by digest"
                );
                continue;
            }
            let st = vsa::statement(&Summary {
                subjects,
                resource_uri: purl.clone(),
                verifier_id: self.verifier_id.clone(),
                time_verified: time_verified.to_owned(),
                policy_uri: self.policy_uri.clone(),
                policy_sha256: self.policy_sha256,
                counted: &counted,
                verified_levels: vec![level(policy, &criterion)],
            });
            let env = vsa::sign(&st, &self.signer)?;
            let file = self.dir.join(format!(
                "{}.vsa.json",
                keys::file_stem_for(&purl.replace('/', "_"))
            ));
            std::fs::write(&file, env)
                .with_context(|| format!("cannot write {}", file.display()))?;
            n += 1;
        }
        Ok(n)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[derive(Args)]
pub struct VerifyVsaArgs {
    /// The checker's public key (the vkey, literally or as its .pub file)
    #[arg(long, value_name = "VKEY")]
    key: String,
    /// Also require this resourceUri (a purl)
    #[arg(long, value_name = "PURL")]
    resource_uri: Option<String>,
    /// Also require a subject with this digest (any notation the client reads)
    #[arg(long, value_name = "DIGEST")]
    digest: Option<String>,
    /// The VSA file (a DSSE envelope)
    file: PathBuf,
}

pub fn verify_vsa(a: &VerifyVsaArgs) -> Result<ExitCode> {
    let key = keys::load_ed25519_verifier(&a.key)?;
    let (label, bytes) = files::read_input(Some(&a.file))?;
    let v = match vsa::verify(&bytes, &key) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {label}: refused: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let p = v.predicate();
    let refuse = |why: String| {
        eprintln!("error: {label}: refused: {why}");
        Ok(ExitCode::FAILURE)
    };
    if p["verificationResult"] != "PASSED" {
        return refuse(format!("verificationResult is {}", p["verificationResult"]));
    }
    if let Some(u) = &a.resource_uri
        && p["resourceUri"] != u.as_str()
    {
        return refuse(format!("resourceUri is {}, not {u:?}", p["resourceUri"]));
    }
    if let Some(d) = &a.digest {
        let d =
            quorate_proto::attestation::Digest::parse(d).map_err(|e| anyhow!("--digest: {e}"))?;
        let (alg, val) =
            vsa::digest_set(&d).ok_or_else(|| anyhow!("--digest: not a recorded digest"))?;
        let found = v.statement["subject"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["digest"][&alg] == val.as_str());
        if !found {
            return refuse(format!("no subject has the digest {d}"));
        }
    }
    println!(
        "{label}: signature verified; {} PASSED by {} at {} under policy {} ({} counted attestations)",
        p["resourceUri"].as_str().unwrap_or("?"),
        p["verifier"]["id"].as_str().unwrap_or("?"),
        p["timeVerified"].as_str().unwrap_or("?"),
        p["policy"]["uri"].as_str().unwrap_or("?"),
        p["inputAttestations"].as_array().map_or(0, Vec::len)
    );
    Ok(ExitCode::SUCCESS)
}
