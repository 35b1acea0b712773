//! Evidence cannot be flooded: copies of one piece of equivocation evidence that differ
//! only in junk signature lines are one piece of evidence (its canonical form), stored,
//! served and gossiped once.

mod fed_support;

use fed_support::*;
use quorate_node::datadir::DataDir;
use quorate_proto::equivocation::Equivocation;

/// `note` with a junk signature line that no key here can check.
fn with_junk(note: &[u8], i: u32) -> Vec<u8> {
    use base64::Engine as _;
    let mut raw = i.to_be_bytes().to_vec();
    raw.extend_from_slice(&[0x5a; 64]);
    let line = format!(
        "\u{2014} junk.example/w{i} {}\n",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    [note, line.as_bytes()].concat()
}

#[test]
fn junk_variants_of_one_evidence_are_stored_served_and_gossiped_once() {
    let fed = Fed::init(3, "flood");
    let procs: Vec<_> = (0..3).map(|i| fed.start_full(i, "")).collect();
    for (i, p) in procs.iter().enumerate() {
        let ws = fed.witnesses_except(i);
        wait_for(30, "every node cosigned by both peers", || {
            (cosigned(p, &fed.specs[i], &ws).1 == 2).then_some(())
        });
    }
    // A genuine fork of node 2's log: two checkpoints of one size, both signed by its key.
    let key = DataDir::new(&fed.specs[2].dir).load_key().unwrap();
    let a = key.sign_checkpoint(5, [1; 32]).unwrap();
    let b = key.sign_checkpoint(5, [2; 32]).unwrap();
    let canonical = Equivocation::same_size(&a, &b).to_text();

    let variants = 40;
    let mut new = 0;
    for i in 0..variants {
        let e = Equivocation::same_size(&a, &with_junk(&b, i));
        let (status, body) = procs[0]
            .post("/v1/equivocations", "text/plain", e.to_text().as_bytes())
            .unwrap();
        let body = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, 200, "{body}");
        match body.as_str() {
            "new\n" => new += 1,
            "known\n" => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(new, 1, "{variants} junk variants of one evidence");
    assert_eq!(equivocations(&procs[0]), vec![canonical.clone()]);

    // Gossip carries the one canonical copy to both peers, and nothing else arrives.
    for p in &procs[1..] {
        wait_for(20, "the evidence gossiped", || {
            (!equivocations(p).is_empty()).then_some(())
        });
    }
    // Give any further copies the time to spread that the unfixed node needed (well
    // under 3 s for 75 copies), then count.
    std::thread::sleep(std::time::Duration::from_secs(3));
    for p in &procs {
        assert_eq!(equivocations(p), vec![canonical.clone()]);
        assert_eq!(metric(p, "quorate_equivocations"), 1);
    }
}
