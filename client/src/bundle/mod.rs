//! Offline bundles: everything `quorate check --bundle DIR` needs to decide without a
//! network, every byte of it verifiable.
//!
//! ```text
//! DIR/quorate-bundle                                  marker: "quorate-bundle v1"
//! DIR/<origin-dir>/checkpoint                        the log's checkpoint the proofs use
//! DIR/<origin-dir>/<eco>/<pkg>/<ver>/<leaf-hex>.att        envelope bytes
//! DIR/<origin-dir>/<eco>/<pkg>/<ver>/<leaf-hex>.tlog-proof C2SP tlog-proof (index,
//!                                                     inclusion proof, cosigned checkpoint)
//! DIR/equivocations/<id-hex>                          equivocation evidence
//! DIR/manifest                                        optional: the maker's signed manifest
//! ```
//!
//! A packed bundle (`quorate bundle --packed`, marker "quorate-bundle v2") holds each
//! log's entries in one file instead of two per entry: `DIR/<origin-dir>/checkpoint` and
//! `DIR/<origin-dir>/entries.pack` ([`pack`]: every envelope with its index and inclusion
//! proof against that checkpoint). Same contents, same verification, one open per log
//! instead of two per entry and no directory walk; clients before v2 refuse it by its
//! marker rather than misread it.
//!
//! A bundle is a subset of its logs: every entry in it is proven, but it cannot prove that
//! none was left out (a withdrawal, a violation). The optional manifest
//! ([`crate::bundle_manifest`]) is its maker's signed statement of what was copied from
//! which checkpoints, for users who choose to trust that maker for completeness.
//!
//! `<origin-dir>` is the log origin encoded by [`origin_dir`] (injective and path-safe:
//! `a/b` and `a_b` differ, `..` cannot climb; the mirror cache uses the same names); the
//! directory only says which policy log an entry was fetched from, the proof's checkpoint
//! (verified under that log's policy key) proves it. Bundles written before this encoding
//! used `_` for `/`; such a directory is still read when the new one is absent, and an
//! entry whose proof is for another log is set aside with a warning. Path components are
//! percent-encoded outside `[A-Za-z0-9._+-]` ([`encode_component`]). A bundle holds every entry
//! of each package in the lockfile (all versions: delta chains need their bases).
//! Freshness comes from the checkpoints' witness cosignature timestamps, judged against
//! the policy's `max-checkpoint-age` at check time: an old bundle replayed later fails.
//! A file that cannot be read, is over [`MAX_FILE_BYTES`] or does not parse costs its own
//! entry (or evidence) only, with a warning naming it; the rest of the bundle decides.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use quorate_proto::attestation::{
    KeyCache, VerifiedAttestation, verify_cached, verify_on_this_thread,
};
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle;
use quorate_proto::tlog_proof::TlogProof;

mod pack;
mod packed;

pub use crate::dirnames::encode_component;
use crate::dirnames::{legacy_origin_dir, origin_dir};
use crate::mirror::{Mirror, Wanted, par_map, peek, verify_evidence};
use crate::policy::Policy;
use crate::quorum::{Evaluator, Inclusion, NotProven, TrustedCheckpoint};

pub const MARKER: &str = "quorate-bundle";
pub const MARKER_TEXT: &str = "quorate-bundle v1\n";
/// The marker of a packed bundle.
pub const MARKER_TEXT_PACKED: &str = "quorate-bundle v2\n";

/// How a bundle stores its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Two files per entry (`.att`, `.tlog-proof`), readable by every client version.
    #[default]
    Files,
    /// One file per log ([`pack`]).
    Packed,
}
/// Largest file read from a bundle.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0} is not a quorate bundle (no {MARKER} file); make one with `quorate bundle`")]
    NotABundle(PathBuf),
    #[error("bundle {path}: {reason}")]
    Bad { path: PathBuf, reason: String },
    #[error("bundle {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, data: &[u8]) -> Result<(), BundleError> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(io(d))?;
    }
    fs::write(path, data).map_err(io(path))
}

/// What [`write_from_mirror`] wrote.
#[derive(Debug, Default, Clone)]
pub struct Written {
    pub logs: usize,
    pub entries: usize,
    pub equivocations: usize,
    /// Per log written: (origin, its checkpoint note, the leaf hashes of its entries),
    /// for the maker's signed manifest ([`crate::bundle_manifest`]).
    pub written: Vec<(String, Vec<u8>, Vec<merkle::Hash>)>,
    /// Evidence files written: file name -> RFC 6962 leaf hash of their bytes.
    pub evidence: BTreeMap<String, merkle::Hash>,
}

