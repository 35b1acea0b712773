//! A local, verified mirror of every review log in the policy.
//!
//! Privacy: the client fetches whole logs (checkpoint, hash tiles, entry bundles), never
//! per-package queries, so a node cannot learn which packages a user installs.
//!
//! For each `review-log` with a URL, on its own thread and within its own time budget
//! ([`Limits`]): fetch `/checkpoint` (at most [`MAX_CHECKPOINT_BYTES`]), keep only the
//! signature lines that verify under the policy's keys, and believe its size only once it
//! satisfies the policy's witness quorum ([`checkpoint`]); then read tiles through proto's
//! [`TileHashReader`] (each tile authenticated against the checkpoint's root before use)
//! and check every entry bundle against its authenticated level-0 tile ([`tiles`]); and
//! keep it all on disk:
//!
//! ```text
//! CACHE/<origin-dir>/checkpoint               newest checkpoint that satisfied the policy
//!                                             (only signature lines that verified)
//! CACHE/<origin-dir>/tile/<L>/<N>[.p/<W>]      authenticated hash tiles
//! CACHE/<origin-dir>/tile/entries/<N>[.p/<W>]  entry bundles (checked against their tile)
//! CACHE/equivocations/<origin-dir>/<id-hex>    verified equivocation evidence, canonical
//!                                             form, named by its SHA-256, at most
//!                                             MAX_EVIDENCE_PER_ORIGIN per log
//! ```
//!
//! `<origin-dir>` is [`origin_dir`] (injective and path-safe). A directory named the old
//! way (`/` as `_`) is renamed to the new name when the checkpoint in it verifies under
//! that log's key, and otherwise left alone.
//!
//! The cache is not trusted either: cached tiles go through the same authentication, and
//! the cached checkpoint is re-verified. A later sync fetches only tiles it does not hold
//! and proves the cached checkpoint consistent with the new one (an RFC 6962 consistency
//! proof computed from authenticated tiles of the larger tree, checked with
//! [`merkle::check_tree`]). An inconsistent pair is equivocation evidence
//! ([`Equivocation`]), verified, stored, and from then on the log counts for nothing.
//! Whatever one log or the path to it does, only that log ends up unproven
//! ([`LogMirror::unproven`], with the reason); witness freshness is judged by the
//! evaluator, per entry, with reasons.

mod checkpoint;
mod evidence;
mod tiles;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use quorate_proto::attestation::{self, VerifiedAttestation};
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::{self, Hash, MemoryLog};

pub use checkpoint::MAX_CHECKPOINT_BYTES;
pub use evidence::{
    MAX_EVIDENCE_FILES_READ, MAX_EVIDENCE_PER_ORIGIN, evidence_texts, verify_evidence,
    verify_evidence_full,
};

use crate::dirnames::{legacy_origin_dir, origin_dir};
use crate::net::{Deadline, Limits, Node};
use crate::policy::{Log, Policy};
use crate::quorum::{Evaluator, TrustedCheckpoint};
use checkpoint::Candidate;
use tiles::{CachedTiles, Progress, load_entries, tile_total, write_atomic};

/// Largest `/v1/equivocations` response read from one node or witness.
/// (all its pages together).
pub const MAX_EVIDENCE_LIST_BYTES: u64 = 16 << 20;
/// Most `/v1/equivocations` pages read from one node or witness in one sync.
pub const MAX_EVIDENCE_PAGES: usize = 64;

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
    /// Time limits for each log (and each evidence source).
    pub limits: Limits,
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
    /// Problems that left the log usable (rollback refused, lines dropped...).
    pub warnings: Vec<String>,
    /// Why nothing from this log could be used (set exactly when `checkpoint` is `None`).
    pub unproven: Option<String>,
    /// Why the log could not be refreshed in this sync although a cached checkpoint
    /// (of size `.1`) was used instead (node down, too few cosignatures...): the view
    /// may be out of date, so commands say so and `mirror` exits 1.
    pub not_refreshed: Option<(String, u64)>,
    /// Tiles and bundles fetched over the network in this sync.
    pub fetched: usize,
}

impl LogMirror {
    fn empty(log: &Log) -> LogMirror {
        LogMirror {
            origin: log.origin().to_owned(),
            url: log.url.clone(),
            checkpoint: None,
            entries: Vec::new(),
            tree: MemoryLog::new(),
            warnings: Vec::new(),
            unproven: None,
            not_refreshed: None,
            fetched: 0,
        }
    }
}

