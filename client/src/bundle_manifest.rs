//! Who made a bundle, and from what: the signed manifest `DIR/manifest`.
//!
//! A bundle is a subset of its logs, copied by whoever hands it over; every entry in it is
//! proven, but nothing in it can prove that no entry was left out, such as a withdrawal or
//! a violation. The manifest lets its maker vouch for completeness: a C2SP signed note
//! (signed with the maker's note key, `quorate bundle --sign KEY`) whose text is
//!
//! ```text
//! quorate-bundle-manifest v1
//! maker <maker key name>
//! time <POSIX seconds>
//! package <ecosystem> <name>                      one line per package bundled
//! log <origin> <size> <root-base64> <entries> <entries-digest-hex>
//! evidence <files> <evidence-digest-hex>          exactly once
//! ```
//!
//! One `log` line per log: the checkpoint the bundle's proofs use (origin, tree size,
//! root hash) and the entries the maker wrote for it (count, and SHA-256 of 0x00 followed
//! by their sorted leaf hashes: RFC 6962's leaf hash of that string). The `evidence` line
//! digests the files in `DIR/equivocations` the same way. A user who trusts the maker to
//! have copied everything checks it with `quorate check --bundle DIR --bundle-maker VKEY`:
//! the signature must verify under VKEY, and what the loader reads must be exactly what
//! is listed: every entry in the folder it reads for each policy log (a legacy `_`-named
//! folder included), each entry's `.tlog-proof` by the listed checkpoint, and the
//! evidence files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quorate_proto::checkpoint::Checkpoint;
use quorate_proto::merkle::{self, Hash};
use quorate_proto::note::{self, Ed25519Verifier, NoteVerifier, Signer};

use crate::bundle::Layout;
use crate::policy::Policy;
use quorate_proto::tlog_proof::TlogProof;

pub const FILE: &str = "manifest";
const HEADER: &str = "quorate-bundle-manifest v1";
/// Largest manifest read (a line per package and per log).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("bundle manifest {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
    #[error("bundle {dir} is unsigned (no {FILE}): nobody vouches that it is complete")]
    Unsigned { dir: PathBuf },
    #[error("bundle manifest {path} is not signed by the maker you named ({want}): {reason}")]
    WrongMaker {
        path: PathBuf,
        want: String,
        reason: String,
    },
    #[error("bundle {dir} differs from what its maker signed: {}", .problems.join("; "))]
    Tampered { dir: PathBuf, problems: Vec<String> },
    #[error("bundle manifest: {0}")]
    Io(#[from] std::io::Error),
}

/// One log as the maker bundled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub entries: u64,
    pub entries_digest: Hash,
}

/// The manifest's text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub maker: String,
    pub time: u64,
    pub packages: BTreeSet<(String, String)>,
    pub logs: Vec<LogLine>,
    /// Files in `DIR/equivocations`: their count and the digest of their leaf hashes.
    pub evidence: u64,
    pub evidence_digest: Hash,
}

