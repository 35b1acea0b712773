//! A local, verified mirror of every review log in the policy.
//!
//! Privacy: the client fetches whole logs (checkpoint, hash tiles, entry bundles), never
//! per-package queries, so a node cannot learn which packages a user installs.
//!
//! For each `review-log` with a URL: fetch `/checkpoint` and verify it under the policy's
//! key for that log; read tiles through proto's [`TileHashReader`] (each tile
//! authenticated against the checkpoint's root before use); check every entry bundle
//! against its authenticated level-0 tile ([`check_entry_bundle`]: each entry's leaf hash
//! is in the tree); and keep it all on disk:
//!
//! ```text
//! CACHE/<origin-stem>/checkpoint              last verified checkpoint note
//! CACHE/<origin-stem>/tile/<L>/<N>[.p/<W>]     authenticated hash tiles
//! CACHE/<origin-stem>/tile/entries/<N>[.p/<W>] entry bundles (checked against their tile)
//! CACHE/equivocations/<id-hex>                 verified equivocation evidence (any log)
//! ```
//!
//! The cache is not trusted either: cached tiles go through the same authentication, and
//! the cached checkpoint is re-verified. A later sync fetches only tiles it does not hold
//! and proves the cached checkpoint consistent with the new one (an RFC 6962 consistency
//! proof computed from authenticated tiles of the larger tree, checked with
//! [`merkle::check_tree`]). An inconsistent pair is equivocation evidence
//! ([`Equivocation`]), verified, stored, and from then on the log counts for nothing.
//! Witness quorum and freshness are judged by the evaluator, per entry, with reasons.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use quorate_proto::attestation::{self, VerifiedAttestation};
use quorate_proto::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::{self, Hash, MemoryLog, MerkleError};
use quorate_proto::note::Ed25519Verifier;
use quorate_proto::tile::{self, Tile, TileHashReader, TileReader};

use crate::keys::file_stem_for;
use crate::net::Node;
use crate::policy::Policy;
use crate::quorum::{Evaluator, TrustedCheckpoint};

/// Where the mirror lives by default: `$XDG_CACHE_HOME/quorate/mirror` or
/// `$HOME/.cache/quorate/mirror`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("quorate").join("mirror"))
}

/// How to sync.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    pub cache: PathBuf,
    /// Use the cache only; fetch nothing.
    pub offline: bool,
    /// Print progress to stderr.
    pub progress: bool,
}

/// One log's mirrored state.
#[derive(Debug)]
pub struct LogMirror {
    pub origin: String,
    pub url: Option<String>,
    /// The verified checkpoint note the entries are for (`None`: nothing usable).
    pub checkpoint: Option<Vec<u8>>,
    /// Envelopes in index order (every entry of the tree at the checkpoint's size).
    pub entries: Vec<Vec<u8>>,
    /// The tree of leaf hashes (root equals the checkpoint's).
    pub tree: MemoryLog,
    /// Problems (unreachable node, rollback, bad tiles...).
    pub warnings: Vec<String>,
    /// Tiles and bundles fetched over the network in this sync.
    pub fetched: usize,
}

/// Everything mirrored.
#[derive(Debug, Default)]
pub struct Mirror {
    pub logs: Vec<LogMirror>,
    /// Verified evidence (text) by origin.
    pub equivocations: BTreeMap<String, Vec<Equivocation>>,
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, data)?;
    fs::rename(&tmp, path)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Tiles from memory, then disk, then the node. Nothing here is trusted: the
/// [`TileHashReader`] authenticates what this returns, then `save_tiles` stores it.
struct CachedTiles {
    dir: PathBuf,
    node: Option<Node>,
    read_disk: bool,
    mem: RefCell<HashMap<Tile, Vec<u8>>>,
    from_disk: RefCell<HashSet<Tile>>,
    fetched: RefCell<usize>,
    progress: Option<RefCell<Progress>>,
}

struct Progress {
    label: String,
    done: usize,
    total: usize,
    tty: bool,
}

impl Progress {
    fn tick(&mut self) {
        self.done += 1;
        if self.tty && (self.done.is_multiple_of(16) || self.done == self.total) {
            eprint!("\r{}: {}/{} tiles", self.label, self.done, self.total);
            let _ = std::io::stderr().flush();
        }
    }
}