/// Everything mirrored.
#[derive(Debug, Default)]
pub struct Mirror {
    pub logs: Vec<LogMirror>,
    /// Verified evidence (canonical form) by origin, at most
    /// [`evidence::MAX_EVIDENCE_PER_ORIGIN`] per log.
    pub equivocations: BTreeMap<String, Vec<Equivocation>>,
    /// Problems with the cache as a whole (evidence files left unread).
    pub warnings: Vec<String>,
}

/// Syncs every review log of the policy that has a URL (see the module docs). Logs are
/// synced in parallel, each within its own budget, so a stalled log costs at most its
/// budget and never another log's vote.
pub fn sync(policy: &Policy, opts: &MirrorOptions) -> Mirror {
    // plain `log` lines count for no jurisdiction
    let logs: Vec<&Log> = policy
        .logs()
        .iter()
        .filter(|l| l.jurisdiction.is_some())
        .collect();
    if !opts.offline {
        let _ = fs::create_dir_all(&opts.cache);
    }
    for l in &logs {
        migrate_legacy_dir(policy, l, &opts.cache);
    }
    let mut m = Mirror::default();
    let synced = std::thread::scope(|s| {
        // Evidence sources are asked meanwhile: a stalled one delays nothing else.
        let ev = (!opts.offline).then(|| s.spawn(|| fetch_evidence(policy, opts)));
        let hs: Vec<_> = logs
            .iter()
            .map(|l| s.spawn(move || sync_log(policy, l, opts)))
            .collect();
        let out: Vec<_> = hs
            .into_iter()
            .zip(&logs)
            .map(|(h, l)| {
                h.join().unwrap_or_else(|_| {
                    let mut lm = LogMirror::empty(l);
                    lm.unproven = Some("mirroring this log failed unexpectedly".into());
                    (lm, Vec::new())
                })
            })
            .collect();
        // Joined (not left to the scope) so that a failure there cannot abort the sync.
        if let Some(h) = ev {
            let _ = h.join();
        }
        out
    });
    for (lm, evs) in synced {
        if !evs.is_empty() {
            m.equivocations
                .entry(lm.origin.clone())
                .or_default()
                .extend(evs);
        }
        m.logs.push(lm);
    }
    evidence::load_evidence(policy, &opts.cache, &mut m.equivocations, &mut m.warnings);
    m
}

/// Evidence any node or witness has gathered (about any log): verify and keep. Each
/// source is asked on its own thread, bounded in bytes and time; its pages (`Link:
/// rel="next"`) are followed until that source's byte or time budget runs out, and at most
/// [`MAX_EVIDENCE_PAGES`] of them.
fn fetch_evidence(policy: &Policy, opts: &MirrorOptions) {
    let mut urls: Vec<&str> = policy
        .logs()
        .iter()
        .filter_map(|l| l.url.as_deref())
        .chain(
            policy
                .logs()
                .iter()
                .flat_map(|l| l.mirrors.iter().map(String::as_str)),
        )
        .chain(policy.witnesses().iter().filter_map(|w| w.url.as_deref()))
        .collect();
    urls.sort_unstable();
    urls.dedup();
    std::thread::scope(|s| {
        for u in urls {
            s.spawn(move || fetch_evidence_from(policy, opts, u));
        }
    });
}

fn fetch_evidence_from(policy: &Policy, opts: &MirrorOptions, url: &str) {
    let node = Node::with_limits(url, &opts.limits);
    let deadline = Deadline::after(opts.limits.per_log);
    let mut left = MAX_EVIDENCE_LIST_BYTES;
    let mut path = "v1/equivocations".to_owned();
    for _ in 0..MAX_EVIDENCE_PAGES {
        let Ok(r) = node.get_bounded(&path, left, &deadline) else {
            return;
        };
        if r.status != 200 {
            return;
        }
        left = left.saturating_sub(r.body.len() as u64);
        for text in evidence_texts(&r.body) {
            if let Some(v) = evidence::verify_evidence_full(policy, text.as_bytes()) {
                evidence::store_evidence(&opts.cache, &v);
            }
        }
        match r.next.as_deref().and_then(evidence_next_page) {
            Some(next) if next != path && left > 0 => path = next,
            _ => return,
        }
    }
}

