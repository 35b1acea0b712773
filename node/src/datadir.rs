//! The data directory: log key, store and reviewer list.
//!
//! | file            | contents                                              |
//! |-----------------|-------------------------------------------------------|
//! | `log.key`       | the log's note skey (mode 0600, never overwritten; any group/other bit refuses start) |
//! | `log.pub`       | the log's vkey (what verifiers configure)              |
//! | `log.redb`      | the store (entries, hashes, checkpoints, indexes)      |
//! | `reviewers.txt` | registered reviewer vkeys, one per line                |
//! | `witness.key`   | the embedded witness's cosignature/v1 skey (0600)      |
//! | `witness.pub`   | the witness's vkey (what peers configure)              |
//! | `witness.redb`  | the witness's state (created by `serve` with gossip)   |
//! | `seen.json`     | latest verified checkpoint of every federation log     |
//! | `cosigned.note` | this log's latest checkpoint with gathered cosignatures |

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::note::Signer;
use quorate_witness::keyfile::read_secret_key;
use zeroize::Zeroizing;

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

    /// The embedded witness's skey file.
    pub fn witness_key_path(&self) -> PathBuf {
        self.root.join("witness.key")
    }
    /// The embedded witness's vkey file.
    pub fn witness_pub_path(&self) -> PathBuf {
        self.root.join("witness.pub")
    }
    /// The embedded witness's state.
    pub fn witness_state_path(&self) -> PathBuf {
        self.root.join("witness.redb")
    }
    /// Latest verified checkpoint per federation log.
    pub fn seen_path(&self) -> PathBuf {
        self.root.join("seen.json")
    }
    /// This log's latest cosigned checkpoint.
    pub fn cosigned_path(&self) -> PathBuf {
        self.root.join("cosigned.note")
    }

    /// The witness name for a log origin: `<origin>/witness`.
    pub fn witness_name(origin: &str) -> String {
        format!("{origin}/witness")
    }

    /// Creates the witness key pair (`witness.key` 0600, `witness.pub`) named
    /// `<origin>/witness`. Fails if `witness.key` exists. Returns the vkey.
    pub fn init_witness_key(&self, origin: &str) -> anyhow::Result<String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
        let signer = CosignatureSigner::generate(&Self::witness_name(origin), seed);
        seed.fill(0);
        std::hint::black_box(&seed);
        let signer = signer.map_err(|e| anyhow::anyhow!("witness name: {e}"))?;
        let vkey = signer.vkey();
        let line = Zeroizing::new(format!("{}\n", signer.skey().as_str()));
        write_new(&self.witness_key_path(), line.as_bytes(), 0o600)?;
        // The pub file is derived; (re)write it atomically.
        let tmp = self.root.join("witness.pub.tmp");
        let _ = std::fs::remove_file(&tmp);
        write_new(&tmp, format!("{vkey}\n").as_bytes(), 0o644)?;
        std::fs::rename(&tmp, self.witness_pub_path())?;
        sync_dir(&self.root)?;
        Ok(vkey)
    }

    /// Loads the witness key, creating it first (with a log line) when this data
    /// directory predates federation.
    pub fn load_or_create_witness_key(&self, origin: &str) -> anyhow::Result<CosignatureSigner> {
        let path = self.witness_key_path();
        if !path.exists() {
            let vkey = self.init_witness_key(origin)?;
            tracing::warn!(
                "created missing witness key {} (vkey {vkey}); give it to your peers",
                path.display()
            );
        }
        let text = read_secret_key(&path)?;
        CosignatureSigner::from_skey(text.trim_end())
            .map_err(|e| anyhow::anyhow!("witness key {}: {e}", path.display()))
    }

    /// The log skey text (for deriving the libp2p identity), zeroed when dropped.
    pub fn log_skey(&self) -> anyhow::Result<Zeroizing<String>> {
        let mut text = read_secret_key(&self.key_path())?;
        let len = text.trim_end().len();
        text.truncate(len);
        Ok(text)
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
        if !self.witness_key_path().exists() {
            self.init_witness_key(origin)?;
        }
        sync_dir(&self.root)?;
        Ok(vkey)
    }

    /// Loads the log key, refusing a key file that group or others can access.
    pub fn load_key(&self) -> anyhow::Result<LogKey> {
        let path = self.key_path();
        if !path.exists() {
            bail!("no log key at {} (run init first)", path.display());
        }
        let text = read_secret_key(&path)?;
        let signer = Signer::from_skey(text.trim_end())
            .map_err(|e| anyhow::anyhow!("log key {}: {e}", path.display()))?;
        let origin = signer.name().to_owned();
        LogKey::new(&origin, signer).map_err(|e| anyhow::anyhow!("log key: {e}"))
    }

    /// Opens the store (fails if it does not exist or another process holds it).
    pub fn open_store(&self) -> anyhow::Result<Store> {
        self.open_store_with_cache(crate::store::DEFAULT_CACHE_BYTES)
    }

    /// [`Self::open_store`] with redb's page cache bounded by `cache_bytes`.
    pub fn open_store_with_cache(&self, cache_bytes: usize) -> anyhow::Result<Store> {
        let path = self.store_path();
        if !path.exists() {
            bail!("no store at {} (run init first)", path.display());
        }
        Store::open_with_cache(&path, cache_bytes)
            .with_context(|| format!("opening store {}", path.display()))
    }
}

/// Creates `path` (never overwriting) with `mode`, writes `data` and fsyncs it.
fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

/// Replaces `path` atomically: temp file, fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("replacing {}: {e}", path.display()))?;
    sync_dir(dir)
}

/// fsyncs a directory so renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}
