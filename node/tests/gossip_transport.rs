//! Loopback tests of the gossip transport: delivery, fetch, allow-list, hostile input,
//! scoring and reconnection.

mod gossip_support;

use std::time::Duration;

use gossip_support::*;
use quorate_node::gossip::{
    Gossip, GossipConfig, GossipError, GossipMessage, RateLimit, Request, Response, Validation,
    WireLimits,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_delivers_and_fetches() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut nodes = start_full_mesh(4, test_limits()).await;
        let handles: Vec<_> = nodes.iter().map(|n| n.handle.clone()).collect();
        wait_topic_peers(&handles.iter().collect::<Vec<_>>(), 3).await;

        // A checkpoint published by node 0 reaches every other node, verified.
        let msg = checkpoint_msg(0, 5);
        nodes[0].handle.publish(&msg).await.unwrap();
        for n in &mut nodes[1..] {
            let d = n.next_delivered(T).await.expect("delivered");
            assert_eq!(d.msg, msg);
            assert_eq!(d.verdict, Validation::Accept);
        }
        // Equivocation evidence too.
        let ev = GossipMessage::Equivocation {
            evidence: b"quorate-equivocation/v1\ncheckpoint AA==\ncheckpoint AA==\n".to_vec(),
        };
        nodes[2].handle.publish(&ev).await.unwrap();
        for n in nodes.iter_mut().filter(|n| n.index != 2) {
            assert_eq!(n.next_delivered(T).await.expect("delivered").msg, ev);
        }
        // Publishing the same content again is refused locally as a duplicate.
        assert!(matches!(
            nodes[0].handle.publish(&msg).await,
            Err(GossipError::Duplicate)
        ));

        // Request-response round trips; node 0's glue answers.
        let p0 = nodes[0].peer_id();
        let h1 = &nodes[1].handle;
        let r = h1
            .request(p0, Request::Checkpoint { origin: origin(0) })
            .await
            .unwrap();
        assert_eq!(r, Response::Checkpoint(checkpoint_note(0, 10)));
        let r = h1
            .request(p0, Request::Checkpoint { origin: origin(3) })
            .await
            .unwrap();
        assert!(matches!(r, Response::Error { code: 404, .. }));
        let r = h1
            .request(
                p0,
                Request::ConsistencyProof {
                    origin: origin(0),
                    old: 3,
                    new: 7,
                },
            )
            .await
            .unwrap();
        assert_eq!(r, Response::Proof(vec![[3; 32], [7; 32]]));
        let cosign = |old_size| Request::Cosign {
            origin: origin(1),
            old_size,
            proof: vec![[1; 32]],
            note: checkpoint_note(1, 12),
        };
        assert_eq!(
            h1.request(p0, cosign(10)).await.unwrap(),
            Response::Cosigned("\u{2014} witness0 AAAA\n".as_bytes().to_vec())
        );
        assert_eq!(
            h1.request(p0, cosign(4)).await.unwrap(),
            Response::Conflict { size: 10 }
        );
        assert_eq!(
            h1.request(p0, Request::Equivocations).await.unwrap(),
            Response::Evidence(vec![])
        );
        // Unconfigured peers are not contacted.
        let stranger = keypair(7).public().to_peer_id();
        assert!(matches!(
            h1.request(stranger, Request::Equivocations).await,
            Err(GossipError::UnknownPeer(_))
        ));
        let m0 = nodes[0].handle.metrics();
        assert_eq!(m0.requests_received, 6);
        assert_eq!(m0.gossip_published, 1);

        for n in nodes {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

/// A — B — C, where A and C are not peers: C only gets A's message after B accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_only_after_acceptance() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let ports = [free_port(), free_port(), free_port()];
        let l = test_limits();
        let mut a = start_node(
            0,
            ports[0],
            vec![peer_info(1, ports[1])],
            l.clone(),
            Policy::Verify,
        )
        .await;
        let b_peers = vec![peer_info(0, ports[0]), peer_info(2, ports[2])];
        let mut b = start_node(1, ports[1], b_peers, l.clone(), Policy::Verify).await;
        let mut c = start_node(2, ports[2], vec![peer_info(1, ports[1])], l, Policy::Verify).await;
        wait_topic_peers(&[&a.handle, &c.handle], 1).await;
        wait_topic_peers(&[&b.handle], 2).await;
        // Give the mesh a few heartbeats to graft.
        tokio::time::sleep(Duration::from_millis(800)).await;

        // An unknown origin: B ignores it, so C never sees it.
        let unknown = GossipMessage::Checkpoint {
            origin: "example.org/unknown".into(),
            note: b"example.org/unknown\n1\nAAAA\n\n".to_vec(),
        };
        a.handle.publish(&unknown).await.unwrap();
        assert_eq!(
            b.next_delivered(T).await.unwrap().verdict,
            Validation::Ignore
        );
        assert!(
            c.next_delivered(Duration::from_millis(1500))
                .await
                .is_none()
        );

        // A valid checkpoint: B accepts and forwards; C receives it from B.
        let msg = checkpoint_msg(0, 1);
        a.handle.publish(&msg).await.unwrap();
        assert_eq!(
            b.next_delivered(T).await.unwrap().verdict,
            Validation::Accept
        );
        let d = c.next_delivered(T).await.expect("relayed");
        assert_eq!(d.msg, msg);
        assert_eq!(d.source, b.peer_id());
        assert!(a.next_delivered(Duration::from_millis(300)).await.is_none());

        for n in [a, b, c] {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_node_is_refused() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let ports = [free_port(), free_port(), free_port()];
        let l = test_limits();
        let mut a = start_node(
            0,
            ports[0],
            vec![peer_info(1, ports[1])],
            l.clone(),
            Policy::Verify,
        )
        .await;
        let mut b = start_node(
            1,
            ports[1],
            vec![peer_info(0, ports[0])],
            l.clone(),
            Policy::Verify,
        )
        .await;
        // The outsider knows A's and B's identities and addresses, but they don't know it.
        let x_peers = vec![peer_info(0, ports[0]), peer_info(1, ports[1])];
        let x = start_node(5, ports[2], x_peers, l, Policy::Verify).await;
        wait_topic_peers(&[&a.handle, &b.handle], 1).await;
        wait_for(T, || async { a.handle.metrics().connections_denied >= 1 }).await;
        wait_for(T, || async { b.handle.metrics().connections_denied >= 1 }).await;

        // X never holds a connection: publishing finds nobody, requests fail.
        for _ in 0..5 {
            let peers = x.handle.connected_peers().await.unwrap();
            assert!(peers.is_empty(), "outsider connected to {peers:?}");
            assert!(matches!(
                x.handle.publish(&checkpoint_msg(5, 1)).await,
                Err(GossipError::NoPeers)
            ));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            x.handle
                .request(a.peer_id(), Request::Equivocations)
                .await
                .is_err()
        );
        let a_peers = a.handle.connected_peers().await.unwrap();
        assert_eq!(a_peers, vec![b.peer_id()]);
        assert!(a.next_delivered(Duration::from_millis(300)).await.is_none());
        assert!(b.next_delivered(Duration::from_millis(10)).await.is_none());
        assert_eq!(a.requests.load(std::sync::atomic::Ordering::Relaxed), 0);

        // The federation itself still works.
        a.handle.publish(&checkpoint_msg(0, 2)).await.unwrap();
        assert!(b.next_delivered(T).await.is_some());

        for n in [a, b, x] {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_gossip_is_dropped_and_sender_graylisted() {
    tokio::time::timeout(Duration::from_secs(90), async {
        // A (honest, verifies), H (honest peer of A), M and M2 (misbehaving peers of A,
        // whose own limits are raised so they can send what A's limits forbid).
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let (ia, ih, im, im2) = (0, 1, 2, 3);
        let l = test_limits();
        let big = quorate_node::gossip::GossipLimits {
            wire: WireLimits {
                max_note_bytes: 2 << 20,
                max_evidence_bytes: 2 << 20,
                ..WireLimits::default()
            },
            ..test_limits()
        };
        let a_peers = vec![
            peer_info(ih, ports[1]),
            peer_info(im, ports[2]),
            peer_info(im2, ports[3]),
        ];
        let mut a = start_node(ia, ports[0], a_peers, l.clone(), Policy::Verify).await;
        let mut h = start_node(
            ih,
            ports[1],
            vec![peer_info(ia, ports[0])],
            l,
            Policy::Verify,
        )
        .await;
        let m = start_node(
            im,
            ports[2],
            vec![peer_info(ia, ports[0])],
            big.clone(),
            Policy::IgnoreAll,
        )
        .await;
        let m2 = start_node(
            im2,
            ports[3],
            vec![peer_info(ia, ports[0])],
            big,
            Policy::IgnoreAll,
        )
        .await;
        wait_topic_peers(&[&a.handle], 3).await;
        wait_topic_peers(&[&h.handle, &m.handle, &m2.handle], 1).await;
        let (pm, pm2) = (m.peer_id(), m2.peer_id());

        // Replay: M publishes, then M2 publishes identical bytes. Message ids include the
        // author (the node's verdict depends on who published: only a log publishes its
        // own checkpoints), so M2's copy is a message of its own, delivered once for the
        // node to judge; M's copy, forwarded, is not delivered again.
        let msg = checkpoint_msg(ih, 3);
        publish_when_meshed(&m.handle, &msg).await.unwrap();
        let d = a.next_delivered(T).await.expect("first copy");
        assert_eq!(d.msg, msg);
        publish_when_meshed(&m2.handle, &msg).await.unwrap();
        let d2 = a.next_delivered(T).await.expect("M2's copy");
        assert_eq!((d2.msg, d2.source), (msg.clone(), pm2));
        // And M publishing it again is a local duplicate.
        assert!(matches!(
            m.handle.publish(&msg).await,
            Err(GossipError::Duplicate)
        ));
        assert!(
            a.next_delivered(Duration::from_millis(1000))
                .await
                .is_none()
        );

        // Garbage (not the wire format) and a note over A's 64 KiB note cap that still
        // fits gossipsub's frame limit: rejected by the transport, never delivered.
        m2.handle
            .publish_raw(b"\x00garbage".to_vec())
            .await
            .unwrap();
        let mid = GossipMessage::Checkpoint {
            origin: origin(im2),
            note: {
                let mut n = checkpoint_note(im2, 5);
                n.extend(std::iter::repeat_n(b'x', 100 * 1024));
                n
            },
        };
        m2.handle.publish(&mid).await.unwrap();
        wait_for(T, || async {
            a.handle.metrics().gossip_rejected_decode >= 2
        })
        .await;
        assert!(a.next_delivered(Duration::from_millis(300)).await.is_none());

        // Oversized: a 1 MiB payload is over A's gossipsub frame limit. A drops the
        // inbound stream without reading the body (M2's own stream to A stalls; A is
        // unaffected) and nothing reaches its glue.
        let before = a.handle.metrics();
        let huge = GossipMessage::Checkpoint {
            origin: origin(im2),
            note: {
                let mut n = checkpoint_note(im2, 4);
                n.extend(std::iter::repeat_n(b'x', 1 << 20));
                n
            },
        };
        m2.handle.publish(&huge).await.unwrap();
        assert!(
            a.next_delivered(Duration::from_millis(1000))
                .await
                .is_none()
        );
        assert_eq!(a.handle.metrics().gossip_delivered, before.gossip_delivered);

        // M sends forged checkpoints, which A's glue rejects; M's score falls below the
        // graylist threshold.
        let graylist = test_limits().thresholds.graylist_threshold;
        let mut judged = 0;
        for size in 100..106 {
            m.handle
                .publish(&GossipMessage::Checkpoint {
                    origin: origin(ih),
                    note: forged_note(ih, size),
                })
                .await
                .unwrap();
            // Once graylisted, M's messages stop reaching the glue at all.
            if let Some(d) = a.next_delivered(Duration::from_millis(1500)).await {
                assert_eq!(d.verdict, Validation::Reject);
                assert_eq!(d.source, pm);
                judged += 1;
            }
        }
        println!("forgeries judged before graylisting: {judged} of 6");
        assert!((3..6).contains(&judged), "judged {judged}");
        wait_for(T, || async {
            a.handle.peer_score(pm).await.unwrap().unwrap_or(0.0) < graylist
        })
        .await;
        let score_m = a.handle.peer_score(pm).await.unwrap().unwrap();
        let score_h = a.handle.peer_score(h.peer_id()).await.unwrap().unwrap();
        println!(
            "scores: M {score_m:.1}, H {score_h:.1}, M2 {:?}",
            a.handle.peer_score(pm2).await.unwrap()
        );
        assert!(score_h >= 0.0);

        // Graylisted: even a valid message from M is no longer processed, while H's are.
        m.handle.publish(&checkpoint_msg(ih, 50)).await.unwrap();
        h.handle.publish(&checkpoint_msg(ih, 51)).await.unwrap();
        let d = a.next_delivered(T).await.expect("H's message");
        assert_eq!(d.source, h.peer_id());
        assert!(
            a.next_delivered(Duration::from_millis(1500))
                .await
                .is_none()
        );
        // H got what A accepted and relayed, and none of the junk or forgeries.
        while let Some(d) = h.next_delivered(Duration::from_millis(100)).await {
            assert_eq!(d.verdict, Validation::Accept, "{:?}", d.msg);
        }

        let mt = a.handle.metrics();
        println!("A metrics: {mt:?}");
        assert_eq!(mt.gossip_validation_reject, judged);
        for n in [a, h, m, m2] {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_requests_are_rate_limited() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let ports = [free_port(), free_port()];
        let mut l = test_limits();
        l.inbound_requests = RateLimit {
            burst: 3,
            per_second: 0.5,
        };
        let a = start_node(
            0,
            ports[0],
            vec![peer_info(1, ports[1])],
            l.clone(),
            Policy::Verify,
        )
        .await;
        let b = start_node(1, ports[1], vec![peer_info(0, ports[0])], l, Policy::Verify).await;
        wait_for(T, || async {
            !b.handle.connected_peers().await.unwrap().is_empty()
        })
        .await;
        let mut codes = Vec::new();
        for _ in 0..6 {
            let r = b
                .handle
                .request(a.peer_id(), Request::Equivocations)
                .await
                .unwrap();
            codes.push(match r {
                Response::Evidence(_) => 200,
                Response::Error { code, .. } => code,
                other => panic!("unexpected {other:?}"),
            });
        }
        assert_eq!(codes, [200, 200, 200, 429, 429, 429]);
        assert_eq!(a.handle.metrics().requests_rate_limited, 3);
        assert_eq!(a.requests.load(std::sync::atomic::Ordering::Relaxed), 3);
        for n in [a, b] {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_peer_rejoins() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut nodes = start_full_mesh(3, test_limits()).await;
        let handles: Vec<_> = nodes.iter().map(|n| n.handle.clone()).collect();
        wait_topic_peers(&handles.iter().collect::<Vec<_>>(), 2).await;

        let stopped = nodes.pop().unwrap();
        let (port, p2) = (stopped.port, stopped.peer_id());
        stopped.shutdown().await;
        wait_for(T, || async {
            !nodes[0]
                .handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&p2)
        })
        .await;

        // While node 2 is down, the others carry on.
        nodes[0]
            .handle
            .publish(&checkpoint_msg(0, 1))
            .await
            .unwrap();
        assert!(nodes[1].next_delivered(T).await.is_some());

        // Node 2 comes back on the same address with the same key; nobody is told.
        let peers = vec![peer_info(0, nodes[0].port), peer_info(1, nodes[1].port)];
        let mut back = start_node(2, port, peers, test_limits(), Policy::Verify).await;
        wait_topic_peers(&[&nodes[0].handle, &nodes[1].handle], 2).await;
        let msg = checkpoint_msg(0, 2);
        nodes[0].handle.publish(&msg).await.unwrap();
        assert_eq!(
            back.next_delivered(T).await.expect("after restart").msg,
            msg
        );
        assert!(nodes[0].handle.metrics().dials >= 2);

        back.shutdown().await;
        for n in nodes {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

/// A node that stops reading its events: the transport drops (and counts) what does not
/// fit the bounded channel instead of buffering, and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_drops_and_counts() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let ports = [free_port(), free_port()];
        let a = start_node(
            0,
            ports[0],
            vec![peer_info(1, ports[1])],
            test_limits(),
            Policy::Verify,
        )
        .await;
        let mut limits = test_limits();
        limits.event_channel = 4;
        let config = GossipConfig {
            listen: addr(ports[1]),
            peers: vec![peer_info(0, ports[0])],
            limits,
        };
        let (slow, mut events) = Gossip::start(config, keypair(1)).await.unwrap();
        wait_topic_peers(&[&a.handle, &slow], 1).await;
        for size in 0..20 {
            a.handle.publish(&checkpoint_msg(0, size)).await.unwrap();
        }
        wait_for(T, || async { slow.metrics().gossip_received == 20 }).await;
        let m = slow.metrics();
        // At most 4 fit (one slot usually holds the PeerConnected event).
        assert!(m.gossip_delivered <= 4, "{m:?}");
        assert_eq!(m.gossip_delivered + m.gossip_dropped_channel_full, 20);
        // Requests are answered 503 while the node is behind.
        let r = a
            .handle
            .request(slow.local_peer_id(), Request::Equivocations)
            .await
            .unwrap();
        assert!(matches!(r, Response::Error { code: 503, .. }), "{r:?}");
        // Once the node catches up, traffic flows again.
        while events.try_recv().is_ok() {}
        a.handle.publish(&checkpoint_msg(0, 99)).await.unwrap();
        let ev = tokio::time::timeout(T, events.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(
            ev,
            quorate_node::gossip::GossipEvent::Message { .. }
        ));
        slow.shutdown().await;
        a.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// R's rate limit for A is spent on junk, then A relays O's message M before D (a slow
/// but honest relayer) does. Before, A's copy was dropped as rate-limited after
/// gossipsub had cached M's id, so D's copy was a "duplicate" and R never saw M for the
/// whole duplicate-cache period. Now A is paused as soon as its bucket runs dry, its
/// copy is dropped before the cache, and D's copy gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_copy_does_not_block_the_honest_copy() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (ir, ia, io, id) = (0, 1, 2, 3);
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let tight = quorate_node::gossip::GossipLimits {
            inbound_gossip: RateLimit {
                burst: 2,
                per_second: 0.2,
            },
            ..test_limits()
        };
        let p = |i: usize| peer_info(i, ports[i]);
        let mut r = start_node(ir, ports[ir], vec![p(ia), p(id)], tight, Policy::Verify).await;
        let a = start_node(
            ia,
            ports[ia],
            vec![p(ir), p(io)],
            test_limits(),
            Policy::Verify,
        )
        .await;
        let o = start_node(
            io,
            ports[io],
            vec![p(ia), p(id)],
            test_limits(),
            Policy::Verify,
        )
        .await;
        let slow = Policy::SlowVerify(Duration::from_millis(600));
        let d = start_node(id, ports[id], vec![p(io), p(ir)], test_limits(), slow).await;
        wait_topic_peers(&[&r.handle, &a.handle, &o.handle, &d.handle], 2).await;

        // A spends its two tokens at R on messages R ignores.
        for k in 0..2 {
            let origin = format!("unknown.example/{k}");
            let junk = GossipMessage::Checkpoint {
                note: format!("{origin}\n1\n").into_bytes(),
                origin,
            };
            publish_when_meshed(&a.handle, &junk).await.unwrap();
            let got = r.next_delivered(T).await.expect("junk delivered");
            assert_eq!(got.verdict, Validation::Ignore);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        // O publishes M; A relays it at once, D only after 600 ms.
        let m = checkpoint_msg(io, 7);
        publish_when_meshed(&o.handle, &m).await.unwrap();
        let got = r
            .next_delivered(Duration::from_secs(10))
            .await
            .expect("M reached R through the honest relayer");
        assert_eq!((got.msg, got.source), (m, d.peer_id()));
        let metrics = r.handle.metrics();
        assert_eq!(metrics.gossip_dropped_rate_limited, 0, "{metrics:?}");
        assert!(metrics.gossip_peer_paused >= 1, "{metrics:?}");
        for n in [r, a, o, d] {
            n.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}