/// The path of the next evidence page from a `Link: rel="next"` target: only
/// `/v1/equivocations?<query>` on the same server, with a plain query, is followed (a
/// source cannot send the client elsewhere).
fn evidence_next_page(target: &str) -> Option<String> {
    let q = target.strip_prefix("/v1/equivocations?")?;
    (!q.is_empty()
        && q.len() <= 256
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=&_-.%".contains(&b)))
    .then(|| format!("v1/equivocations?{q}"))
}

/// Renames a cache directory named the old, non-injective way (`/` as `_`) to the log's
/// [`origin_dir`], but only when its checkpoint verifies under this log's key and the old
/// name is not another policy log's new name (old names were shared by several origins).
fn migrate_legacy_dir(policy: &Policy, log: &Log, cache: &Path) {
    let new = cache.join(origin_dir(log.origin()));
    let legacy = legacy_origin_dir(log.origin());
    let old = cache.join(&legacy);
    if new.exists()
        || old == new
        || !old.is_dir()
        || policy
            .logs()
            .iter()
            .any(|l| origin_dir(l.origin()) == legacy)
    {
        return;
    }
    if let Some(Ok(_)) = checkpoint::cached(policy, log, &old) {
        let _ = fs::rename(&old, &new);
    }
}

/// Keeps evidence that verifies under the log's key: stored, warned about, returned.
fn record_evidence(
    log: &Log,
    cache: &Path,
    ev: Equivocation,
    sizes: (u64, u64),
    lm: &mut LogMirror,
    found: &mut Vec<Equivocation>,
) {
    if let Ok(v) = ev.verify_log(log.log_keys()) {
        evidence::store_evidence(cache, &v);
        lm.warnings.push(format!(
            "EQUIVOCATION: log signed conflicting checkpoints of sizes {} and {}; evidence stored, log distrusted",
            sizes.0, sizes.1
        ));
        found.push(v.canonical().clone());
    }
}

/// Picks the newest checkpoint that satisfies the policy, from the cache and the node,
/// proving them consistent. `None` (with `lm.unproven` set) when there is none.
fn choose(
    policy: &Policy,
    log: &Log,
    opts: &MirrorOptions,
    tiles: &CachedTiles,
    lm: &mut LogMirror,
    found: &mut Vec<Equivocation>,
) -> Option<Candidate> {
    let dir = &tiles.dir;
    let cached = match checkpoint::cached(policy, log, dir) {
        None => None,
        Some(Ok(c)) if c.quorate => Some(c),
        Some(Ok(c)) => {
            lm.warnings.push(format!(
                "the cached checkpoint (size {}) is not cosigned enough for this policy; ignoring it",
                c.size()
            ));
            None
        }
        Some(Err(e)) => {
            lm.warnings.push(format!(
                "cached checkpoint does not verify ({e}); ignoring it"
            ));
            None
        }
    };
    let mut failure = None;
    let fresh = match &tiles.node {
        None => None,
        Some(n) => match checkpoint::fetch(policy, log, n, &tiles.deadline) {
            Err(e) => {
                failure = Some(e);
                None
            }
            Ok(f) => {
                if f.dropped > 0 {
                    lm.warnings.push(format!(
                        "dropped {} signature line(s) of the node's checkpoint that do not verify under the policy's keys",
                        f.dropped
                    ));
                }
                if f.quorate {
                    Some(f)
                } else {
                    // Two signed checkpoints of one size with different roots are
                    // evidence whatever their cosignatures; nothing else is read for it.
                    if let Some(c) = &cached
                        && let Some(ev) = evidence::same_size(&c.vc, &f.vc)
                    {
                        record_evidence(log, &opts.cache, ev, (c.size(), f.size()), lm, found);
                    }
                    failure = Some(f.too_few());
                    None
                }
            }
        },
    };
    match (cached, fresh) {
        (None, None) => {
            lm.unproven = Some(failure.unwrap_or_else(|| {
                if opts.offline {
                    "not in the mirror cache (offline)".into()
                } else {
                    "no URL in the policy".into()
                }
            }));
            None
        }
        (Some(c), None) => {
            if let Some(why) = failure {
                lm.not_refreshed = Some((why, c.size()));
            }
            Some(c)
        }
        (None, Some(f)) => Some(f),
        (Some(c), Some(f)) => {
            let (small, big) = if c.size() <= f.size() {
                (&c, &f)
            } else {
                (&f, &c)
            };
            let proved = evidence::consistency(&small.vc, &big.vc, tiles).or_else(|e| {
                if tiles.node.is_some() {
                    evidence::consistency(&small.vc, &big.vc, &tiles.network_only())
                } else {
                    Err(e)
                }
            });
            match proved {
                Ok(None) if f.size() < c.size() => {
                    lm.warnings.push(format!(
                        "node serves size {} but the mirror holds a consistent size {}; keeping the larger",
                        f.size(),
                        c.size()
                    ));
                    Some(c)
                }
                Ok(None) => Some(f),
                Ok(Some(ev)) => {
                    let sizes = (small.size(), big.size());
                    record_evidence(log, &opts.cache, ev, sizes, lm, found);
                    Some(f)
                }
                Err(e) => {
                    lm.warnings.push(format!(
                        "cannot prove the new checkpoint consistent with the cached one ({e}); keeping the cached one"
                    ));
                    Some(c)
                }
            }
        }
    }
}

/// Syncs one log from its URL, then, if that gave no fresh view (the log is down, or
/// served nothing usable), from each of its `log-mirror` URLs in turn, all within the
/// log's one time budget. A mirror is read and verified exactly like the log itself.
fn sync_log(policy: &Policy, log: &Log, opts: &MirrorOptions) -> (LogMirror, Vec<Equivocation>) {
    let deadline = Deadline::after(opts.limits.per_log);
    let (first, mut found) = sync_log_from(policy, log, opts, log.url.as_deref(), deadline);
    let Some(why) = not_fresh(&first) else {
        return (first, found);
    };
    if opts.offline || log.mirrors.is_empty() {
        return (first, found);
    }
    let mut failures = vec![format!("{}: {why}", log.url.as_deref().unwrap_or("no URL"))];
    for m in &log.mirrors {
        if deadline.remaining().is_none() {
            break;
        }
        let (mut lm, evs) = sync_log_from(policy, log, opts, Some(m), deadline);
        found.extend(evs);
        match not_fresh(&lm) {
            None => {
                lm.warnings.push(format!(
                    "read through its mirror {m}, since {}",
                    failures.join("; ")
                ));
                lm.url = Some(m.clone());
                return (lm, found);
            }
            Some(why) => failures.push(format!("{m}: {why}")),
        }
    }
    (first, found)
}

/// Why a sync gave no fresh view of the log (`None`: it did).
fn not_fresh(lm: &LogMirror) -> Option<String> {
    lm.unproven
        .clone()
        .or_else(|| lm.not_refreshed.as_ref().map(|(why, _)| why.clone()))
}

fn sync_log_from(
    policy: &Policy,
    log: &Log,
    opts: &MirrorOptions,
    url: Option<&str>,
    deadline: Deadline,
) -> (LogMirror, Vec<Equivocation>) {
    let origin = log.origin().to_owned();
    let mut lm = LogMirror::empty(log);
    let mut found = Vec::new();
    let node = if opts.offline {
        None
    } else {
        url.map(|u| Node::with_limits(u, &opts.limits))
    };
    let dir = opts.cache.join(origin_dir(&origin));
    let mut tiles = CachedTiles::new(dir.clone(), node.clone(), deadline, None);
    let Some(chosen) = choose(policy, log, opts, &tiles, &mut lm, &mut found) else {
        return (lm, found);
    };
    // Only now, with the size cosigned as the policy requires, does it drive any work.
    let cp = chosen.vc.checkpoint();
    let (size, root) = (cp.size(), *cp.root_hash());
    let tty = opts.progress && std::io::stderr().is_terminal();
    if opts.progress {
        tiles.progress = Some(std::cell::RefCell::new(Progress {
            label: origin.clone(),
            done: 0,
            total: tile_total(size),
            tty,
        }));
    }
    let loaded = match load_entries(size, root, &tiles) {
        Ok(l) => Ok(l),
        // A corrupt cache must not wedge the mirror: retry from the network alone.
        Err(first) if node.is_some() && deadline.remaining().is_some() => {
            let retry = tiles.network_only();
            let r = load_entries(size, root, &retry).map_err(|_| first);
            lm.fetched += *retry.fetched.borrow();
            r
        }
        Err(first) => Err(first),
    };
    lm.fetched += *tiles.fetched.borrow();
    if tty {
        eprintln!();
    }
    match loaded {
        Ok((entries, tree)) => {
            lm.entries = entries;
            lm.tree = tree;
            lm.checkpoint = Some(chosen.vc.note_bytes().to_vec());
            let _ = write_atomic(&dir.join("checkpoint"), chosen.vc.note_bytes());
        }
        Err(e) => {
            lm.unproven = Some(format!("cannot read the log's tiles: {e}"));
            return (lm, found);
        }
    }
    if opts.progress {
        eprintln!(
            "mirror {origin}: size {size}, {} entries, {} fetched",
            lm.entries.len(),
            lm.fetched
        );
    }
    (lm, found)
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

/// Verifies envelopes on all cores, in order, each with why it does not verify. Each
/// worker decodes a reviewer key once ([`attestation::KeyCache`]).
pub fn verify_all_reasons(
    envelopes: &[&[u8]],
) -> Vec<Result<VerifiedAttestation, attestation::AttestationError>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(16);
    if threads <= 1 || envelopes.len() < 64 {
        let mut keys = attestation::KeyCache::new();
        return envelopes
            .iter()
            .map(|e| attestation::verify_cached(e, &mut keys))
            .collect();
    }
    let chunk = envelopes.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = envelopes
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    let mut keys = attestation::KeyCache::new();
                    c.iter()
                        .map(|e| attestation::verify_cached(e, &mut keys))
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

/// Verifies envelopes on all cores, in order. `None` for entries that do not verify.
pub fn verify_all(envelopes: &[&[u8]]) -> Vec<Option<VerifiedAttestation>> {
    verify_all_reasons(envelopes)
        .into_iter()
        .map(Result::ok)
        .collect()
}

/// Statistics of loading a mirror into an evaluator.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    pub entries: usize,
    pub invalid: usize,
    /// The first [`MAX_REFUSALS_SHOWN`] entries refused, as `ORIGIN#INDEX: reason` (a bad
    /// signature, an evidence kind this client does not know, a broken field rule).
    pub refused: Vec<String>,
    /// Logs set aside while loading, with the reason (their jurisdiction's vote is missing).
    pub warnings: Vec<String>,
}

/// How many refused entries [`LoadStats::refused`] names (the rest are only counted).
pub const MAX_REFUSALS_SHOWN: usize = 8;

/// Adds the mirrored entries (inclusion proven from the mirrored tree against the
/// verified checkpoint) and evidence to `ev`. A log whose entries cannot be added is
/// skipped with a warning: one log's failure never stops the others.
pub fn load_into(m: &Mirror, ev: &mut Evaluator<'_>, wanted: &Wanted) -> LoadStats {
    let policy = ev.policy();
    let mut st = LoadStats::default();
    for lm in &m.logs {
        if let Err(e) = load_log(lm, ev, wanted, &mut st) {
            st.warnings
                .push(format!("{}: entries not loaded: {e}", lm.origin));
        }
    }
    for evs in m.equivocations.values() {
        for e in evs {
            for l in policy.logs() {
                if let Ok(v) = e.verify_log(l.log_keys()) {
                    if let Err(err) = ev.add_equivocation(&v) {
                        st.warnings.push(format!("{}: {err}", l.origin()));
                    }
                    break;
                }
            }
        }
    }
    st
}

fn load_log(
    lm: &LogMirror,
    ev: &mut Evaluator<'_>,
    wanted: &Wanted,
    st: &mut LoadStats,
) -> Result<(), String> {
    let Some(note) = &lm.checkpoint else {
        return Ok(());
    };
    let tc = TrustedCheckpoint::verify(ev.policy(), note).map_err(|e| e.to_string())?;
    let size = lm.tree.size();
    let picked: Vec<(u64, &[u8])> = lm
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| match wanted {
            None => true,
            // Withdrawals may be published under any package: always load them. An entry
            // that does not even decode is kept, so that it is refused with its reason
            // rather than skipped unseen.
            Some(w) => peek(e).is_none_or(|(k, sup)| sup.is_some() || w.contains(&k)),
        })
        .map(|(i, e)| (i as u64, e.as_slice()))
        .collect();
    let envs: Vec<&[u8]> = picked.iter().map(|(_, e)| *e).collect();
    for ((i, _), v) in picked.iter().zip(verify_all_reasons(&envs)) {
        let v = match v {
            Ok(v) => v,
            Err(e) => {
                st.invalid += 1;
                if st.refused.len() < MAX_REFUSALS_SHOWN {
                    st.refused.push(format!("{}#{i}: {e}", lm.origin));
                }
                continue;
            }
        };
        let proof = merkle::prove_record(size, *i, &lm.tree).map_err(|e| e.to_string())?;
        let inc = tc.inclusion(&v, *i, &proof);
        ev.add(&lm.origin, v, inc).map_err(|e| e.to_string())?;
        st.entries += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