impl CachedTiles {
    /// The same source without the disk cache or memory (after the cache failed).
    fn network_only(&self) -> CachedTiles {
        CachedTiles {
            dir: self.dir.clone(),
            node: self.node.clone(),
            read_disk: false,
            mem: RefCell::new(HashMap::new()),
            from_disk: RefCell::new(HashSet::new()),
            fetched: RefCell::new(0),
            progress: None,
        }
    }

    fn fetch(&self, t: &Tile) -> Result<Vec<u8>, MerkleError> {
        let path = t.path();
        let disk = self.dir.join(&path);
        if self.read_disk
            && let Ok(b) = fs::read(&disk)
        {
            self.from_disk.borrow_mut().insert(*t);
            return Ok(b);
        }
        let Some(node) = &self.node else {
            return Err(MerkleError::Storage(format!(
                "{path} is not in the mirror cache (offline)"
            )));
        };
        let r = node
            .get(&path)
            .map_err(|e| MerkleError::Storage(e.to_string()))?;
        if r.status != 200 {
            return Err(MerkleError::Storage(format!(
                "{}: {}",
                node.url(&path),
                r.error_text()
            )));
        }
        *self.fetched.borrow_mut() += 1;
        Ok(r.body)
    }

    fn entry_bundle(&self, t: &Tile, tile_data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let path = t.entries_path();
        let disk = self.dir.join(&path);
        if self.read_disk
            && let Ok(b) = fs::read(&disk)
            && let Ok(es) = tile::check_entry_bundle(t, &b, tile_data)
        {
            return Ok(es.into_iter().map(<[u8]>::to_vec).collect());
        }
        let Some(node) = &self.node else {
            return Err(format!("{path} is not in the mirror cache (offline)"));
        };
        let r = node.get(&path).map_err(|e| e.to_string())?;
        if r.status != 200 {
            return Err(format!("{}: {}", node.url(&path), r.error_text()));
        }
        *self.fetched.borrow_mut() += 1;
        let es = tile::check_entry_bundle(t, &r.body, tile_data)
            .map_err(|e| format!("{}: {e}", node.url(&path)))?;
        let out = es.into_iter().map(<[u8]>::to_vec).collect();
        let _ = write_atomic(&disk, &r.body);
        Ok(out)
    }
}

impl TileReader for CachedTiles {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        let mut out = Vec::with_capacity(tiles.len());
        for t in tiles {
            if let Some(d) = self.mem.borrow().get(t) {
                out.push(d.clone());
                continue;
            }
            out.push(self.fetch(t)?);
        }
        Ok(out)
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        let mut mem = self.mem.borrow_mut();
        for (t, d) in tiles.iter().zip(data) {
            if mem.contains_key(t) {
                continue;
            }
            // Authenticated for the tree being read: store it unless it came from there.
            if !self.from_disk.borrow().contains(t) {
                let _ = write_atomic(&self.dir.join(t.path()), d);
            }
            mem.insert(*t, d.clone());
            if let Some(p) = &self.progress {
                p.borrow_mut().tick();
            }
        }
    }
}

fn verify_note(note: &[u8], key: &Ed25519Verifier) -> Result<VerifiedCheckpoint, String> {
    verify_checkpoint(note, key, &[]).map_err(|e| e.to_string())
}

