//! `quorate-node backup` and `quorate-node verify`.
//!
//! **Backup.** A consistent copy of the store as of one read transaction
//! ([`Store::backup_to`]). redb lets one process open the file, so while `serve` runs
//! the copy is made by the node itself: `serve` listens on the Unix socket
//! `DATA/backup.sock` (mode 0600, so only the node's user can ask), `backup` sends it the
//! absolute target path and waits for the answer. The writer keeps committing meanwhile
//! (MVCC); the copy holds exactly the snapshot it started from. Without a running node,
//! `backup` opens the store itself.
//!
//! **Verify.** An offline audit of a store (a data directory's, or a backup file): the
//! consistency checks of [`Store::open`], redb's integrity check of every page
//! ([`Store::check_integrity`]), then every entry re-hashed against its dedup row
//! and every stored hash ([`Store::verify_full`]), then every stored checkpoint: its
//! signature under the data directory's log vkey (`log.pub`), its size, and its root
//! against the tree recomputed at that size. The first mismatch is the error.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::merkle;
use quorate_proto::note::{Ed25519Verifier, NoteVerifier as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixListener;
use tokio::task::JoinHandle;

use crate::datadir::DataDir;
use crate::store::{BackupReport, Store, StoreError};

/// The socket `serve` answers backup requests on.
pub fn socket_path(data: &DataDir) -> PathBuf {
    data.root().join("backup.sock")
}

/// Longest request line (a path) read from the socket.
const MAX_REQUEST: usize = 4096;

/// Everything `backup` and `verify` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target path is unusable.
    #[error("backup target {path}: {reason}")]
    Target {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store (or the copy) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Talking to the running node failed.
    #[error("asking the running node over {socket}: {reason}")]
    Socket {
        /// The socket path.
        socket: String,
        /// What went wrong.
        reason: String,
    },
    /// The running node refused or failed the backup.
    #[error("the running node could not make the backup: {0}")]
    Node(String),
    /// The log's public key could not be read.
    #[error("log key {path}: {reason}")]
    Key {
        /// The vkey file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored checkpoint does not match the log.
    #[error("checkpoint at size {size}: {reason}")]
    Checkpoint {
        /// The checkpoint row's key.
        size: u64,
        /// What does not match.
        reason: String,
    },
}

fn target(path: &Path) -> Result<PathBuf, BackupError> {
    let bad = |reason: &str| BackupError::Target {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let abs = std::path::absolute(path).map_err(|e| bad(&e.to_string()))?;
    if abs.exists() {
        return Err(bad("already exists (a backup never overwrites)"));
    }
    match abs.parent() {
        Some(d) if d.is_dir() => Ok(abs),
        _ => Err(bad("its directory does not exist")),
    }
}

/// Backs up the store of `data` to `out`: by itself when no node runs, else through the
/// running node's socket.
pub fn backup(data: &DataDir, out: &Path) -> Result<BackupReport, BackupError> {
    let out = target(out)?;
    match Store::open(data.store_path()) {
        Ok(store) => Ok(store.backup_to(&out)?),
        Err(StoreError::InUse(_)) => ask_node(&socket_path(data), &out),
        Err(e) => Err(e.into()),
    }
}

fn ask_node(socket: &Path, out: &Path) -> Result<BackupReport, BackupError> {
    let fail = |reason: String| BackupError::Socket {
        socket: socket.display().to_string(),
        reason,
    };
    let path = out
        .to_str()
        .filter(|p| !p.contains('\n'))
        .ok_or_else(|| fail("the target path must be UTF-8 without newlines".into()))?;
    let mut s = UnixStream::connect(socket).map_err(|e| {
        fail(format!(
            "{e} (the store is in use, so a node should be running with this data directory)"
        ))
    })?;
    // A large store takes a while to copy; the node answers when done.
    s.set_read_timeout(Some(Duration::from_secs(3600)))
        .map_err(|e| fail(e.to_string()))?;
    s.write_all(format!("{path}\n").as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut line = String::new();
    BufReader::new(s.take(MAX_REQUEST as u64))
        .read_line(&mut line)
        .map_err(|e| fail(e.to_string()))?;
    parse_answer(line.trim_end()).map_err(|e| match e {
        Answer::Refused(m) => BackupError::Node(m),
        Answer::Garbled(m) => fail(format!("unexpected answer {m:?}")),
    })
}

enum Answer {
    Refused(String),
    Garbled(String),
}

fn parse_answer(line: &str) -> Result<BackupReport, Answer> {
    if let Some(m) = line.strip_prefix("error ") {
        return Err(Answer::Refused(m.to_owned()));
    }
    let mut f = line.split(' ');
    match (f.next(), f.next(), f.next(), f.next()) {
        (Some("ok"), Some(size), Some(bytes), None) => match (size.parse(), bytes.parse()) {
            (Ok(size), Ok(bytes)) => Ok(BackupReport { size, bytes }),
            _ => Err(Answer::Garbled(line.to_owned())),
        },
        _ => Err(Answer::Garbled(line.to_owned())),
    }
}

/// `serve`'s side: answers backup requests on [`socket_path`] until stopped.
#[derive(Debug)]
pub struct BackupSocket {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl BackupSocket {
    /// Binds the socket (replacing a stale one: the caller holds the store's lock, so no
    /// other node uses this data directory) with mode 0600.
    pub fn start(path: PathBuf, store: Arc<Store>) -> anyhow::Result<BackupSocket> {
        if path.exists() {
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path)
            .map_err(|e| anyhow::anyhow!("binding {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let task = tokio::spawn(async move {
            loop {
                let conn = match listener.accept().await {
                    Ok((c, _)) => c,
                    Err(e) => {
                        // E.g. out of file descriptors: do not spin.
                        tracing::warn!("backup socket: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                // One backup at a time: each holds a snapshot and writes a whole copy.
                serve_one(conn, store.clone()).await;
            }
        });
        Ok(BackupSocket { path, task })
    }

    /// Stops answering and removes the socket file.
    pub fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve_one(conn: tokio::net::UnixStream, store: Arc<Store>) {
    let (r, mut w) = conn.into_split();
    let mut line = String::new();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::BufReader::new(r.take(MAX_REQUEST as u64)).read_line(&mut line),
    )
    .await;
    let answer = match read {
        Ok(Ok(_)) if line.ends_with('\n') => {
            let path = PathBuf::from(line.trim_end_matches('\n'));
            if !path.is_absolute() {
                "error the backup path must be absolute".to_owned()
            } else {
                tracing::info!(path = %path.display(), "backup requested");
                let r = tokio::task::spawn_blocking(move || {
                    target(&path)
                        .map_err(|e| e.to_string())
                        .and_then(|p| store.backup_to(&p).map_err(|e| e.to_string()))
                })
                .await;
                match r {
                    Ok(Ok(rep)) => {
                        tracing::info!(size = rep.size, bytes = rep.bytes, "backup written");
                        format!("ok {} {}", rep.size, rep.bytes)
                    }
                    Ok(Err(e)) => format!("error {}", e.replace('\n', " ")),
                    Err(e) => format!("error {e}"),
                }
            }
        }
        _ => "error expected one line holding an absolute path".to_owned(),
    };
    let _ = w.write_all(format!("{answer}\n").as_bytes()).await;
}

/// What [`verify`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries re-hashed.
    pub size: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: u64,
}

/// Audits the store at `store_file` (default: the data directory's) against the log
/// vkey in `data`'s `log.pub`. The first mismatch is the error.
pub fn verify(data: &DataDir, store_file: Option<&Path>) -> Result<VerifyReport, BackupError> {
    let pub_path = data.pub_path();
    let key_err = |reason: String| BackupError::Key {
        path: pub_path.display().to_string(),
        reason,
    };
    let vkey = std::fs::read_to_string(&pub_path).map_err(|e| key_err(e.to_string()))?;
    let verifier = Ed25519Verifier::from_vkey(vkey.trim()).map_err(|e| key_err(e.to_string()))?;
    let file = store_file.map_or_else(|| data.store_path(), Path::to_path_buf);
    let mut store = Store::open(&file)?;
    // redb's own page checks read the whole file, so they are not run on open.
    store.check_integrity()?;
    store.verify_full()?;
    let snap = store.snapshot()?;
    let mut checkpoints = 0;
    for row in snap.all_checkpoints()? {
        let (size, note) = row?;
        let bad = |reason: String| BackupError::Checkpoint { size, reason };
        let vc = verify_checkpoint(&note, &verifier, &[])
            .map_err(|e| bad(format!("does not verify under {}: {e}", verifier.name())))?;
        let cp = vc.checkpoint();
        if cp.size() != size {
            return Err(bad(format!("the note says size {}", cp.size())));
        }
        let root = merkle::tree_hash(size, &snap).map_err(|e| bad(e.to_string()))?;
        if cp.root_hash() != &root {
            return Err(bad(
                "its root differs from the tree recomputed from the stored entries".into(),
            ));
        }
        checkpoints += 1;
    }
    Ok(VerifyReport {
        size: snap.size(),
        checkpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_strictly() {
        assert!(matches!(
            parse_answer("ok 5 1024"),
            Ok(BackupReport {
                size: 5,
                bytes: 1024
            })
        ));
        assert!(matches!(parse_answer("error nope"), Err(Answer::Refused(m)) if m == "nope"));
        for bad in ["", "ok", "ok 5", "ok x 1", "ok 1 2 3", "fine"] {
            assert!(
                matches!(parse_answer(bad), Err(Answer::Garbled(_))),
                "{bad}"
            );
        }
    }
}
