//! Loading a packed bundle ([`super::Layout::Packed`]): per log, one checkpoint and one
//! entry pack ([`super::pack`]).
//!
//! Each log's checkpoint is verified once; then every record is decoded, signature-checked
//! and proven against it on all cores, in even shares. Only adding to the evaluator runs
//! on this thread, in log and index order. As in a files bundle, a record that does not
//! verify costs its own entry (with a warning naming it), a pack that cannot be framed
//! past some byte costs the entries after it, and a missing log directory costs that
//! log's vote only.

use std::path::{Path, PathBuf};

use quorate_proto::attestation::VerifiedAttestation;

use super::pack::{self, Record};
use super::{BundleError, Loaded, log_dir};
use crate::mirror::{Wanted, par_map};
use crate::quorum::{Evaluator, Inclusion, TrustedCheckpoint};

/// Largest entry pack read (a log of about two million reviews).
pub const MAX_PACK_BYTES: u64 = 1 << 30;

/// One log's files, read.
struct LogFiles {
    origin: String,
    dir: PathBuf,
    checkpoint: Result<TrustedCheckpoint, String>,
    pack: Vec<u8>,
}

/// A log's pack, empty when the bundle holds nothing from the log.
pub(super) fn read_pack(path: &Path) -> Result<Vec<u8>, BundleError> {
    match super::read_at_most(path, MAX_PACK_BYTES) {
        Err(BundleError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(Vec::new())
        }
        r => r,
    }
}

pub(super) fn load(
    dir: &Path,
    ev: &mut Evaluator<'_>,
    wanted: &Wanted,
    loaded: &mut Loaded,
) -> Result<(), BundleError> {
    let policy = ev.policy();
    let logs: Vec<(String, PathBuf)> = policy
        .logs()
        .iter()
        .filter(|l| l.jurisdiction.is_some())
        .map(|l| (l.origin().to_owned(), log_dir(dir, policy, l.origin())))
        .collect();
    let read = par_map(&logs, |(origin, ld)| -> Result<Option<LogFiles>, String> {
        let pack = read_pack(&ld.join(pack::FILE_NAME)).map_err(|e| e.to_string())?;
        if pack.is_empty() {
            return Ok(None);
        }
        let checkpoint = super::read_limited(&ld.join("checkpoint"))
            .map_err(|e| e.to_string())
            .and_then(|note| TrustedCheckpoint::verify(policy, &note).map_err(|e| e.to_string()))
            .and_then(|tc| {
                if tc.origin() == origin {
                    Ok(tc)
                } else {
                    Err(format!("it is log {:?}'s checkpoint", tc.origin()))
                }
            });
        Ok(Some(LogFiles {
            origin: origin.clone(),
            dir: ld.clone(),
            checkpoint,
            pack,
        }))
    });
    let mut files = Vec::new();
    for r in read {
        match r {
            Ok(Some(f)) => files.push(f),
            Ok(None) => {}
            // An unreadable pack costs that log's entries, like an unreadable `.att`.
            Err(e) => loaded
                .warnings
                .push(format!("{e}; its entries are ignored")),
        }
    }
    // Every record of every log, framed (cheap), then verified in even shares.
    let mut records: Vec<(usize, usize, Record<'_>)> = Vec::new();
    for (l, f) in files.iter().enumerate() {
        let (rs, err) = pack::decode(&f.pack);
        if let Some(e) = err {
            loaded.warnings.push(format!(
                "{}: {e}; the {} records before it are read, the rest of this log's entries are lost",
                f.dir.join(pack::FILE_NAME).display(),
                rs.len()
            ));
        }
        if let Err(e) = &f.checkpoint {
            loaded.warnings.push(format!(
                "{}: {e}; no entry of this log is proven included",
                f.dir.join("checkpoint").display()
            ));
        }
        records.extend(rs.into_iter().enumerate().map(|(n, r)| (l, n, r)));
    }
    type Checked = Option<Result<(VerifiedAttestation, Inclusion), String>>;
    let checked: Vec<Checked> = par_map(&records, |(l, _, r)| {
        let v = quorate_proto::attestation::verify_on_this_thread(r.envelope);
        if let (Some(ws), Ok(v)) = (wanted, &v) {
            // Filtered after verifying (which decodes), not before: decoding twice cost
            // more than verifying the few entries a bundle holds beyond the lockfile.
            // Withdrawals are kept whatever package they are filed under: they may
            // withdraw a wanted package's review.
            let a = v.attestation();
            if a.supersedes.is_none() && !ws.contains(&(a.ecosystem.clone(), a.package.clone())) {
                return None;
            }
        }
        Some(v.map_err(|e| e.to_string()).map(|v| {
            let inc = match &files[*l].checkpoint {
                Ok(tc) => tc.inclusion(&v, r.index, &r.proof),
                Err(e) => Inclusion::unavailable(e.clone()),
            };
            (v, inc)
        }))
    });
    for ((l, n, r), c) in records.iter().zip(checked) {
        let Some(c) = c else { continue };
        let f = &files[*l];
        let name = || {
            format!(
                "{} record {} (index {})",
                f.dir.join(pack::FILE_NAME).display(),
                n + 1,
                r.index
            )
        };
        let (v, inc) = match c {
            Ok(vi) => vi,
            Err(e) => {
                loaded
                    .warnings
                    .push(format!("{}: refused: {e}; ignored", name()));
                continue;
            }
        };
        if let (Inclusion::NotProven(e), Ok(_)) = (&inc, &f.checkpoint) {
            loaded.warnings.push(format!(
                "{}: not proven included ({e}); it does not count",
                name()
            ));
        }
        if let Err(e) = ev.add(&f.origin, v, inc) {
            loaded.warnings.push(format!("{}: {e}; ignored", name()));
            continue;
        }
        loaded.entries += 1;
    }
    Ok(())
}
