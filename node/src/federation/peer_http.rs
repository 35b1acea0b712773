//! Reading a peer log over HTTP (its configured `url`): hash tiles, to decide whether two
//! of its checkpoints are consistent when the log's own consistency proof cannot show it
//! (for example when the smaller size is a power of two, so the proof omits the old
//! root). Every tile is authenticated against the larger checkpoint's root by
//! [`TileHashReader`], so nothing the server sends is trusted.

use std::io::Read as _;
use std::time::Duration;

use quorate_proto::checkpoint::VerifiedCheckpoint;
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::{self, MerkleError};
use quorate_proto::tile::{Tile, TileHashReader, TileReader};

/// Largest tile body read (a full hash tile is 8 KiB).
const MAX_TILE_BYTES: u64 = 8 * 1024;

/// A peer log's HTTP read path.
pub struct PeerHttp {
    base: String,
    agent: ureq::Agent,
}

impl PeerHttp {
    /// A reader of the log served at `base` (e.g. `https://log.example/quorate`).
    pub fn new(base: &str, timeout: Duration, roots: ureq::tls::RootCerts) -> PeerHttp {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        PeerHttp {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        let url = format!("{}/{path}", self.base);
        let mut resp = self.agent.get(&url).call().map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_TILE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| e.to_string())?;
        if body.len() as u64 > MAX_TILE_BYTES {
            return Err(format!("GET {url}: body too large"));
        }
        Ok(body)
    }

    /// Compares `small` with the prefix of `large`'s tree read from the tiles: `Ok(None)`
    /// when consistent, evidence when not. Blocking.
    pub fn prefix_evidence(
        &self,
        small: &VerifiedCheckpoint,
        large: &VerifiedCheckpoint,
    ) -> Result<Option<Equivocation>, MerkleError> {
        let (cs, cl) = (small.checkpoint(), large.checkpoint());
        let reader = TileHashReader::new(cl.size(), *cl.root_hash(), self);
        let prefix = merkle::tree_hash(cs.size(), &reader)?;
        if prefix == *cs.root_hash() {
            return Ok(None);
        }
        let proof = merkle::prove_tree(cl.size(), cs.size(), &reader)?;
        Ok(Some(Equivocation::with_prefix(
            small.note_bytes(),
            large.note_bytes(),
            prefix,
            proof,
        )))
    }
}

impl TileReader for PeerHttp {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        tiles
            .iter()
            .map(|t| self.get(&t.path()).map_err(MerkleError::Storage))
            .collect()
    }
}
