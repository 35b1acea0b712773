//! Hostile gossip peers against real nodes: what a receiver accepts depends only on the
//! message and the log's key, so a peer that appends lines under another node's witness
//! name or replays old checkpoints costs itself, never the honest relayers or the log.

mod fed_support;

use std::time::Duration;

use base64::Engine as _;
use fed_support::*;
use quorate_node::fedbench::{NodeSpec, Proc};
use quorate_node::gossip::{GossipHandle, GossipMessage, Request, Response};
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::note::NoteVerifier;

fn spawn(spec: &NodeSpec, peers: &[&NodeSpec]) -> Proc {
    Proc::spawn(bin(), spec, &spec.config(peers, "")).unwrap()
}

/// The size of the checkpoint of `log` that node `n` holds, asked over the fetch
/// protocol by the played peer `h`.
async fn held_size(h: &GossipHandle, n: &NodeSpec, log: &NodeSpec) -> Option<u64> {
    let req = Request::Checkpoint {
        origin: log.origin.clone(),
    };
    match h.request(n.peer_id.parse().unwrap(), req).await {
        Ok(Response::Checkpoint(note)) => verify_checkpoint(&note, &log.log_verifier(), &[])
            .ok()
            .map(|v| v.checkpoint().size()),
        _ => None,
    }
}