/// Writes a bundle for `wanted` packages from a synced mirror: proofs are built from the
/// mirrored (verified) tree against the mirrored checkpoint.
pub fn write_from_mirror(
    m: &Mirror,
    wanted: &Wanted,
    dir: &Path,
    layout: Layout,
) -> Result<Written, BundleError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let marker = match layout {
        Layout::Files => MARKER_TEXT,
        Layout::Packed => MARKER_TEXT_PACKED,
    };
    write(&dir.join(MARKER), marker.as_bytes())?;
    let mut w = Written::default();
    for lm in &m.logs {
        let Some(note) = &lm.checkpoint else { continue };
        let ld = dir.join(origin_dir(&lm.origin));
        write(&ld.join("checkpoint"), note)?;
        w.logs += 1;
        let mut leaves = Vec::new();
        let mut packed = pack::MAGIC.to_vec();
        let size = lm.tree.size();
        // leaf hash -> (ecosystem, package, version), to file withdrawals (which may be
        // published under any package) beside what they withdraw.
        let mut by_leaf: HashMap<[u8; 32], (String, String, String)> = HashMap::new();
        let mut keys = KeyCache::new();
        for env in &lm.entries {
            if let Some(((eco, pkg), _)) = peek(env)
                && wanted
                    .as_ref()
                    .is_none_or(|w| w.contains(&(eco.clone(), pkg.clone())))
                && let Ok(v) = verify_cached(env, &mut keys)
            {
                let a = v.attestation();
                by_leaf.insert(*v.leaf_hash(), (eco, pkg, a.version.clone()));
            }
        }
        for (i, env) in lm.entries.iter().enumerate() {
            let Some((key, sup)) = peek(env) else {
                continue;
            };
            let target = sup.and_then(|h| by_leaf.get(&h)).cloned();
            let own_wanted = wanted.as_ref().is_none_or(|w| w.contains(&key));
            if !own_wanted && target.is_none() {
                continue;
            }
            let Ok(v) = verify_cached(env, &mut keys) else {
                continue;
            };
            let a = v.attestation();
            let (eco, pkg, ver) = match target {
                Some(t) if !own_wanted => t,
                _ => (a.ecosystem.clone(), a.package.clone(), a.version.clone()),
            };
            let hashes =
                merkle::prove_record(size, i as u64, &lm.tree).map_err(|e| BundleError::Bad {
                    path: ld.clone(),
                    reason: e.to_string(),
                })?;
            w.entries += 1;
            leaves.push(*v.leaf_hash());
            if layout == Layout::Packed {
                pack::push(&mut packed, env, i as u64, &hashes).map_err(|reason| {
                    BundleError::Bad {
                        path: ld.join(pack::FILE_NAME),
                        reason,
                    }
                })?;
                continue;
            }
            let proof = TlogProof {
                extra: None,
                index: i as u64,
                proof: hashes,
                checkpoint: note.clone(),
            };
            let pd = ld
                .join(encode_component(&eco))
                .join(encode_component(&pkg))
                .join(encode_component(&ver));
            let stem = hex(v.leaf_hash());
            write(&pd.join(format!("{stem}.att")), env)?;
            write(&pd.join(format!("{stem}.tlog-proof")), &proof.to_text())?;
        }
        if layout == Layout::Packed {
            write(&ld.join(pack::FILE_NAME), &packed)?;
        }
        w.written.push((lm.origin.clone(), note.clone(), leaves));
    }
    for evs in m.equivocations.values() {
        for e in evs {
            let name = hex(&e.id());
            let text = e.to_text();
            write(&dir.join("equivocations").join(&name), text.as_bytes())?;
            w.evidence.insert(name, merkle::leaf_hash(text.as_bytes()));
            w.equivocations += 1;
        }
    }
    Ok(w)
}

/// What [`load_into`] found.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    pub entries: usize,
    pub equivocations: usize,
    /// Entries or evidence set aside (bad signature, unverifiable evidence...).
    pub warnings: Vec<String>,
}

pub(crate) fn read_limited(path: &Path) -> Result<Vec<u8>, BundleError> {
    read_at_most(path, MAX_FILE_BYTES)
}

/// A file's bytes, refused past `max`.
fn read_at_most(path: &Path, max: u64) -> Result<Vec<u8>, BundleError> {
    use std::io::Read as _;
    // Read at most one byte past the limit rather than trusting a size from metadata
    // (and save the stat calls: a bundle holds two files per entry).
    let f = fs::File::open(path).map_err(io(path))?;
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf).map_err(io(path))?;
    if buf.len() as u64 > max {
        return Err(BundleError::Bad {
            path: path.to_path_buf(),
            reason: format!("file over {max} bytes"),
        });
    }
    Ok(buf)
}

fn collect_att(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BundleError> {
    let rd = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir)(e)),
    };
    for e in rd {
        let e = e.map_err(io(dir))?;
        let p = e.path();
        let ft = e.file_type().map_err(io(&p))?;
        if ft.is_dir() {
            collect_att(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "att") {
            out.push(p);
        }
    }
    Ok(())
}

