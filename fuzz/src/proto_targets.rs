//! Targets for `quorate-proto`'s parsers: every byte format a node, witness or client
//! reads from someone else.

use std::collections::HashMap;

use quorate_proto::attestation::{self, Attestation, Digest, PackageId};
use quorate_proto::checkpoint::{Checkpoint, verify_checkpoint, verify_checkpoint_at};
use quorate_proto::cosignature::{CosignatureVerifier, cosignature_timestamp};
use quorate_proto::equivocation::Equivocation;
use quorate_proto::merkle::{self, Hash, HashReader as _, MerkleError};
use quorate_proto::note::{self, Ed25519Verifier, NoteVerifier, Signer};
use quorate_proto::tile::{self, Tile, TileHashReader, TileReader};
use quorate_proto::tlog_proof::TlogProof;

use crate::keys::{AcceptAll, log_signer, witness_signer};
use crate::{parts, path_part};

fn witnesses() -> [CosignatureVerifier; 1] {
    [witness_signer().verifier()]
}

/// Signed notes: opening (with a verifier that accepts anything, and with the real
/// key), re-assembling, and the key formats that name their signers.
pub fn note(data: &[u8]) {
    let accept = AcceptAll::log();
    let witness = witness_signer().verifier();
    let real = log_signer().verifier();
    let _ = note::open(data, &[&accept, &witness]);
    let _ = note::open(data, &[&real]);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(again) = note::add_signatures(text, &[]) {
        // What add_signatures writes is a note it can read back, unchanged.
        let twice = note::add_signatures(&again, &[]).expect("re-assembled note re-parses");
        assert_eq!(twice, again);
    }
    for line in text.lines().take(8) {
        if let Ok(k) = note::parse_vkey(line) {
            let _ = Ed25519Verifier::from_parsed(&k);
            let _ = CosignatureVerifier::from_parsed(&k);
        }
        let _ = Signer::from_skey(line);
    }
}

/// Checkpoint note texts, and signed checkpoints past the log signature (cosignature
/// lines by the real witness key included).
pub fn checkpoint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cp) = Checkpoint::parse(text)
    {
        assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
    }
    let log = AcceptAll::log();
    let w = witnesses();
    if let Ok(v) = verify_checkpoint(data, &log, &w) {
        let _ = v.require_witnesses(1);
        assert_eq!(v.checkpoint().origin(), log.name());
    }
    let _ = verify_checkpoint_at(data, &log, &w, 1_700_000_000, 3600);
}

/// Cosignature signature bytes, and the cosignature lines a witness answers with, as
/// the log-side client reads them.
pub fn cosignature(data: &[u8]) {
    let _ = cosignature_timestamp(data);
    let w = witness_signer().verifier();
    let _ = w.verify(b"fuzz.example/log\n1\n", data);
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = match selector % 4 {
        0 | 1 => 200,
        2 => 409,
        _ => 403,
    };
    let content_type = (selector & 4 != 0).then_some(quorate_witness::SIZE_CONTENT_TYPE);
    if let Ok(quorate_witness::CosignOutcome::Cosigned(sigs)) =
        quorate_witness::parse_cosign_response(status, content_type, body)
    {
        let signed = note::sign(
            "fuzz.example/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
            &[log_signer()],
        )
        .expect("fixed note signs");
        if let Ok(with) = note::add_signatures(&signed, &sigs) {
            let _ = note::open(with.as_bytes(), &[&AcceptAll::log(), &w]);
        }
    }
}

/// C2SP tlog-proof files.
pub fn tlog_proof(data: &[u8]) {
    let Ok(p) = TlogProof::parse(data) else {
        return;
    };
    let again = TlogProof::parse(&p.to_text()).expect("encoded tlog-proof re-parses");
    assert_eq!(again, p);
    let leaf = merkle::leaf_hash(b"fuzz");
    let _ = p.verify(&leaf, &AcceptAll::log(), &witnesses(), 0);
}

/// Tiles served by an untrusted `path\ndata` map.
struct FuzzTiles<'a>(HashMap<String, &'a [u8]>);

impl TileReader for FuzzTiles<'_> {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&t.path())
                    .map(|d| d.to_vec())
                    .ok_or_else(|| MerkleError::Storage(format!("no {}", t.path())))
            })
            .collect()
    }
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(a)
}

