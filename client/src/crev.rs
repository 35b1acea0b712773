//! cargo-crev package reviews as Quorate attestations (`quorate import crev PROOFS_DIR`).
//!
//! Every `*.proof.crev` file under the directory is split into proofs (current
//! `----- BEGIN CREV PROOF -----` and legacy `-----BEGIN CREV PACKAGE REVIEW-----`
//! envelopes), and each proof's Ed25519 signature is checked over its raw body bytes (each
//! body line plus one LF) under the key in the body's `from.id` (base64url, 32 bytes). A
//! proof that does not verify is refused and reported, never imported. Only `package
//! review` proofs become attestations; of several by one author for one release, the newest
//! `date` wins (crev's rule).
//!
//! Mapping (the crev review's `rating`, and the lower of `thoroughness` and
//! `understanding`):
//!
//! | rating | min(thoroughness, understanding) | attestation |
//! |---|---|---|
//! | `positive`, `strong` | `medium` or `high` | certify `safe-to-deploy` |
//! | `positive`, `strong` | `low` | certify `safe-to-run` |
//! | `positive`, `strong` | `none` | skipped: no review effort recorded |
//! | `neutral` | any | skipped: certifies nothing |
//! | `negative`, `dangerous` | any | violation of `safe-to-run` for `=VERSION` (build metadata dropped) |
//! | no `review` map | | skipped: advisory/issue/flag-only proof |
//!
//! A `package-diff-base` makes a delta review from that version. The reviewer name is
//! `crev:<id>`; the notes record the crev id, the proof digest (BLAKE2b-256 of the body,
//! base64url, as crev names proofs), the proof date, the three levels and the comment; an
//! `https` `from.url` becomes a link. `llm-agent` reviews are noted as such. Digests come
//! from the caller (lockfile or crates.io index: crev's own digest hashes the unpacked
//! source, not the archive cargo checks), else `unknown`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::Digest as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use quorate_proto::attestation::{
    Attestation, DeltaBase, Digest, Evidence, MAX_LINK_BYTES, MAX_NOTES_BYTES, Reviewer,
    ReviewerKind, Scope, Verdict,
};
use yaml_rust2::Yaml;

use crate::policy::{SAFE_TO_DEPLOY, SAFE_TO_RUN};
use crate::yaml;

/// crev-data's limits.
pub const MAX_BODY_BYTES: usize = 32_000;
pub const MAX_SIGNATURE_BYTES: usize = 2_000;
/// Proof files larger than this are refused unread.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Most proof files read from one directory tree.
pub const MAX_FILES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum CrevError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Limit(String),
}

/// One signed block as found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawProof {
    /// `package review`, `trust`, `code review` (from the header; the body may repeat it).
    pub kind: String,
    pub body: String,
    pub signature: String,
    /// `file:line` of the start marker.
    pub at: String,
}

fn start_kind(line: &str) -> Option<String> {
    if line == "----- BEGIN CREV PROOF -----" {
        return Some(String::new());
    }
    let t = line
        .strip_prefix("-----BEGIN CREV ")?
        .strip_suffix("-----")?;
    let t = t.trim_end();
    (!t.ends_with("SIGNATURE")).then(|| t.to_ascii_lowercase())
}

fn is_sign(line: &str, kind: &str) -> bool {
    if kind.is_empty() {
        return line == "----- SIGN CREV PROOF -----";
    }
    line.strip_prefix("-----BEGIN CREV ")
        .and_then(|t| t.strip_suffix(" SIGNATURE-----"))
        .is_some_and(|t| t.eq_ignore_ascii_case(kind))
}

fn is_end(line: &str, kind: &str) -> bool {
    if kind.is_empty() {
        return line == "----- END CREV PROOF -----";
    }
    line.strip_prefix("-----END CREV ")
        .and_then(|t| t.strip_suffix("-----"))
        .is_some_and(|t| t.trim_end().eq_ignore_ascii_case(kind))
}