/// The leaf hashes of every record in a packed log directory's pack, and its checkpoint
/// note (both empty when the bundle holds nothing from the log), for the manifest check.
pub(crate) fn pack_leaves(ld: &Path) -> Result<(Vec<merkle::Hash>, Vec<u8>), String> {
    let p = ld.join(pack::FILE_NAME);
    let bytes = packed::read_pack(&p).map_err(|e| e.to_string())?;
    if bytes.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let (records, err) = pack::decode(&bytes);
    if let Some(e) = err {
        return Err(format!("{}: {e}", p.display()));
    }
    let note = read_limited(&ld.join("checkpoint")).map_err(|e| e.to_string())?;
    Ok((
        records
            .iter()
            .map(|r| merkle::leaf_hash(r.envelope))
            .collect(),
        note,
    ))
}

/// The directory [`load_into`] reads for a policy log: its injective name or, when that
/// is absent and no policy log owns the name, the `_`-named folder earlier versions
/// wrote. The manifest check ([`crate::bundle_manifest`]) compares exactly this folder.
pub(crate) fn log_dir(dir: &Path, policy: &Policy, origin: &str) -> PathBuf {
    let ld = dir.join(origin_dir(origin));
    let legacy = legacy_origin_dir(origin);
    let taken = policy
        .logs()
        .iter()
        .any(|l| origin_dir(l.origin()) == legacy);
    if !ld.exists() && !taken && dir.join(&legacy).is_dir() {
        return dir.join(legacy); // written by an earlier version
    }
    ld
}

/// Loads a bundle's entries for `wanted` packages, and its evidence, into `ev`.
pub fn load_into(
    dir: &Path,
    ev: &mut Evaluator<'_>,
    wanted: &Wanted,
) -> Result<Loaded, BundleError> {
    let mut loaded = Loaded::default();
    match layout(dir)? {
        Layout::Files => load_files(dir, ev, wanted, &mut loaded)?,
        Layout::Packed => packed::load(dir, ev, wanted, &mut loaded)?,
    }
    load_equivocations(dir, ev, &mut loaded);
    Ok(loaded)
}

/// The bundle's layout, from its marker file.
pub(crate) fn layout(dir: &Path) -> Result<Layout, BundleError> {
    match fs::read_to_string(dir.join(MARKER)) {
        Ok(t) if t == MARKER_TEXT => Ok(Layout::Files),
        Ok(t) if t == MARKER_TEXT_PACKED => Ok(Layout::Packed),
        Ok(t) => Err(BundleError::Bad {
            path: dir.join(MARKER),
            reason: format!("unsupported bundle version {:?}", t.trim()),
        }),
        Err(_) => Err(BundleError::NotABundle(dir.to_path_buf())),
    }
}