/// SHA-256 of 0x00 || the sorted leaf hashes (RFC 6962's leaf hash of that string).
pub fn entries_digest(leaves: &[Hash]) -> Hash {
    let mut sorted = leaves.to_vec();
    sorted.sort_unstable();
    merkle::leaf_hash(&sorted.concat())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Manifest {
    pub fn to_text(&self) -> String {
        let mut t = format!("{HEADER}\nmaker {}\ntime {}\n", self.maker, self.time);
        for (eco, pkg) in &self.packages {
            let _ = writeln!(t, "package {eco} {pkg}");
        }
        for l in &self.logs {
            let _ = writeln!(
                t,
                "log {} {} {} {} {}",
                l.origin,
                l.size,
                B64.encode(l.root),
                l.entries,
                hex(&l.entries_digest)
            );
        }
        let _ = writeln!(
            t,
            "evidence {} {}",
            self.evidence,
            hex(&self.evidence_digest)
        );
        t
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut lines = text.lines().enumerate();
        if lines.next().map(|(_, l)| l) != Some(HEADER) {
            return Err(format!("first line must be {HEADER:?}"));
        }
        let mut m = Manifest {
            maker: String::new(),
            time: 0,
            packages: BTreeSet::new(),
            logs: Vec::new(),
            evidence: 0,
            evidence_digest: [0; 32],
        };
        let mut evidence_seen = false;
        for (n, line) in lines {
            let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["maker", name] if m.maker.is_empty() => m.maker = (*name).to_owned(),
                ["time", t] => m.time = t.parse().map_err(|_| bad("bad time"))?,
                ["package", eco, pkg] => {
                    m.packages.insert(((*eco).to_owned(), (*pkg).to_owned()));
                }
                ["log", origin, size, root, entries, digest] => {
                    let root = B64
                        .decode(root)
                        .ok()
                        .and_then(|r| <Hash>::try_from(r).ok())
                        .ok_or_else(|| bad("bad root hash"))?;
                    m.logs.push(LogLine {
                        origin: (*origin).to_owned(),
                        size: size.parse().map_err(|_| bad("bad size"))?,
                        root,
                        entries: entries.parse().map_err(|_| bad("bad entry count"))?,
                        entries_digest: unhex32(digest).ok_or_else(|| bad("bad digest"))?,
                    });
                }
                ["evidence", count, digest] if !evidence_seen => {
                    evidence_seen = true;
                    m.evidence = count.parse().map_err(|_| bad("bad evidence count"))?;
                    m.evidence_digest = unhex32(digest).ok_or_else(|| bad("bad digest"))?;
                }
                _ => return Err(bad("unknown or repeated line")),
            }
        }
        if m.maker.is_empty() {
            return Err("no maker line".into());
        }
        if !evidence_seen {
            return Err("no evidence line".into());
        }
        Ok(m)
    }

    /// Signs the manifest with the maker's note key.
    pub fn sign(&self, signer: &Signer) -> Result<String, note::NoteError> {
        note::sign(&self.to_text(), &[signer])
    }
}

impl Manifest {
    /// The manifest for what [`crate::bundle::write_from_mirror`] wrote.
    pub fn from_written(
        maker: &str,
        time: u64,
        packages: impl IntoIterator<Item = (String, String)>,
        w: &crate::bundle::Written,
    ) -> Result<Manifest, String> {
        let mut logs = Vec::new();
        for (origin, note_bytes, leaves) in &w.written {
            let c =
                checkpoint_body(note_bytes).map_err(|e| format!("checkpoint of {origin}: {e}"))?;
            logs.push(LogLine {
                origin: origin.clone(),
                size: c.size(),
                root: *c.root_hash(),
                entries: leaves.len() as u64,
                entries_digest: entries_digest(leaves),
            });
        }
        Ok(Manifest {
            maker: maker.to_owned(),
            time,
            packages: packages.into_iter().collect(),
            logs,
            evidence: w.evidence.len() as u64,
            evidence_digest: entries_digest(&w.evidence.values().copied().collect::<Vec<_>>()),
        })
    }
}

/// Writes the signed manifest into the bundle.
pub fn write(dir: &Path, signed: &str) -> Result<(), ManifestError> {
    fs::write(dir.join(FILE), signed)?;
    Ok(())
}

/// What a user can know about a bundle's completeness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vouched {
    /// No manifest: nobody vouches for completeness.
    Unsigned,
    /// A manifest is there, but no maker key was given to verify it with.
    NotVerified { claimed_maker: String },
    /// Signed by the maker the user named, and the contents match.
    Verified(Manifest),
}

/// The statement `check --bundle` prints, whatever the bundle's maker says.
pub const CANNOT_PROVE: &str = "a bundle is a subset of its logs, chosen by whoever made it: \
    every entry in it is proven, but it cannot prove that no withdrawal or violation was left out";