async fn wait_held(h: &GossipHandle, n: &NodeSpec, log: &NodeSpec, size: u64, what: &str) {
    for _ in 0..300 {
        if held_size(h, n, log).await == Some(size) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn submit(p: &Proc, tag: &str, k: u64) -> u64 {
    let env = envelope(tag, k);
    let p_http = p.http;
    tokio::task::spawn_blocking(move || {
        let (status, body) = quorate_node::fedbench::http(
            p_http,
            "POST",
            "/v1/attestations",
            Some("application/x-protobuf"),
            &env,
        )
        .unwrap();
        assert!(status == 201 || status == 200, "{status}");
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["size"]
            .as_u64()
            .unwrap()
    })
    .await
    .unwrap()
}

/// A `— <name> <base64(key id || 72 garbage bytes)>` line under `w`'s name and key ID.
fn junk_line(w: &NodeSpec, fill: u8) -> String {
    let v = w.witness_verifier();
    let mut raw = v.key_id().to_be_bytes().to_vec();
    raw.extend_from_slice(&[fill; 72]);
    format!(
        "\u{2014} {} {}\n",
        v.name(),
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A peer appends lines under N's witness name with garbage signatures to a checkpoint
/// of L. Before, the honest relayer F accepted each variant (new message ids), N rejected
/// them, and F's score fell until N graylisted F; L's next checkpoint, which reaches N
/// only through F, never arrived. Now every variant is one message, rejected as the
/// injector's own publication by F and N alike, and L's checkpoints keep flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_witness_lines_do_not_graylist_honest_relayers() {
    let fed = Fed::init(4, "junk");
    let (n, f, l, a) = (&fed.specs[0], &fed.specs[1], &fed.specs[2], &fed.specs[3]);
    // L peers only with F, so its checkpoints reach N only through F. N knows L's keys
    // and reads L's tiles over HTTP to check consistency, but has no gossip address for
    // it (a port nobody listens on).
    let pl = spawn(l, &[f]);
    let pf = spawn(f, &[l, n, a]);
    let mut l_seen_by_n = l.clone();
    l_seen_by_n.gossip_port = quorate_node::fedbench::free_port().unwrap();
    l_seen_by_n.url = Some(format!("http://{}", pl.http));
    let pn = spawn(n, &[f, &l_seen_by_n, a]);
    let ah = play_peer(a, &[n, f]).await;

    assert_eq!(submit(&pl, "junk", 1).await, 1);
    wait_held(&ah, n, l, 1, "N to hold L's checkpoint 1").await;

    let (_, honest) = pl.get("/checkpoint").unwrap();
    let honest = String::from_utf8(honest).unwrap();
    let rejected_n = metric(&pn, "quorate_gossip_rejected_total");
    let rejected_f = metric(&pf, "quorate_gossip_rejected_total");
    let variants = 6u8;
    for k in 0..variants {
        // The played peer's own gossipsub would call the variant a duplicate; any other
        // publication makes it forget expired ids (a checkpoint of a log nobody follows,
        // which N and F ignore).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let filler = format!("filler.example/{k}\n1\n");
        publish_retrying(
            &ah,
            &GossipMessage::Checkpoint {
                origin: format!("filler.example/{k}"),
                note: filler.into_bytes(),
            },
        )
        .await;
        let note = format!("{honest}{}", junk_line(n, k));
        publish_retrying(
            &ah,
            &GossipMessage::Checkpoint {
                origin: l.origin.clone(),
                note: note.into_bytes(),
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Let every variant arrive and be judged.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // L's next checkpoint still reaches N through F.
    assert_eq!(submit(&pl, "junk", 2).await, 2);
    wait_held(&ah, n, l, 2, "N to hold L's checkpoint 2 (relayed by F)").await;
    let (dn, df) = (
        metric(&pn, "quorate_gossip_rejected_total") - rejected_n,
        metric(&pf, "quorate_gossip_rejected_total") - rejected_f,
    );
    eprintln!("{variants} junk variants: N rejected {dn}, F rejected {df}");
    // One message id for all the variants; judged once by each node.
    assert_eq!((dn, df), (1, 1), "junk variants made new messages");

    ah.shutdown().await;
}

/// A peer republishes an old checkpoint of L. Before, N ignored it after asking L for a
/// consistency proof (a request per replay, on L's budget); now it is rejected as not
/// published by L, so the replayer is penalised, L is not asked, and L's later
/// checkpoints still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_old_checkpoint_costs_the_replayer_not_the_log() {
    let fed = Fed::init(3, "replay");
    let (n, l, a) = (&fed.specs[0], &fed.specs[1], &fed.specs[2]);
    let pl = spawn(l, &[n]);
    let pn = spawn(n, &[l, a]);
    let ah = play_peer(a, &[n]).await;

    assert_eq!(submit(&pl, "replay", 1).await, 1);
    wait_held(&ah, n, l, 1, "N to hold L's checkpoint 1").await;
    // The old checkpoint with only the log's signature (so not known to be N's own).
    let (_, old) = pl.get("/checkpoint").unwrap();
    let old = String::from_utf8(old).unwrap();
    let (body, sigs) = old.split_once("\n\n").unwrap();
    let log_line = sigs
        .lines()
        .find(|s| s.starts_with(&format!("\u{2014} {} ", l.origin)))
        .unwrap();
    let bare = format!("{body}\n\n{log_line}\n");
    assert_eq!(submit(&pl, "replay", 2).await, 2);
    assert_eq!(submit(&pl, "replay", 3).await, 3);
    wait_held(&ah, n, l, 3, "N to hold L's checkpoint 3").await;

    let rejected = metric(&pn, "quorate_gossip_rejected_total");
    let proofs = metric(&pn, "quorate_gossip_proof_requests_total");
    publish_retrying(
        &ah,
        &GossipMessage::Checkpoint {
            origin: l.origin.clone(),
            note: bare.into_bytes(),
        },
    )
    .await;
    let mut now = rejected;
    for _ in 0..200 {
        now = metric(&pn, "quorate_gossip_rejected_total");
        if now > rejected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(now, rejected + 1, "the replay was not rejected");
    assert_eq!(
        metric(&pn, "quorate_gossip_proof_requests_total"),
        proofs,
        "the replay cost the log a proof request"
    );
    // L's later checkpoints still flow.
    assert_eq!(submit(&pl, "replay", 4).await, 4);
    wait_held(&ah, n, l, 4, "N to hold L's checkpoint 4").await;
    ah.shutdown().await;
}