/// Loads the entries of a bundle in the [`Layout::Files`] layout.
fn load_files(
    dir: &Path,
    ev: &mut Evaluator<'_>,
    wanted: &Wanted,
    loaded: &mut Loaded,
) -> Result<(), BundleError> {
    let policy = ev.policy();
    // Work items: (origin, directory to walk). Walking, reading, parsing and signature
    // checks run on all cores; adding to the evaluator stays in order on this thread.
    let mut work: Vec<(String, PathBuf)> = Vec::new();
    for log in policy.logs().iter().filter(|l| l.jurisdiction.is_some()) {
        let ld = log_dir(dir, policy, log.origin());
        match wanted {
            None => work.push((log.origin().to_owned(), ld)),
            Some(ws) => {
                let mut pkgs: Vec<&(String, String)> = ws.iter().collect();
                pkgs.sort();
                for (eco, pkg) in pkgs {
                    work.push((
                        log.origin().to_owned(),
                        ld.join(encode_component(eco)).join(encode_component(pkg)),
                    ));
                }
            }
        }
    }
    type Item = (PathBuf, Result<VerifiedAttestation, String>, TlogProof);
    // Every entry file first (directory walks are cheap), then the files read and
    // verified on all cores in even shares: a few logs of uneven size would otherwise
    // leave a core idle.
    let listed = par_map(&work, |(_, d)| {
        let mut atts = Vec::new();
        collect_att(d, &mut atts).map(|()| {
            atts.sort();
            atts
        })
    });
    let mut files: Vec<(usize, PathBuf)> = Vec::new();
    for (w, atts) in listed.into_iter().enumerate() {
        files.extend(atts?.into_iter().map(|p| (w, p)));
    }
    // One unreadable, oversized or malformed file costs its own entry only (with a
    // warning naming it); a hostile or damaged file must not stop the whole check.
    let load_file = |p: &Path| -> Result<Item, String> {
        let pp = p.with_extension("tlog-proof");
        let read = read_limited(p).and_then(|env| {
            let text = read_limited(&pp)?;
            let proof = TlogProof::parse(&text).map_err(|e| BundleError::Bad {
                path: pp.clone(),
                reason: e.to_string(),
            })?;
            Ok((env, proof))
        });
        match read {
            Ok((env, proof)) => {
                let v = verify_on_this_thread(&env).map_err(|e| e.to_string());
                Ok((p.to_path_buf(), v, proof))
            }
            Err(e) => Err(format!("{e}; entry {} ignored", p.display())),
        }
    };
    let loaded_files = par_map(&files, |(_, p)| load_file(p));
    let mut items: Vec<(String, Item)> = Vec::with_capacity(files.len());
    for ((w, _), r) in files.iter().zip(loaded_files) {
        match r {
            Ok(it) => items.push((work[*w].0.clone(), it)),
            Err(warning) => loaded.warnings.push(warning),
        }
    }
    let mut checkpoints: HashMap<Vec<u8>, Result<TrustedCheckpoint, NotProven>> = HashMap::new();
    for (origin, (path, v, proof)) in items {
        // Whatever the reason (a bad signature, an evidence kind this client does not
        // know, a broken field rule), the entry counts for nothing and the warning says why.
        let v = match v {
            Ok(v) => v,
            Err(e) => {
                loaded
                    .warnings
                    .push(format!("{}: refused: {e}; ignored", path.display()));
                continue;
            }
        };
        if !checkpoints.contains_key(&proof.checkpoint) {
            let tc = TrustedCheckpoint::verify(policy, &proof.checkpoint);
            checkpoints.insert(proof.checkpoint.clone(), tc);
        }
        let tc = &checkpoints[&proof.checkpoint];
        let inc = match tc {
            Ok(tc) => tc.inclusion(&v, proof.index, &proof.proof),
            Err(e) => Inclusion::NotProven(e.clone()),
        };
        // Named like a proof that does not parse: a damaged (say truncated) proof that
        // still parses must not read differently from garbage.
        if let Inclusion::NotProven(n) = &inc {
            loaded.warnings.push(format!(
                "{}: not proven included ({n}); entry {} does not count",
                path.with_extension("tlog-proof").display(),
                path.display()
            ));
        }
        // An entry proven in another log than the directory it was filed under (a legacy
        // directory shared by two origins, or a hostile bundle) costs that entry only.
        if let Err(e) = ev.add(&origin, v, inc) {
            loaded
                .warnings
                .push(format!("{}: {e}; ignored", path.display()));
            continue;
        }
        loaded.entries += 1;
    }
    Ok(())
}

fn load_equivocations(dir: &Path, ev: &mut Evaluator<'_>, loaded: &mut Loaded) {
    let policy = ev.policy();
    if let Ok(rd) = fs::read_dir(dir.join("equivocations")) {
        for e in rd.flatten() {
            let p = e.path();
            let b = match read_limited(&p) {
                Ok(b) => b,
                Err(e) => {
                    loaded.warnings.push(format!("{e}; ignored"));
                    continue;
                }
            };
            match verify_evidence(policy, &b) {
                Some((_, evd)) => {
                    add_evidence(ev, &evd);
                    loaded.equivocations += 1;
                }
                None => loaded.warnings.push(format!(
                    "{}: equivocation evidence does not verify under any policy log key; ignored",
                    p.display()
                )),
            }
        }
    }
}

fn add_evidence(ev: &mut Evaluator<'_>, e: &Equivocation) {
    let policy = ev.policy();
    for l in policy.logs() {
        if let Ok(v) = e.verify_log(l.log_keys()) {
            let _ = ev.add_equivocation(&v);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle file is read up to the limit and refused past it, whatever its
    /// metadata claims (a FIFO or a growing file has no honest size).
    #[test]
    fn read_limited_refuses_past_the_limit() {
        let dir = std::env::temp_dir().join(format!("quorate-read-limited-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("tempdir");
        let at = dir.join("at.att");
        let over = dir.join("over.att");
        fs::write(&at, vec![7u8; MAX_FILE_BYTES as usize]).expect("write");
        fs::write(&over, vec![7u8; MAX_FILE_BYTES as usize + 1]).expect("write");
        assert_eq!(
            read_limited(&at).expect("at the limit").len(),
            MAX_FILE_BYTES as usize
        );
        let e = read_limited(&over).expect_err("past the limit");
        assert!(e.to_string().contains("file over"), "{e}");
        assert!(read_limited(&dir.join("missing.att")).is_err());
        assert!(read_limited(&dir).is_err(), "a directory is not a file");
        let _ = fs::remove_dir_all(&dir);
    }
}
