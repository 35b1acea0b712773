//! The node's libp2p identity and configured peers.
//!
//! # Derivation
//!
//! A node's libp2p identity is an Ed25519 keypair whose 32-byte secret is
//!
//! ```text
//! SHA-256("quorate/libp2p-identity/v1" || log_key_seed)
//! ```
//!
//! where `log_key_seed` is the 32-byte Ed25519 seed inside the node's log skey
//! (`PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)`). The identity is therefore fixed by the
//! log key in the node's config (no second secret to back up), while the log signing key
//! itself is never used for a second protocol. The PeerId cannot be computed from the log's
//! public vkey (the hash is one-way), so each peer's PeerId is configured explicitly; an
//! operator prints their own with [`peer_id_from_skey`].

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use libp2p::identity::{self, Keypair, PublicKey};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use quorate_proto::note::{ED25519_TYPE, Signer};
use sha2::{Digest, Sha256};

/// Domain separator for the identity derivation.
pub const IDENTITY_DOMAIN: &[u8] = b"quorate/libp2p-identity/v1";

/// Why an identity or peer entry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("log skey: {0}")]
    Skey(#[from] quorate_proto::note::KeyError),
    #[error("log skey is not an Ed25519 note key with a 32-byte seed")]
    SkeyShape,
    #[error("invalid PeerId {0:?}")]
    PeerId(String),
    #[error("invalid multiaddr {0:?}")]
    Multiaddr(String),
    #[error("address {addr} names PeerId {found}, but the configured PeerId is {configured}")]
    AddrPeerMismatch {
        addr: String,
        found: String,
        configured: String,
    },
    #[error("invalid Ed25519 public key")]
    PublicKey,
}

/// The libp2p keypair derived from a 32-byte log key seed (see the module docs).
pub fn identity_from_seed(seed: &[u8; 32]) -> Keypair {
    let mut h = Sha256::new();
    h.update(IDENTITY_DOMAIN);
    h.update(seed);
    let mut secret: [u8; 32] = h.finalize().into();
    // `ed25519_from_bytes` zeroes its input; any 32 bytes are a valid Ed25519 secret.
    Keypair::ed25519_from_bytes(&mut secret).expect("32 bytes is a valid Ed25519 secret")
}

/// The libp2p keypair derived from the node's log skey text. The skey is checked (format
/// and key ID) with [`Signer::from_skey`] first.
pub fn identity_from_skey(skey: &str) -> Result<Keypair, IdentityError> {
    Signer::from_skey(skey)?;
    // `PRIVATE+KEY+<name>+<id>+<base64>`: names contain no '+', base64 may.
    let b64 = skey
        .strip_prefix("PRIVATE+KEY+")
        .and_then(|rest| rest.splitn(3, '+').nth(2))
        .ok_or(IdentityError::SkeyShape)?;
    let mut raw = B64.decode(b64).map_err(|_| IdentityError::SkeyShape)?;
    let result = match raw.split_first() {
        Some((&t, seed)) if t == ED25519_TYPE && seed.len() == 32 => {
            let seed: &[u8; 32] = seed.try_into().expect("length checked");
            Ok(identity_from_seed(seed))
        }
        _ => Err(IdentityError::SkeyShape),
    };
    raw.fill(0);
    std::hint::black_box(&raw);
    result
}

/// The PeerId of the node whose log skey is `skey`, for operators to hand to their peers.
pub fn peer_id_from_skey(skey: &str) -> Result<PeerId, IdentityError> {
    Ok(identity_from_skey(skey)?.public().to_peer_id())
}

/// The PeerId of a raw 32-byte Ed25519 libp2p public key.
pub fn peer_id_from_ed25519_public(key: &[u8; 32]) -> Result<PeerId, IdentityError> {
    let pk =
        identity::ed25519::PublicKey::try_from_bytes(key).map_err(|_| IdentityError::PublicKey)?;
    Ok(PublicKey::from(pk).to_peer_id())
}

/// A configured federation peer.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's libp2p identity; connections from any other PeerId are refused.
    pub peer_id: PeerId,
    /// Where to dial it (e.g. `/ip4/127.0.0.1/tcp/7001`), without a `/p2p/` suffix.
    pub addr: Multiaddr,
    /// The origin of the log the peer runs.
    pub log_origin: String,
}

impl fmt::Debug for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PeerInfo({} {} {})",
            self.log_origin, self.peer_id, self.addr
        )
    }
}

impl PeerInfo {
    /// A peer from config strings. `addr` may end in `/p2p/<peer_id>`, which must then
    /// match `peer_id` and is stripped.
    pub fn parse(peer_id: &str, addr: &str, log_origin: &str) -> Result<PeerInfo, IdentityError> {
        let peer_id =
            PeerId::from_str(peer_id).map_err(|_| IdentityError::PeerId(peer_id.to_owned()))?;
        let mut addr =
            Multiaddr::from_str(addr).map_err(|_| IdentityError::Multiaddr(addr.to_owned()))?;
        if let Some(Protocol::P2p(found)) = addr.iter().last() {
            if found != peer_id {
                return Err(IdentityError::AddrPeerMismatch {
                    addr: addr.to_string(),
                    found: found.to_string(),
                    configured: peer_id.to_string(),
                });
            }
            addr.pop();
        }
        Ok(PeerInfo {
            peer_id,
            addr,
            log_origin: log_origin.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_deterministic_and_domain_separated() {
        let signer = Signer::generate("example.org/log", [7; 32]).unwrap();
        let skey = signer.skey();
        let a = peer_id_from_skey(skey.as_str()).unwrap();
        let b = identity_from_seed(&[7; 32]).public().to_peer_id();
        assert_eq!(a, b);
        // Not the log key itself.
        let log_pk = signer.public_key_bytes();
        assert_ne!(a, peer_id_from_ed25519_public(&log_pk).unwrap());
        assert_ne!(a, identity_from_seed(&[8; 32]).public().to_peer_id());
        assert!(identity_from_skey("PRIVATE+KEY+x+00000000+AAAA").is_err());
        // Base64 of the seed may itself contain '+'.
        let mut plus = 0;
        for i in 0..=255u8 {
            let s = Signer::generate("o", [i; 32]).unwrap();
            let skey = s.skey();
            plus += usize::from(skey.as_str().matches('+').count() > 4);
            let derived = identity_from_skey(skey.as_str()).unwrap().public();
            assert_eq!(derived, identity_from_seed(&[i; 32]).public());
        }
        assert!(plus > 0);
    }

    #[test]
    fn peer_info_parse() {
        let id = identity_from_seed(&[1; 32]).public().to_peer_id();
        let p = PeerInfo::parse(
            &id.to_string(),
            &format!("/ip4/127.0.0.1/tcp/1/p2p/{id}"),
            "o",
        )
        .unwrap();
        assert_eq!(p.addr.to_string(), "/ip4/127.0.0.1/tcp/1");
        let other = identity_from_seed(&[2; 32]).public().to_peer_id();
        assert!(
            PeerInfo::parse(
                &other.to_string(),
                &format!("/ip4/127.0.0.1/tcp/1/p2p/{id}"),
                "o"
            )
            .is_err()
        );
    }
}