/// Proves `small` consistent with `big` from authenticated tiles of `big`'s tree, or
/// returns verified-shaped evidence that they conflict.
fn consistency(
    small: &VerifiedCheckpoint,
    big: &VerifiedCheckpoint,
    tiles: &CachedTiles,
) -> Result<Option<Equivocation>, String> {
    let (cs, cb) = (small.checkpoint(), big.checkpoint());
    if cs.size() == cb.size() {
        return Ok((cs.root_hash() != cb.root_hash())
            .then(|| Equivocation::same_size(small.note_bytes(), big.note_bytes())));
    }
    if cs.size() == 0 {
        return Ok((*cs.root_hash() != merkle::empty_root()).then(|| {
            Equivocation::with_prefix(
                small.note_bytes(),
                big.note_bytes(),
                merkle::empty_root(),
                Vec::new(),
            )
        }));
    }
    let reader = TileHashReader::new(cb.size(), *cb.root_hash(), tiles);
    let proof = merkle::prove_tree(cb.size(), cs.size(), &reader).map_err(|e| e.to_string())?;
    match merkle::check_tree(&proof, cb.size(), cb.root_hash(), cs.size(), cs.root_hash()) {
        Ok(()) => Ok(None),
        Err(_) => {
            let prefix = merkle::tree_hash(cs.size(), &reader).map_err(|e| e.to_string())?;
            Ok(Some(Equivocation::with_prefix(
                small.note_bytes(),
                big.note_bytes(),
                prefix,
                proof,
            )))
        }
    }
}

fn store_evidence(cache: &Path, ev: &Equivocation) {
    let p = cache.join("equivocations").join(hex(&ev.id()));
    if !p.exists() {
        let _ = write_atomic(&p, ev.to_text().as_bytes());
    }
}

/// Reads stored evidence, keeping what verifies under a policy log key.
fn load_evidence(policy: &Policy, cache: &Path, out: &mut BTreeMap<String, Vec<Equivocation>>) {
    let Ok(rd) = fs::read_dir(cache.join("equivocations")) else {
        return;
    };
    let mut seen: HashSet<Hash> = out.values().flatten().map(Equivocation::id).collect();
    for e in rd.flatten() {
        if let Ok(b) = fs::read(e.path())
            && let Some((origin, ev)) = verify_evidence(policy, &b)
            && seen.insert(ev.id())
        {
            out.entry(origin).or_default().push(ev);
        }
    }
}

/// Parses evidence and verifies it under the key of whichever policy log it names.
pub fn verify_evidence(policy: &Policy, bytes: &[u8]) -> Option<(String, Equivocation)> {
    let ev = Equivocation::parse(bytes).ok()?;
    for l in policy.logs() {
        if let Ok(v) = ev.verify(l.verifier()) {
            return Some((v.origin().to_owned(), ev));
        }
    }
    None
}

