//! The data directory: log key, store and reviewer list.
//!
//! | file            | contents                                              |
//! |-----------------|-------------------------------------------------------|
//! | `log.key`       | the log's note skey (mode 0600, never overwritten)     |
//! | `log.pub`       | the log's vkey (what verifiers configure)              |
//! | `log.redb`      | the store (entries, hashes, checkpoints, indexes)      |
//! | `reviewers.txt` | registered reviewer vkeys, one per line                |

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use quorate_proto::note::Signer;

use crate::sequencer::{LogKey, init_log};
use crate::store::Store;

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The log skey file.
    pub fn key_path(&self) -> PathBuf {
        self.root.join("log.key")
    }
    /// The log vkey file.
    pub fn pub_path(&self) -> PathBuf {
        self.root.join("log.pub")
    }
    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("log.redb")
    }
    /// The reviewer list.
    pub fn reviewers_path(&self) -> PathBuf {
        self.root.join("reviewers.txt")
    }

    /// Creates a new log: key (from 32 random bytes), vkey file, empty store with its
    /// signed size-0 checkpoint, and an empty reviewer list. Refuses if any of those
    /// files exists. Returns the vkey.
    pub fn init(&self, origin: &str) -> anyhow::Result<String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
        let result = self.init_with_seed(origin, seed);
        seed.fill(0);
        std::hint::black_box(&seed);
        result
    }

    /// [`Self::init`] with a caller-chosen seed (tests and benchmarks).
    pub fn init_with_seed(&self, origin: &str, seed: [u8; 32]) -> anyhow::Result<String> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        for p in [self.store_path(), self.key_path(), self.pub_path()] {
            if p.exists() {
                bail!(
                    "{} already exists: refusing to overwrite an existing log",
                    p.display()
                );
            }
        }
        // C2SP: the checkpoint origin is the log key's name.
        let signer = Signer::generate(origin, seed)
            .map_err(|e| anyhow::anyhow!("origin {origin:?} is not a valid key name: {e}"))?;
        let key = LogKey::new(origin, Signer::from_skey(signer.skey().as_str())?)
            .map_err(|e| anyhow::anyhow!("origin {origin:?} is not a valid origin: {e}"))?;
        let vkey = signer.vkey();
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(self.key_path())
                .with_context(|| format!("creating {}", self.key_path().display()))?;
            let skey = signer.skey();
            f.write_all(skey.as_str().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(self.pub_path())
                .with_context(|| format!("creating {}", self.pub_path().display()))?;
            f.write_all(vkey.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        let store = init_log(self.store_path(), &key)
            .with_context(|| format!("creating store {}", self.store_path().display()))?;
        drop(store);
        if !self.reviewers_path().exists() {
            crate::reviewers::write_list(&self.reviewers_path(), &[])?;
        }
        sync_dir(&self.root)?;
        Ok(vkey)
    }

    /// Loads the log key (checking the skey file is not readable by others).
    pub fn load_key(&self) -> anyhow::Result<LogKey> {
        let path = self.key_path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading log key {} (run init first?)", path.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "log key {} has mode {:o}; it should be 0600",
                    path.display(),
                    mode & 0o777
                );
            }
        }
        let signer = Signer::from_skey(text.trim_end())
            .map_err(|e| anyhow::anyhow!("log key {}: {e}", path.display()))?;
        let origin = signer.name().to_owned();
        LogKey::new(&origin, signer).map_err(|e| anyhow::anyhow!("log key: {e}"))
    }

    /// Opens the store (fails if it does not exist or another process holds it).
    pub fn open_store(&self) -> anyhow::Result<Store> {
        let path = self.store_path();
        if !path.exists() {
            bail!("no store at {} (run init first)", path.display());
        }
        Store::open(&path).with_context(|| format!("opening store {}", path.display()))
    }
}

/// fsyncs a directory so renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}