/// Splits a proof file into its proofs. Text between proofs must be blank, as crev requires.
pub fn split(text: &str, file: &str) -> Result<Vec<RawProof>, String> {
    enum St {
        Out,
        Body(RawProof),
        Sig(RawProof),
    }
    let mut out = Vec::new();
    let mut st = St::Out;
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{file}:{}", i + 1);
        let marker = line.trim();
        st = match st {
            St::Out => {
                if marker.is_empty() {
                    St::Out
                } else if let Some(kind) = start_kind(marker) {
                    St::Body(RawProof {
                        kind,
                        body: String::new(),
                        signature: String::new(),
                        at: at(),
                    })
                } else {
                    return Err(format!("{}: text outside a proof", at()));
                }
            }
            St::Body(mut p) => {
                if is_sign(marker, &p.kind) {
                    St::Sig(p)
                } else {
                    p.body.push_str(line);
                    p.body.push('\n');
                    if p.body.len() > MAX_BODY_BYTES {
                        return Err(format!("{}: body over {MAX_BODY_BYTES} bytes", p.at));
                    }
                    St::Body(p)
                }
            }
            St::Sig(mut p) => {
                if is_end(marker, &p.kind) {
                    p.signature = p.signature.trim().to_owned();
                    out.push(p);
                    St::Out
                } else {
                    p.signature.push_str(line);
                    if p.signature.len() > MAX_SIGNATURE_BYTES {
                        return Err(format!(
                            "{}: signature over {MAX_SIGNATURE_BYTES} bytes",
                            p.at
                        ));
                    }
                    St::Sig(p)
                }
            }
        };
    }
    match st {
        St::Out => Ok(out),
        St::Body(p) | St::Sig(p) => Err(format!("{}: file ends inside a proof", p.at)),
    }
}

/// A proof whose signature verified under the key its body names.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    pub kind: String,
    /// `from.id`: the author's Ed25519 key, base64url.
    pub author_id: String,
    /// BLAKE2b-256 of the body, base64url: crev's name for the proof.
    pub digest: String,
    pub date: u64,
    pub body: Yaml,
    pub at: String,
}

/// Checks the signature; reads the body's common fields.
pub fn verify(p: &RawProof) -> Result<VerifiedProof, String> {
    let body = yaml::parse(&p.body).map_err(|e| format!("body is not YAML: {e}"))?;
    let kind = match yaml::field(&body, "kind") {
        Some(k) if p.kind.is_empty() => k,
        Some(_) => return Err("legacy envelope with a `kind` in the body".into()),
        None if p.kind.is_empty() => return Err("no `kind`".into()),
        None => p.kind.clone(),
    };
    if yaml::field(&body["from"], "id-type").as_deref() != Some("crev") {
        return Err("from.id-type is not `crev`".into());
    }
    let id = yaml::field(&body["from"], "id").ok_or("no from.id")?;
    let key: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&id)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or("from.id is not 32 bytes of base64url")?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| "from.id is not an Ed25519 key")?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(&p.signature)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or("signature is not 64 bytes of base64url")?;
    key.verify(p.body.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| format!("signature does not verify under from.id {id}"))?;
    let date_text = yaml::field(&body, "date").ok_or("no date")?;
    let date =
        yaml::unix_time(&date_text).ok_or_else(|| format!("date {date_text:?} unreadable"))?;
    let digest = URL_SAFE_NO_PAD.encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(
        p.body.as_bytes(),
    ));
    Ok(VerifiedProof {
        kind,
        author_id: id,
        digest,
        date,
        body,
        at: p.at.clone(),
    })
}

/// Every proof under a directory.
#[derive(Debug, Default)]
pub struct ProofSet {
    /// Package reviews, newest per (author, crate, version).
    pub reviews: Vec<VerifiedProof>,
    /// Package reviews replaced by a newer one of the same author and release.
    pub superseded: usize,
    pub trust: usize,
    pub other_kinds: usize,
    /// `(where, why)` for every proof or file refused.
    pub refused: Vec<(String, String)>,
    pub files: usize,
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), CrevError> {
    let io = |source| CrevError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let ty = e.file_type().map_err(io)?;
        let p = e.path();
        if ty.is_dir() {
            collect_files(&p, out)?;
        } else if ty.is_file() && p.to_string_lossy().ends_with(".proof.crev") {
            if out.len() >= MAX_FILES {
                return Err(CrevError::Limit(format!(
                    "more than {MAX_FILES} proof files"
                )));
            }
            out.push(p);
        }
    }
    Ok(())
}