/// Tile paths and hash tiles read through the authenticating [`TileHashReader`]. Parts:
/// a header (tree size: u64, root: 32 bytes, record index: u64) then `path\ndata` tiles.
pub fn tile(data: &[u8]) {
    let ps = parts(data);
    let header = ps[0];
    let size = be_u64(header);
    let mut root: Hash = [0; 32];
    if let Some(r) = header.get(8..40) {
        root.copy_from_slice(r);
    }
    let index = be_u64(header.get(40..).unwrap_or(&[]));
    let mut map = HashMap::new();
    for p in &ps[1..] {
        if let Some((path, d)) = path_part(p) {
            if let Ok((_, t)) = Tile::parse_path(path) {
                assert_eq!(Tile::parse_path(&t.path()).map(|x| x.1), Ok(t));
                for i in 0..u64::from(t.width()).min(4) {
                    let _ = tile::hash_from_tile(&t, d, t.index() * 256 + i);
                }
            }
            map.insert(path.to_owned(), d);
        }
    }
    let reader = TileHashReader::new(size, root, FuzzTiles(map));
    let _ = merkle::tree_hash(size, &reader);
    if let Ok(proof) = merkle::prove_record(size, index, &reader)
        && let Ok(h) = reader.read_hashes(&[merkle::stored_hash_index(0, index)])
    {
        // Every hash came from an authenticated tile, so the proof must check.
        merkle::check_record(&proof, size, &root, index, &h[0])
            .expect("a proof read from authenticated tiles checks");
    }
    if let Ok((t, _)) = tile::tile_for_index(index) {
        let _ = tile::read_tile_data(&t, &reader);
    }
    let _ = tile::tiles_for_size(size).take(64).count();
}

/// Entry bundles, alone and checked against a level-0 tile. Parts: a header (width: u16,
/// index: u64), the bundle, the tile's hash data; the whole input is also a bundle.
pub fn entry_bundle(data: &[u8]) {
    if let Ok(entries) = tile::decode_entry_bundle(data) {
        let again = tile::encode_entry_bundle(&entries).expect("decoded bundle re-encodes");
        assert_eq!(again, data);
    }
    let ps = parts(data);
    let [header, bundle, tile_data, ..] = ps.as_slice() else {
        return;
    };
    let width = header
        .get(..2)
        .map_or(256, |w| u16::from_be_bytes([w[0], w[1]]));
    let index = be_u64(header.get(2..).unwrap_or(&[]));
    if let Ok(t) = Tile::new(0, index, width)
        && let Ok(entries) = tile::check_entry_bundle(&t, bundle, tile_data)
    {
        assert_eq!(entries.len(), usize::from(width));
    }
}

/// Review attestation envelopes and payloads (decoded without a signature too, as the
/// client's `peek` does), plus the package-spec and digest text forms.
pub fn attestation(data: &[u8]) {
    use prost::Message as _;
    let _ = attestation::verify(data);
    if let Ok(env) = attestation::pb::Envelope::decode(data) {
        let _ = Attestation::decode_payload(&env.payload);
    }
    if let Ok(a) = Attestation::decode_payload(data) {
        assert_eq!(a.encode_payload(), data, "payloads have one encoding");
        a.validate().expect("a decoded payload validates");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Attestation::parse_package_spec(s);
        // A parsed purl renders to a purl that parses to the same identity.
        if let Ok(id) = PackageId::parse_purl(s) {
            assert_eq!(
                PackageId::parse_purl(&id.to_purl()),
                Ok(id),
                "purl round trip"
            );
        }
        // Every notation's digest displays in a form that reads back.
        if let Ok(d) = Digest::parse(s) {
            assert_eq!(Digest::parse(&d.to_string()), Ok(d), "digest round trip");
        }
        if let Ok(d) = Digest::from_hex(s) {
            // Display is `sha256:HEX`; from_hex reads the bare HEX of a Cargo.lock.
            let shown = d.to_string();
            let hex = shown.strip_prefix("sha256:").expect("shown as sha256:HEX");
            assert_eq!(Digest::from_hex(hex), Ok(d));
        }
    }
}

/// Equivocation evidence (`quorate-equivocation/v1`), verified past the log signature.
pub fn equivocation(data: &[u8]) {
    let Ok(ev) = Equivocation::parse(data) else {
        return;
    };
    let again = Equivocation::parse(ev.to_text().as_bytes()).expect("encoded evidence re-parses");
    assert_eq!(again, ev);
    let _ = ev.id();
    let _ = ev.verify(&AcceptAll::log());
}
