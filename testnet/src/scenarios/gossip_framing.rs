//! `gossip-framing`: a hostile federation member frames the honest ones over gossip.
//!
//! XX is a configured peer of DE, FR and JP, played here by a libp2p transport with XX's
//! real identity (the node library's gossip code; XX's node never runs). It publishes
//! many variants of FR's real checkpoint, each with a garbage signature line under DE's
//! witness name and key ID (before the fix: each a new message that FR and JP accepted
//! and relayed and DE rejected, so DE penalised its honest peers until it graylisted
//! them), then replays an old checkpoint of FR (before: each replay cost FR a
//! consistency-proof request from every node). Measured: how many messages each node
//! judged, who was penalised, proof requests sent to FR, and whether FR's next
//! checkpoint still reaches DE and JP.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use quorate_node::gossip::{
    Gossip, GossipConfig, GossipEvent, GossipHandle, GossipLimits, GossipMessage, PeerInfo,
    Request, Response, identity_from_skey,
};
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::NoteVerifier;

use super::{NOTE, Outcome, files_dir, ms, outcome, own_packages};
use crate::fed::{Bins, Fed, http_get, ok};

const VARIANTS: u8 = 40;

pub fn run(bins: &Bins) -> Result<Outcome> {
    let mut fed = Fed::create(None, &["DE", "FR", "JP", "XX"], bins.clone())?;
    for i in 0..3 {
        fed.start(i)?;
    }
    for i in 0..3 {
        fed.wait_cosigned(i, 2, 0, 60)?;
    }
    fed.say("DE, FR, JP up; XX is a configured peer of each, played by a hostile transport");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = rt.block_on(attack(&fed));
    drop(rt);
    r
}

fn peer_id_of(fed: &Fed, i: usize) -> Result<String> {
    fed.nodes[i]
        .inst
        .ident
        .lines()
        .find_map(|l| l.strip_prefix("peer_id = "))
        .map(|v| v.trim_matches('"').to_owned())
        .context("peer_id in `quorate-node id`")
}

fn peer_info(fed: &Fed, i: usize) -> Result<PeerInfo> {
    let inst = &fed.nodes[i].inst;
    let origin = format!("testnet.quorate.example/{}", inst.jurisdiction);
    let addr = format!("/ip4/{}/tcp/{}", inst.host, inst.p2p_port);
    Ok(PeerInfo::parse(&peer_id_of(fed, i)?, &addr, &origin)?)
}

