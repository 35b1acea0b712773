//! The followed log's read path over HTTP(S), every body bounded by what the requested
//! object can legitimately be (a checkpoint, a tile of its width, a bundle of its width).
//! Nothing read here is trusted: the follower verifies it.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::Duration;

use quorate_proto::merkle::MerkleError;
use quorate_proto::tile::{MAX_ENTRY_SIZE, Tile, TileReader};

/// Largest checkpoint read (a note with a cosignature from each of a few hundred
/// witnesses).
pub const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;

/// The origin log's HTTP read path.
pub struct Origin {
    base: String,
    agent: ureq::Agent,
    /// Authenticated tiles above level 0 of the tree being read, so each level-0 tile's
    /// authentication does not fetch its parents again.
    upper: Mutex<HashMap<Tile, Vec<u8>>>,
}

/// Largest entry bundle of `t`'s width.
fn max_bundle_bytes(t: &Tile) -> u64 {
    u64::from(t.width()) * (2 + MAX_ENTRY_SIZE as u64)
}

impl Origin {
    /// The log served at `base` (`https://log.example/quorate` or a bucket's URL); each
    /// request must finish within `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Origin {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .into();
        Origin {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            upper: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets cached tiles (they were authenticated for one tree).
    pub fn reset(&self) {
        if let Ok(mut u) = self.upper.lock() {
            u.clear();
        }
    }

    fn get(&self, path: &str, max: u64) -> Result<Vec<u8>, String> {
        let url = format!("{}/{path}", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(max + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("GET {url}: {e}"))?;
        if body.len() as u64 > max {
            return Err(format!("GET {url}: longer than the {max} bytes it can be"));
        }
        Ok(body)
    }

    /// `GET /checkpoint`.
    pub fn checkpoint(&self) -> Result<Vec<u8>, String> {
        self.get("checkpoint", MAX_CHECKPOINT_BYTES)
    }

    /// The entry bundle of level-0 tile `t`.
    pub fn bundle(&self, t: &Tile) -> Result<Vec<u8>, String> {
        self.get(&t.entries_path(), max_bundle_bytes(t))
    }
}

impl TileReader for Origin {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        tiles
            .iter()
            .map(|t| {
                if let Some(d) = self.upper.lock().ok().and_then(|u| u.get(t).cloned()) {
                    return Ok(d);
                }
                self.get(&t.path(), t.data_len() as u64)
                    .map_err(MerkleError::Storage)
            })
            .collect()
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        let Ok(mut upper) = self.upper.lock() else {
            return;
        };
        for (t, d) in tiles.iter().zip(data) {
            if t.level() > 0 {
                upper.insert(*t, d.clone());
            }
        }
    }
}