/// Reads and verifies every proof file under `dir`.
pub fn read_dir(dir: &Path) -> Result<ProofSet, CrevError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    let mut set = ProofSet {
        files: files.len(),
        ..ProofSet::default()
    };
    let mut newest: BTreeMap<(String, String, String), VerifiedProof> = BTreeMap::new();
    for f in &files {
        let name = f.strip_prefix(dir).unwrap_or(f).display().to_string();
        let io = |source| CrevError::Io {
            path: f.display().to_string(),
            source,
        };
        if std::fs::metadata(f).map_err(io)?.len() > MAX_FILE_BYTES {
            set.refused
                .push((name, format!("over {MAX_FILE_BYTES} bytes, not read")));
            continue;
        }
        let text = match String::from_utf8(std::fs::read(f).map_err(io)?) {
            Ok(t) => t,
            Err(_) => {
                set.refused.push((name, "not UTF-8".into()));
                continue;
            }
        };
        let raws = match split(&text, &name) {
            Ok(r) => r,
            Err(e) => {
                // crev's parser rejects the whole file too.
                set.refused.push((name, e));
                continue;
            }
        };
        for raw in &raws {
            let v = match verify(raw) {
                Ok(v) => v,
                Err(e) => {
                    set.refused.push((raw.at.clone(), e));
                    continue;
                }
            };
            match v.kind.as_str() {
                "package review" => {
                    let pkg = &v.body["package"];
                    let key = (
                        v.author_id.clone(),
                        yaml::field(pkg, "name").unwrap_or_default(),
                        yaml::field(pkg, "version").unwrap_or_default(),
                    );
                    match newest.get(&key) {
                        Some(old) if old.date >= v.date => set.superseded += 1,
                        Some(_) => {
                            set.superseded += 1;
                            newest.insert(key, v);
                        }
                        None => {
                            newest.insert(key, v);
                        }
                    }
                }
                "trust" => set.trust += 1,
                _ => set.other_kinds += 1,
            }
        }
    }
    set.reviews = newest.into_values().collect();
    Ok(set)
}

/// What the importer signs with and records.
pub struct ImportOptions<'a> {
    pub organisation: String,
    pub reviewer_key: [u8; 32],
    /// `(crate, version) -> archive digest` (lockfile, crates.io index).
    pub digests: &'a BTreeMap<(String, String), Digest>,
}

fn level(s: Option<String>) -> Option<u8> {
    match s.as_deref().unwrap_or("none") {
        "none" => Some(0),
        "low" => Some(1),
        "medium" => Some(2),
        "high" => Some(3),
        _ => None,
    }
}

/// The (crate, version) pairs the reviews name, for looking up digests.
pub fn named_versions(set: &ProofSet) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for v in &set.reviews {
        for key in ["package", "package-diff-base"] {
            let p = &v.body[key];
            if let (Some(n), Some(ver)) = (yaml::field(p, "name"), yaml::field(p, "version")) {
                out.insert((n, ver));
            }
        }
    }
    out
}

