//! A federation of real nodes converges: every node's /checkpoint carries valid
//! cosignatures from all its peers.

mod fed_support;

use fed_support::*;
use quorate_proto::checkpoint::verify_checkpoint;

#[test]
fn four_nodes_cosign_each_other() {
    let fed = Fed::init(4, "conv");
    let procs: Vec<_> = (0..4).map(|i| fed.start_full(i, "")).collect();
    for (i, p) in procs.iter().enumerate() {
        for k in 0..3 {
            p.submit(&envelope(&format!("pkg{i}"), k)).unwrap();
        }
    }
    for (i, p) in procs.iter().enumerate() {
        let spec = &fed.specs[i];
        let ws = fed.witnesses_except(i);
        let note = wait_for(20, "full cosigning", || {
            let (_, body) = p.get("/checkpoint").unwrap();
            let v = verify_checkpoint(&body, &spec.log_verifier(), &ws).ok()?;
            (v.checkpoint().size() == 3 && v.require_witnesses(3).is_ok()).then_some(body)
        });
        let v = verify_checkpoint(&note, &spec.log_verifier(), &ws).unwrap();
        v.require_witnesses(3).unwrap();
        // Its own witness never cosigns its own log.
        let own = [spec.witness_verifier()];
        let v = verify_checkpoint(&note, &spec.log_verifier(), &own).unwrap();
        assert!(v.cosignatures().is_empty());
        // Metrics expose the federation.
        let (_, m) = p.get("/metrics").unwrap();
        let m = String::from_utf8(m).unwrap();
        assert!(m.contains("quorate_checkpoint_cosignatures 3"), "{m}");
        assert!(m.contains("quorate_equivocations 0"));
        assert!(equivocations(p).is_empty());
    }

    // The cosigned checkpoint survives a restart (persisted) and cosigning resumes.
    drop(procs);
    let p0 = fed.start_full(0, "");
    let (size, n) = cosigned(&p0, &fed.specs[0], &fed.witnesses_except(0));
    assert_eq!(
        (size, n),
        (3, 3),
        "served right after restart, before peers are up"
    );
}

#[test]
fn id_command_prints_what_peers_configure() {
    let fed = Fed::init(1, "id");
    let s = &fed.specs[0];
    let out = std::process::Command::new(BIN)
        .args(["id", "--data", s.dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("peer_id = {:?}", s.peer_id)),
        "{text}"
    );
    assert!(text.contains(&format!("witness_vkey = {:?}", s.witness_vkey)));
    assert!(text.contains(&format!("log_vkey = {:?}", s.log_vkey)));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.dir.join("witness.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