/// Texts of equivocation evidence from a `/v1/equivocations` response: a JSON array of
/// strings, or of objects with an `evidence` string, possibly under `equivocations`.
pub fn evidence_texts(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let list = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => o
            .get("equivocations")
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|x| match x {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("evidence")
                .and_then(|e| e.as_str())
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// Syncs every review log of the policy that has a URL (see the module docs).
pub fn sync(policy: &Policy, opts: &MirrorOptions) -> Mirror {
    let mut m = Mirror::default();
    for log in policy.logs() {
        if log.jurisdiction.is_none() {
            continue; // plain `log` lines count for no jurisdiction
        }
        let lm = sync_log(log, opts, &mut m.equivocations);
        m.logs.push(lm);
    }
    if !opts.offline {
        // Evidence any node or witness has gathered (about any log): verify and keep.
        let mut urls: Vec<&str> = policy
            .logs()
            .iter()
            .filter_map(|l| l.url.as_deref())
            .chain(policy.witnesses().iter().filter_map(|w| w.url.as_deref()))
            .collect();
        urls.sort_unstable();
        urls.dedup();
        for u in urls {
            let node = Node::new(u);
            if let Ok(r) = node.get("v1/equivocations")
                && r.status == 200
            {
                for text in evidence_texts(&r.body) {
                    if let Some((_, ev)) = verify_evidence(policy, text.as_bytes()) {
                        store_evidence(&opts.cache, &ev);
                    }
                }
            }
        }
    }
    load_evidence(policy, &opts.cache, &mut m.equivocations);
    m
}

fn sync_log(
    log: &crate::policy::Log,
    opts: &MirrorOptions,
    evidence: &mut BTreeMap<String, Vec<Equivocation>>,
) -> LogMirror {
    let origin = log.origin().to_owned();
    let dir = opts.cache.join(file_stem_for(&origin));
    let mut lm = LogMirror {
        origin: origin.clone(),
        url: log.url.clone(),
        checkpoint: None,
        entries: Vec::new(),
        tree: MemoryLog::new(),
        warnings: Vec::new(),
        fetched: 0,
    };
    let node = if opts.offline {
        None
    } else {
        log.url.as_deref().map(Node::new)
    };
    let tty = opts.progress && std::io::stderr().is_terminal();
    let tiles = CachedTiles {
        dir: dir.clone(),
        node: node.clone(),
        read_disk: true,
        mem: RefCell::new(HashMap::new()),
        from_disk: RefCell::new(HashSet::new()),
        fetched: RefCell::new(0),
        progress: opts.progress.then(|| {
            RefCell::new(Progress {
                label: origin.clone(),
                done: 0,
                total: 0,
                tty,
            })
        }),
    };
    // The cached checkpoint, re-verified.
    let cached =
        fs::read(dir.join("checkpoint"))
            .ok()
            .and_then(|b| match verify_note(&b, log.verifier()) {
                Ok(v) if v.checkpoint().origin() == origin => Some(v),
                Ok(_) | Err(_) => {
                    lm.warnings
                        .push("cached checkpoint does not verify; ignoring it".into());
                    None
                }
            });
    let fresh = match &node {
        None => None,
        Some(n) => match n.get("checkpoint") {
            Err(e) => {
                lm.warnings.push(format!("cannot fetch checkpoint: {e}"));
                None
            }
            Ok(r) if r.status != 200 => {
                lm.warnings
                    .push(format!("cannot fetch checkpoint: {}", r.error_text()));
                None
            }
            Ok(r) => match verify_note(&r.body, log.verifier()) {
                Ok(v) if v.checkpoint().origin() == origin => Some(v),
                Ok(v) => {
                    lm.warnings.push(format!(
                        "node served a checkpoint for {:?}",
                        v.checkpoint().origin()
                    ));
                    None
                }
                Err(e) => {
                    lm.warnings
                        .push(format!("node's checkpoint does not verify: {e}"));
                    None
                }
            },
        },
    };
    let chosen = match (cached, fresh) {
        (None, None) => {
            if lm.warnings.is_empty() {
                lm.warnings.push(if opts.offline {
                    "not in the mirror cache (offline)".into()
                } else {
                    "no URL in the policy".into()
                });
            }
            return lm;
        }
        (Some(c), None) => c,
        (None, Some(f)) => f,
        (Some(c), Some(f)) => {
            let (small, big) = if c.checkpoint().size() <= f.checkpoint().size() {
                (&c, &f)
            } else {
                (&f, &c)
            };
            let proved = consistency(small, big, &tiles).or_else(|e| {
                if node.is_some() {
                    consistency(small, big, &tiles.network_only())
                } else {
                    Err(e)
                }
            });
            match proved {
                Ok(None) => {
                    if f.checkpoint().size() < c.checkpoint().size() {
                        lm.warnings.push(format!(
                            "node serves size {} but the mirror holds a consistent size {}; keeping the larger",
                            f.checkpoint().size(),
                            c.checkpoint().size()
                        ));
                        c
                    } else {
                        f
                    }
                }
                Ok(Some(ev)) => {
                    if ev.verify(log.verifier()).is_ok() {
                        store_evidence(&opts.cache, &ev);
                        lm.warnings.push(format!(
                            "EQUIVOCATION: log signed conflicting checkpoints of sizes {} and {}; evidence stored, log distrusted",
                            small.checkpoint().size(),
                            big.checkpoint().size()
                        ));
                        evidence.entry(origin.clone()).or_default().push(ev);
                    }
                    f
                }
                Err(e) => {
                    lm.warnings.push(format!(
                        "cannot prove the new checkpoint consistent with the cached one ({e}); keeping the cached one"
                    ));
                    c
                }
            }
        }
    };
    let cp = chosen.checkpoint();
    let (size, root) = (cp.size(), *cp.root_hash());
    if let Some(p) = &tiles.progress {
        let level0 = size.div_ceil(256) as usize;
        p.borrow_mut().total = tile::tiles_for_size(size).count().max(level0);
    }
    match load_entries(size, root, &tiles) {
        Ok((entries, tree)) => {
            lm.entries = entries;
            lm.tree = tree;
            lm.checkpoint = Some(chosen.note_bytes().to_vec());
            let _ = write_atomic(&dir.join("checkpoint"), chosen.note_bytes());
        }
        Err(first) => {
            // A corrupt cache must not wedge the mirror: retry from the network alone.
            let retry = tiles.network_only();
            match (node.is_some(), load_entries(size, root, &retry)) {
                (true, Ok((entries, tree))) => {
                    lm.entries = entries;
                    lm.tree = tree;
                    lm.checkpoint = Some(chosen.note_bytes().to_vec());
                    let _ = write_atomic(&dir.join("checkpoint"), chosen.note_bytes());
                    lm.fetched += *retry.fetched.borrow();
                }
                _ => lm
                    .warnings
                    .push(format!("cannot read the log's tiles: {first}")),
            }
            if opts.progress && tty {
                eprintln!();
            }
            return lm;
        }
    }
    lm.fetched += *tiles.fetched.borrow();
    if opts.progress {
        if tty {
            eprintln!();
        }
        eprintln!(
            "mirror {origin}: size {size}, {} entries, {} fetched",
            lm.entries.len(),
            lm.fetched
        );
    }
    lm
}

type Loaded = (Vec<Vec<u8>>, MemoryLog);

/// Most entries reserved up front, before any of them has arrived.
const MAX_PREALLOCATED_ENTRIES: usize = 1 << 16;

fn load_entries(size: u64, root: Hash, tiles: &CachedTiles) -> Result<Loaded, String> {
    let reader = TileHashReader::new(size, root, tiles);
    // The size is only signed, not yet backed by data: reserve for what a modest log
    // holds and let memory grow with entries that arrive and verify (found by fuzzing:
    // a size near 2^62 aborted on "capacity overflow").
    let reserve = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .min(MAX_PREALLOCATED_ENTRIES);
    let mut entries = Vec::with_capacity(reserve);
    let mut tree = MemoryLog::with_capacity(reserve);
    for t in tile::tiles_for_size(size).filter(|t| t.level() == 0) {
        let data = tile::read_tile_data(&t, &reader).map_err(|e| e.to_string())?;
        let es = tiles.entry_bundle(&t, &data)?;
        for (e, h) in es.into_iter().zip(data.chunks_exact(32)) {
            let mut leaf = [0u8; 32];
            leaf.copy_from_slice(h);
            tree.append_leaf_hash(leaf);
            entries.push(e);
        }
    }
    if tree.root() != root {
        return Err("entries do not recompute the checkpoint's root".into());
    }
    Ok((entries, tree))
}

/// Which entries to load: `None` = all, else only these (ecosystem, package) pairs.
pub type Wanted = Option<HashSet<(String, String)>>;

/// (ecosystem, package) of an envelope, decoded without verifying (to skip entries of
/// packages not asked about before paying for a signature check).
pub fn peek_package(envelope: &[u8]) -> Option<(String, String)> {
    peek(envelope).map(|(k, _)| k)
}

/// (ecosystem, package) and the leaf hash it supersedes, if any, decoded unverified.
pub fn peek(envelope: &[u8]) -> Option<((String, String), Option<Hash>)> {
    use prost::Message as _;
    let env = attestation::pb::Envelope::decode(envelope).ok()?;
    let a = attestation::Attestation::decode_payload(&env.payload).ok()?;
    Some(((a.ecosystem, a.package), a.supersedes.map(|s| s.leaf_hash)))
}

/// `f` over `items` on all cores (contiguous chunks), results in order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(16);
    if threads <= 1 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

/// Verifies envelopes on all cores, in order. `None` for entries that do not verify.
pub fn verify_all(envelopes: &[&[u8]]) -> Vec<Option<VerifiedAttestation>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(16);
    if threads <= 1 || envelopes.len() < 64 {
        return envelopes
            .iter()
            .map(|e| attestation::verify(e).ok())
            .collect();
    }
    let chunk = envelopes.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = envelopes
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .map(|e| attestation::verify(e).ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Statistics of loading a mirror into an evaluator.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    pub entries: usize,
    pub invalid: usize,
}

/// Adds the mirrored entries (inclusion proven from the mirrored tree against the
/// verified checkpoint) and evidence to `ev`.
pub fn load_into(m: &Mirror, ev: &mut Evaluator<'_>, wanted: &Wanted) -> Result<LoadStats, String> {
    let policy = ev.policy();
    let mut st = LoadStats::default();
    for lm in &m.logs {
        let Some(note) = &lm.checkpoint else { continue };
        let tc = TrustedCheckpoint::verify(policy, note).map_err(|e| e.to_string())?;
        let size = lm.tree.size();
        let picked: Vec<(u64, &[u8])> = lm
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| match wanted {
                None => true,
                // Withdrawals may be published under any package: always load them.
                Some(w) => peek(e).is_some_and(|(k, sup)| sup.is_some() || w.contains(&k)),
            })
            .map(|(i, e)| (i as u64, e.as_slice()))
            .collect();
        let envs: Vec<&[u8]> = picked.iter().map(|(_, e)| *e).collect();
        for ((i, _), v) in picked.iter().zip(verify_all(&envs)) {
            let Some(v) = v else {
                st.invalid += 1;
                continue;
            };
            let proof = merkle::prove_record(size, *i, &lm.tree).map_err(|e| e.to_string())?;
            let inc = tc.inclusion(&v, *i, &proof);
            ev.add(&lm.origin, v, inc).map_err(|e| e.to_string())?;
            st.entries += 1;
        }
    }
    for evs in m.equivocations.values() {
        for e in evs {
            for l in policy.logs() {
                if let Ok(v) = e.verify(l.verifier()) {
                    ev.add_equivocation(&v).map_err(|e| e.to_string())?;
                    break;
                }
            }
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_lists_in_every_accepted_shape() {
        assert_eq!(evidence_texts(br#"["a", "b"]"#), vec!["a", "b"]);
        assert_eq!(
            evidence_texts(br#"{"equivocations": [{"evidence": "x"}, "y", 3]}"#),
            vec!["x", "y"]
        );
        assert!(evidence_texts(b"not json").is_empty());
        assert!(evidence_texts(b"{}").is_empty());
    }

    #[test]
    fn garbage_evidence_does_not_verify() {
        let policy = Policy::parse("quorum none\n").unwrap();
        assert!(verify_evidence(&policy, b"quorate-equivocation/v1\n").is_none());
        assert!(verify_evidence(&policy, &[0xff; 10]).is_none());
    }

    /// A cached checkpoint that validly signs an absurd size must not drive an
    /// allocation: the sync reports the missing tiles instead (fuzz target mirror_cache).
    #[test]
    fn huge_signed_size_in_cache_is_an_error_not_an_abort() {
        use quorate_proto::note::{self, Signer};
        let signer = Signer::generate("fuzz.example/log", [7; 32]).unwrap();
        let policy = Policy::parse(&format!(
            "quorum none\nreview-log FZ {} https://log.fuzz.example/\nreview-quorum 1\n",
            signer.vkey()
        ))
        .unwrap();
        let cache =
            std::env::temp_dir().join(format!("quorate-mirror-huge-{}", std::process::id()));
        let dir = cache.join(file_stem_for("fuzz.example/log"));
        fs::create_dir_all(&dir).unwrap();
        let text =
            "fuzz.example/log\n4611686018427387904\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        fs::write(
            dir.join("checkpoint"),
            note::sign(text, &[&signer]).unwrap(),
        )
        .unwrap();
        let m = sync(
            &policy,
            &MirrorOptions {
                cache: cache.clone(),
                offline: true,
                progress: false,
            },
        );
        let _ = fs::remove_dir_all(&cache);
        assert!(m.logs[0].checkpoint.is_none());
        assert!(
            m.logs[0]
                .warnings
                .iter()
                .any(|w| w.contains("cannot read the log's tiles")),
            "{:?}",
            m.logs[0].warnings
        );
    }

    #[test]
    fn par_map_keeps_order() {
        let v: Vec<u32> = (0..1000).collect();
        assert_eq!(
            par_map(&v, |x| x * 2),
            v.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert!(par_map(&Vec::<u32>::new(), |x| *x).is_empty());
    }
}