impl Vouched {
    /// The line `check` prints about who vouches for completeness.
    pub fn describe(&self) -> String {
        match self {
            Vouched::Unsigned => "unsigned: nobody vouches that it is complete (make one with \
                 `quorate bundle --sign KEY`, check it with `--bundle-maker VKEY`)"
                .into(),
            Vouched::NotVerified { claimed_maker } => format!(
                "signed manifest claiming maker {claimed_maker:?}, not verified: pass \
                 --bundle-maker VKEY to rely on a maker for completeness"
            ),
            Vouched::Verified(m) => format!(
                "made by {} at {} (signature verified, contents match) from checkpoints {}",
                m.maker,
                m.time,
                m.logs
                    .iter()
                    .map(|l| format!("{}@{}", l.origin, l.size))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn read_manifest(dir: &Path) -> Result<Option<Vec<u8>>, ManifestError> {
    let path = dir.join(FILE);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::Bad {
            path,
            reason: format!("over {MAX_MANIFEST_BYTES} bytes"),
        });
    }
    Ok(Some(fs::read(&path)?))
}

/// Reads the bundle's manifest. Without `maker`, reports what is there without relying
/// on it. With `maker`, the manifest must exist, verify under that key, and match the
/// bundle's checkpoints and entries exactly; anything else is an error naming it.
pub fn vouched(
    dir: &Path,
    policy: &Policy,
    maker: Option<&Ed25519Verifier>,
) -> Result<Vouched, ManifestError> {
    let path = dir.join(FILE);
    let Some(bytes) = read_manifest(dir)? else {
        return match maker {
            None => Ok(Vouched::Unsigned),
            Some(_) => Err(ManifestError::Unsigned {
                dir: dir.to_path_buf(),
            }),
        };
    };
    let Some(maker) = maker else {
        // Say whom it claims, without trusting it.
        let text = String::from_utf8_lossy(&bytes);
        let claimed = text
            .lines()
            .find_map(|l| l.strip_prefix("maker "))
            .unwrap_or("?")
            .to_owned();
        return Ok(Vouched::NotVerified {
            claimed_maker: claimed,
        });
    };
    let verifiers: [&dyn NoteVerifier; 1] = [maker];
    let opened = note::open(&bytes, &verifiers).map_err(|e| ManifestError::WrongMaker {
        path: path.clone(),
        want: maker.vkey(),
        reason: e.to_string(),
    })?;
    let m = Manifest::parse(opened.text()).map_err(|reason| ManifestError::Bad {
        path: path.clone(),
        reason,
    })?;
    let problems = compare(dir, policy, &m)?;
    if !problems.is_empty() {
        return Err(ManifestError::Tampered {
            dir: dir.to_path_buf(),
            problems,
        });
    }
    Ok(Vouched::Verified(m))
}

/// The checkpoint body (origin, size, root) of a signed checkpoint note.
fn checkpoint_body(note_bytes: &[u8]) -> Result<Checkpoint, String> {
    let text = String::from_utf8_lossy(note_bytes);
    let body_end = text.find("\n\n").map_or(text.len(), |i| i + 1);
    Checkpoint::parse(&text[..body_end]).map_err(|e| e.to_string())
}

/// Differences between what `check --bundle` would read and what the manifest lists:
/// for every policy log, the folder the loader reads ([`crate::bundle::log_dir`], legacy
/// names included), the leaf hashes of all its entries and the checkpoint of each
/// entry's own `.tlog-proof` (the one the loader proves it with); and every file in
/// `DIR/equivocations`. Files are hashed from their bytes: names are not trusted. In a
/// packed bundle, every record of the log's pack and the log directory's checkpoint.
fn compare(dir: &Path, policy: &Policy, m: &Manifest) -> Result<Vec<String>, ManifestError> {
    let mut problems = Vec::new();
    let layout = crate::bundle::layout(dir).map_err(|e| ManifestError::Bad {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let listed: BTreeMap<&str, &LogLine> = m.logs.iter().map(|l| (l.origin.as_str(), l)).collect();
    let mut done = BTreeSet::new();
    for log in policy.logs() {
        if !done.insert(log.origin()) {
            continue;
        }
        let ld = crate::bundle::log_dir(dir, policy, log.origin());
        let mut atts = Vec::new();
        let packed = match layout {
            Layout::Files => {
                collect_atts(&ld, &mut atts)?;
                atts.sort();
                None
            }
            Layout::Packed => Some(crate::bundle::pack_leaves(&ld)),
        };
        let count = packed
            .as_ref()
            .map_or(atts.len(), |p| p.as_ref().map_or(0, |(l, _)| l.len()));
        let Some(line) = listed.get(log.origin()) else {
            if count > 0 {
                problems.push(format!(
                    "log {}: {count} entries in {} but the log is not in the manifest",
                    log.origin(),
                    ld.display()
                ));
            }
            continue;
        };
        let mut leaves = Vec::with_capacity(count);
        let mut bad_proofs: Vec<String> = Vec::new();
        if let Some(p) = packed {
            // One checkpoint proves every entry of a packed log.
            let cp_path = ld.join("checkpoint");
            match p {
                Ok((l, _)) if l.is_empty() => {}
                Ok((l, note)) => {
                    leaves = l;
                    match checkpoint_body(&note) {
                        Ok(c)
                            if c.origin() == line.origin
                                && c.size() == line.size
                                && *c.root_hash() == line.root => {}
                        Ok(c) => bad_proofs.push(format!(
                            "{} is checkpoint {}@{}",
                            cp_path.display(),
                            c.origin(),
                            c.size()
                        )),
                        Err(e) => bad_proofs.push(format!("{}: {e}", cp_path.display())),
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        for p in &atts {
            match crate::bundle::read_limited(p) {
                Ok(b) => leaves.push(merkle::leaf_hash(&b)),
                Err(e) => problems.push(e.to_string()),
            }
            let pp = p.with_extension("tlog-proof");
            let cp = crate::bundle::read_limited(&pp)
                .map_err(|e| e.to_string())
                .and_then(|t| TlogProof::parse(&t).map_err(|e| e.to_string()))
                .and_then(|proof| checkpoint_body(&proof.checkpoint));
            match cp {
                Ok(c)
                    if c.origin() == line.origin
                        && c.size() == line.size
                        && *c.root_hash() == line.root => {}
                Ok(c) => bad_proofs.push(format!(
                    "{} is proven by checkpoint {}@{}",
                    pp.display(),
                    c.origin(),
                    c.size()
                )),
                Err(e) => bad_proofs.push(format!("{}: {e}", pp.display())),
            }
        }
        if let Some(first) = bad_proofs.first() {
            problems.push(format!(
                "log {}: {} proofs not by the manifest's checkpoint {}@{} (first: {first})",
                log.origin(),
                bad_proofs.len(),
                line.origin,
                line.size
            ));
        }
        if leaves.len() as u64 != line.entries || entries_digest(&leaves) != line.entries_digest {
            problems.push(format!(
                "log {}: {} entries, the manifest lists {} (entries added, removed or changed)",
                log.origin(),
                leaves.len(),
                line.entries
            ));
        }
    }
    let mut evidence = Vec::new();
    match fs::read_dir(dir.join("equivocations")) {
        Ok(rd) => {
            for e in rd {
                match crate::bundle::read_limited(&e?.path()) {
                    Ok(b) => evidence.push(merkle::leaf_hash(&b)),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    if evidence.len() as u64 != m.evidence || entries_digest(&evidence) != m.evidence_digest {
        problems.push(format!(
            "{} equivocation evidence files, the manifest lists {} (evidence added, removed or \
             changed)",
            evidence.len(),
            m.evidence
        ));
    }
    Ok(problems)
}

/// Every `.att` file under `dir`.
fn collect_atts(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for e in rd {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            collect_atts(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "att") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_text_round_trips_and_refuses_junk() {
        let m = Manifest {
            maker: "bundler.example".into(),
            time: 1_800_000_000,
            packages: [("cargo".to_owned(), "serde".to_owned())].into(),
            logs: vec![LogLine {
                origin: "de.example/log".into(),
                size: 12,
                root: [3; 32],
                entries: 2,
                entries_digest: entries_digest(&[[1; 32], [2; 32]]),
            }],
            evidence: 1,
            evidence_digest: entries_digest(&[[4; 32]]),
        };
        assert_eq!(Manifest::parse(&m.to_text()).unwrap(), m);
        assert_eq!(
            entries_digest(&[[2; 32], [1; 32]]),
            entries_digest(&[[1; 32], [2; 32]])
        );
        assert!(Manifest::parse("junk\n").is_err());
        let extra = format!("{}maker other\n", m.to_text());
        assert!(Manifest::parse(&extra).unwrap_err().contains("repeated"));
        let short = m.to_text().replace(" 12 ", " x ");
        assert!(Manifest::parse(&short).unwrap_err().contains("bad size"));
        let no_evidence: String = m
            .to_text()
            .lines()
            .filter(|l| !l.starts_with("evidence "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            Manifest::parse(&no_evidence)
                .unwrap_err()
                .contains("no evidence line")
        );
    }
}