/// Node `i`'s counter `name` from /metrics.
fn metric(fed: &Fed, i: usize, name: &str) -> u64 {
    http_get(&format!("{}/metrics", fed.url(i)))
        .ok()
        .and_then(|(_, body)| {
            body.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn metrics(fed: &Fed, name: &str) -> [u64; 3] {
    [0, 1, 2].map(|i| metric(fed, i, name))
}

fn delta(after: [u64; 3], before: [u64; 3]) -> [u64; 3] {
    [0, 1, 2].map(|i| after[i].saturating_sub(before[i]))
}

async fn publish(h: &GossipHandle, msg: &GossipMessage) -> Result<()> {
    for _ in 0..200 {
        if h.publish(msg).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the hostile transport could not publish")
}

/// The size of FR's checkpoint that node `peer` holds (asked over the fetch protocol).
async fn held(h: &GossipHandle, peer: &PeerInfo, fr_origin: &str) -> Option<u64> {
    let req = Request::Checkpoint {
        origin: fr_origin.to_owned(),
    };
    match h.request(peer.peer_id, req).await {
        Ok(Response::Checkpoint(note)) => {
            String::from_utf8(note).ok()?.lines().nth(1)?.parse().ok()
        }
        _ => None,
    }
}

fn submit_review(fed: &Fed, i: usize, pkg: usize) -> Result<()> {
    let (name, ver, sum) = own_packages().remove(pkg);
    let dir = files_dir(fed, "att")?;
    let f = fed.review(
        &fed.nodes[i].inst.reviewer_key,
        &name,
        &ver,
        &sum,
        NOTE,
        &dir,
    )?;
    ok(fed.submit(i, &[f])?, "submit")?;
    Ok(())
}

async fn attack(fed: &Fed) -> Result<Outcome> {
    let (de, fr, jp) = (peer_info(fed, 0)?, peer_info(fed, 1)?, peer_info(fed, 2)?);
    let fr_origin = fr.log_origin.clone();
    let xx = &fed.nodes[3].inst;
    let key = identity_from_skey(&quorate_node::datadir::DataDir::new(&xx.data).log_skey()?)?;
    // XX forgets its own publications after 50 ms, so it can publish variants that its
    // own (new) message ids would call duplicates.
    let limits = GossipLimits {
        heartbeat: Duration::from_millis(200),
        redial_min: Duration::from_millis(100),
        redial_max: Duration::from_millis(800),
        duplicate_cache_time: Duration::from_millis(50),
        ..GossipLimits::default()
    };
    let (h, mut events) = Gossip::start(
        GossipConfig {
            listen: format!("/ip4/{}/tcp/{}", xx.host, xx.p2p_port).parse()?,
            peers: vec![de.clone(), fr.clone(), jp.clone()],
            limits,
        },
        key,
    )
    .await?;
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let GossipEvent::Request { reply, .. } = ev {
                let _ = reply.send(Response::error(404, "nothing here"));
            }
        }
    });

    // FR's checkpoint 1 is what XX replays later; checkpoint 2 the base of its variants.
    submit_review(fed, 1, 0)?;
    fed.wait_cosigned(1, 2, 1, 30)?;
    let (_, old) = http_get(&format!("{}/checkpoint", fed.url(1)))?;
    submit_review(fed, 1, 1)?;
    fed.wait_cosigned(1, 2, 2, 30)?;
    let (_, cur) = http_get(&format!("{}/checkpoint", fed.url(1)))?;
    let (body, sigs) = old.split_once("\n\n").context("FR's checkpoint")?;
    let log_line = sigs
        .lines()
        .find(|l| l.starts_with(&format!("\u{2014} {fr_origin} ")))
        .context("FR's signature line")?;
    let bare_old = format!("{body}\n\n{log_line}\n");

    // Replay of FR's old checkpoint, bare (so no node knows it as its own cosigned one).
    let rejected1 = metrics(fed, "quorate_gossip_rejected_total");
    let proofs1 = metrics(fed, "quorate_gossip_proof_requests_total");
    publish(
        &h,
        &GossipMessage::Checkpoint {
            origin: fr_origin.clone(),
            note: bare_old.into_bytes(),
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replay_rejected = delta(metrics(fed, "quorate_gossip_rejected_total"), rejected1);
    let replay_proofs = delta(metrics(fed, "quorate_gossip_proof_requests_total"), proofs1);
    fed.say(format!(
        "XX replays FR's checkpoint 1 after 2: rejected {replay_rejected:?} at DE/FR/JP, \
         consistency proofs asked of FR {replay_proofs:?}"
    ));

    let dew = CosignatureVerifier::from_vkey(&fed.nodes[0].inst.witness_vkey)?;
    let rejected0 = metrics(fed, "quorate_gossip_rejected_total");
    for k in 0..VARIANTS {
        // Any other publication makes XX's router drop its expired ids (a checkpoint of
        // a log nobody follows, which every node ignores).
        tokio::time::sleep(Duration::from_millis(60)).await;
        let filler = format!("filler.example/{k}");
        publish(
            &h,
            &GossipMessage::Checkpoint {
                note: format!("{filler}\n1\n").into_bytes(),
                origin: filler,
            },
        )
        .await?;
        let mut raw = dew.key_id().to_be_bytes().to_vec();
        raw.extend_from_slice(&[k; 72]);
        let junk = format!(
            "\u{2014} {} {}\n",
            dew.name(),
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        publish(
            &h,
            &GossipMessage::Checkpoint {
                origin: fr_origin.clone(),
                note: format!("{cur}{junk}").into_bytes(),
            },
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // One message id for all the variants: each node judges (and rejects) it once, as
    // published by XX and not by FR; before, each variant was a new message.
    let junk_rejected = delta(metrics(fed, "quorate_gossip_rejected_total"), rejected0);
    fed.say(format!(
        "{VARIANTS} variants of FR's checkpoint 2 with a garbage line under DE's witness name: \
         rejected {junk_rejected:?} times at DE/FR/JP (XX alone penalised; honest nodes relay none)"
    ));

    // FR's next checkpoint still reaches DE and JP.
    let t = Instant::now();
    submit_review(fed, 1, 2)?;
    let mut reached = [false, false];
    while t.elapsed() < Duration::from_secs(15) && !reached.iter().all(|r| *r) {
        for (k, p) in [&de, &jp].into_iter().enumerate() {
            reached[k] = reached[k] || held(&h, p, &fr_origin).await >= Some(3);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let took = t.elapsed();
    h.shutdown().await;

    let pass = junk_rejected.iter().all(|&n| n == 1)
        && replay_rejected.iter().all(|&n| n == 1)
        && replay_proofs.iter().all(|&n| n == 0)
        && reached.iter().all(|r| *r);
    outcome(
        pass,
        format!(
            "{VARIANTS} junk-line variants judged as one message per node (rejected {}/{}/{} \
             at DE/FR/JP, no honest relayer penalised); old-checkpoint replay rejected at {}/3 \
             nodes with {} proof requests to FR; FR's next checkpoint reached DE and JP {} after \
             submission",
            junk_rejected[0],
            junk_rejected[1],
            junk_rejected[2],
            replay_rejected.iter().filter(|&&n| n == 1).count(),
            replay_proofs.iter().sum::<u64>(),
            if reached.iter().all(|r| *r) {
                ms(took)
            } else {
                "NOT (15 s)".into()
            }
        ),
    )
}
