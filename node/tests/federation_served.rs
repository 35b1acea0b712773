//! A busy log keeps its vote: during sustained submissions `GET /checkpoint` serves only
//! checkpoints that reached their cosigning target (every peer's witness), each one still
//! provable from the tiles and entry bundles the node serves (partial tiles of its older
//! size included), while `GET /checkpoint/latest` runs ahead with the newest signed one.

mod fed_support;

use std::sync::atomic::{AtomicBool, Ordering};

use fed_support::*;
use quorate_node::fedbench::Proc;
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::merkle::{self, MerkleError};
use quorate_proto::tile::{self, Tile, TileHashReader, TileReader};

/// The node's tiles over HTTP; untrusted, [`TileHashReader`] authenticates them.
struct HttpTiles<'a>(&'a Proc);

impl TileReader for HttpTiles<'_> {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MerkleError> {
        tiles
            .iter()
            .map(|t| match self.0.get(&format!("/{}", t.path())) {
                Ok((200, body)) => Ok(body),
                Ok((s, body)) => Err(MerkleError::Storage(format!(
                    "{}: {s} {}",
                    t.path(),
                    String::from_utf8_lossy(&body)
                ))),
                Err(e) => Err(MerkleError::Storage(e.to_string())),
            })
            .collect()
    }
}

/// Proves the last entry of the tree of `size` and `root` from the node's tiles and
/// checks its entry bundle (both partial when `size` is not a multiple of 256).
fn provable(p: &Proc, size: u64, root: merkle::Hash) -> Result<(), String> {
    let reader = TileHashReader::new(size, root, HttpTiles(p));
    merkle::prove_record(size, size - 1, &reader).map_err(|e| e.to_string())?;
    let (t, _) = tile::tile_for_index(size - 1).map_err(|e| e.to_string())?;
    let width = (size - t.index() * 256).min(256) as u16;
    let t = Tile::new(0, t.index(), width).map_err(|e| e.to_string())?;
    let data = tile::read_tile_data(&t, &reader).map_err(|e| e.to_string())?;
    let (status, bundle) = p
        .get(&format!("/{}", t.entries_path()))
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{}: {status}", t.entries_path()));
    }
    tile::check_entry_bundle(&t, &bundle, &data).map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn busy_log_serves_only_checkpoints_that_reached_the_cosigning_target() {
    let fed = Fed::init(3, "busy");
    let procs: Vec<_> = (0..3).map(|i| fed.start_full(i, "")).collect();
    let (p0, spec) = (&procs[0], &fed.specs[0]);
    let ws = fed.witnesses_except(0);
    p0.submit(&envelope("busy", 0)).unwrap();
    wait_for(30, "the first entry cosigned by both peers", || {
        let (size, n) = cosigned(p0, spec, &ws);
        (size >= 1 && n == 2).then_some(())
    });

    let submissions = 60;
    let done = AtomicBool::new(false);
    let (checks, short, ahead, unprovable) = std::thread::scope(|s| {
        s.spawn(|| {
            for k in 1..=submissions {
                p0.submit(&envelope("busy", k)).unwrap();
            }
            done.store(true, Ordering::SeqCst);
        });
        let (mut checks, mut short, mut ahead, mut unprovable) = (0, 0, 0, Vec::new());
        let mut last = 0;
        while !done.load(Ordering::SeqCst) {
            checks += 1;
            let (status, body) = p0.get("/checkpoint").unwrap();
            assert_eq!(status, 200);
            let v = verify_checkpoint(&body, &spec.log_verifier(), &ws).expect("log signature");
            let size = v.checkpoint().size();
            assert!(size >= last, "/checkpoint went back from {last} to {size}");
            last = size;
            if v.require_witnesses(2).is_err() {
                short += 1;
            }
            if let Err(e) = provable(p0, size, *v.checkpoint().root_hash()) {
                unprovable.push(format!("size {size}: {e}"));
            }
            let (_, newest) = p0.get("/checkpoint/latest").unwrap();
            let n = verify_checkpoint(&newest, &spec.log_verifier(), &ws).expect("latest");
            if n.checkpoint().size() > size {
                ahead += 1;
            }
        }
        (checks, short, ahead, unprovable)
    });
    eprintln!(
        "{checks} checks during {submissions} submissions: {short} served a checkpoint short of \
         2 cosignatures, {ahead} saw /checkpoint/latest ahead of /checkpoint"
    );
    assert_eq!(
        short, 0,
        "served checkpoints without every peer's cosignature"
    );
    assert!(unprovable.is_empty(), "{unprovable:?}");

    // Once the submissions stop, the newest checkpoint reaches the target and is served.
    let size = p0.submit(&envelope("busy", submissions + 1)).unwrap();
    wait_for(30, "the final checkpoint served", || {
        let (s, n) = cosigned(p0, spec, &ws);
        (s == size && n == 2).then_some(())
    });
}

#[test]
fn without_witnesses_the_newest_signed_checkpoint_is_served() {
    let fed = Fed::init(1, "alone");
    let p = fed.start_full(0, "");
    let size = p.submit(&envelope("alone", 0)).unwrap();
    let (_, served) = p.get("/checkpoint").unwrap();
    let (_, latest) = p.get("/checkpoint/latest").unwrap();
    assert_eq!(served, latest);
    let v = verify_checkpoint(&served, &fed.specs[0].log_verifier(), &[]).unwrap();
    assert_eq!(v.checkpoint().size(), size);
}

#[test]
fn a_cosign_target_above_the_configured_witnesses_is_refused() {
    let fed = Fed::init(2, "target");
    let cfg = fed.full_config(0, "cosign_target = 2\n");
    let err = Proc::spawn(bin(), &fed.specs[0], &cfg).unwrap_err();
    assert!(
        format!("{err:#}").contains("cosign_target 2 can never be reached"),
        "{err:#}"
    );
}