/// The result of converting proofs: attestations, and each proof skipped with why.
#[derive(Debug, Default)]
pub struct Imported {
    pub attestations: Vec<Attestation>,
    pub skipped: Vec<(String, String)>,
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max.saturating_sub(3);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Converts verified package reviews by the table in the module docs.
pub fn to_attestations(set: &ProofSet, opts: &ImportOptions<'_>) -> Imported {
    let mut out = Imported::default();
    for v in &set.reviews {
        let pkg = &v.body["package"];
        let (Some(name), Some(version)) = (yaml::field(pkg, "name"), yaml::field(pkg, "version"))
        else {
            out.skipped
                .push((v.at.clone(), "package without name or version".into()));
            continue;
        };
        let what = format!("{name} {version} ({})", v.at);
        let source = yaml::field(pkg, "source").unwrap_or_default();
        if source.trim_end_matches('/') != "https://crates.io" {
            out.skipped
                .push((what, format!("source {source:?} is not crates.io")));
            continue;
        }
        let review = &v.body["review"];
        if review.is_badvalue() {
            out.skipped
                .push((what, "no review (advisory, issue or flag only)".into()));
            continue;
        }
        let rating = yaml::field(review, "rating").unwrap_or_else(|| "neutral".into());
        let (Some(t), Some(u)) = (
            level(yaml::field(review, "thoroughness")),
            level(yaml::field(review, "understanding")),
        ) else {
            out.skipped
                .push((what, "unknown thoroughness or understanding level".into()));
            continue;
        };
        let digest_of = |ver: &str| {
            opts.digests
                .get(&(name.clone(), ver.to_owned()))
                .copied()
                .unwrap_or(Digest::Unknown)
        };
        let (verdict, criteria, att_version) = match rating.as_str() {
            "negative" | "dangerous" => {
                let core = version.split('+').next().unwrap_or(&version);
                (
                    Verdict::Violation {
                        range: format!("={core}"),
                    },
                    vec![SAFE_TO_RUN.to_owned()],
                    core.to_owned(),
                )
            }
            "positive" | "strong" => match t.min(u) {
                0 => {
                    out.skipped.push((
                        what,
                        "positive rating with no review effort recorded".into(),
                    ));
                    continue;
                }
                1 => (
                    Verdict::Certify,
                    vec![SAFE_TO_RUN.to_owned()],
                    version.clone(),
                ),
                _ => (
                    Verdict::Certify,
                    vec![SAFE_TO_DEPLOY.to_owned()],
                    version.clone(),
                ),
            },
            "neutral" => {
                out.skipped
                    .push((what, "neutral rating certifies nothing".into()));
                continue;
            }
            other => {
                out.skipped
                    .push((what, format!("unknown rating {other:?}")));
                continue;
            }
        };
        let base = &v.body["package-diff-base"];
        let delta_from = match (&verdict, yaml::field(base, "version")) {
            (Verdict::Certify, Some(bv)) => Some(DeltaBase {
                digest: digest_of(&bv),
                version: bv,
            }),
            _ => None,
        };
        let url = yaml::field(&v.body["from"], "url")
            .filter(|u| u.starts_with("https://") && u.len() <= MAX_LINK_BYTES);
        let llm = &v.body["llm-agent"];
        let agent = if llm.is_badvalue() {
            String::new()
        } else {
            format!(
                "; reviewer kind: LLM agent ({})",
                yaml::field(llm, "model").unwrap_or_default()
            )
        };
        let notes = format!(
            "cargo-crev review by crev id {} (proof {}, {}): thoroughness {}, understanding {}, rating {rating}{agent}{}",
            v.author_id,
            v.digest,
            yaml::field(&v.body, "date").unwrap_or_default(),
            yaml::field(review, "thoroughness").unwrap_or_else(|| "none".into()),
            yaml::field(review, "understanding").unwrap_or_else(|| "none".into()),
            yaml::field(&v.body, "comment")
                .map(|c| format!("\n{c}"))
                .unwrap_or_default(),
        );
        let att = Attestation {
            artifacts: vec![],
            scope: Some(Scope::Full),
            evidence: Some(Evidence::SourceReview),
            reveal: None,
            ecosystem: "cargo".into(),
            package: name.clone(),
            digest: if matches!(verdict, Verdict::Violation { .. }) {
                Digest::Unknown
            } else {
                digest_of(&version)
            },
            version: att_version,
            delta_from,
            criteria,
            verdict,
            reviewer: Reviewer {
                kind: ReviewerKind::Human,
                name: format!("crev:{}", v.author_id),
                public_key: opts.reviewer_key,
            },
            organisation: opts.organisation.clone(),
            time: v.date,
            notes: truncate(notes, MAX_NOTES_BYTES),
            links: url.into_iter().collect(),
            supersedes: None,
        };
        match att.validate() {
            Ok(()) => out.attestations.push(att),
            Err(e) => out
                .skipped
                .push((what, format!("not a valid attestation: {e}"))),
        }
    }
    out
}
