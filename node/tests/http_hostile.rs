//! The node's HTTP face against hostile clients, on a real `quorate-node serve`: metrics
//! labels clients cannot mint, half-open and idle connections that are closed, a
//! connection cap, entry tiles streamed in bounded memory, and paged review lookups.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use quorate_proto::attestation;

/// Reads until the server closes the connection; panics if it stays open for `limit`.
fn assert_closed_by_server(s: &mut TcpStream, limit: Duration, what: &str) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue, // e.g. a 408 before the close
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) => panic!("{what}: still open after {limit:?} ({e})"),
        }
    }
}

#[test]
fn unknown_methods_share_one_metrics_label() {
    let log = Log::init();
    let node = log.start(None);
    let long = "X".repeat(4000);
    for i in 0..200 {
        let method = format!("QUORATE{i}{long}");
        let r = request(node.addr, &method, "/healthz", None, b"").unwrap();
        assert!(r.status >= 400, "{}", r.status);
    }
    let text = get(node.addr, "/metrics").text();
    assert!(
        !text.contains("QUORATE"),
        "a client-chosen method became a metrics label"
    );
    let other: u64 = text
        .lines()
        .filter(|l| l.starts_with("quorate_http_requests_total{method=\"OTHER\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(other, 200, "{text}");
    println!(
        "200 requests with distinct 4 KB methods: /metrics is {} bytes, one OTHER label",
        text.len()
    );
}

#[test]
fn slowloris_connections_are_closed_and_the_node_still_serves() {
    let log = Log::init();
    let cfg = log.write_config("header_read_timeout_ms = 1500\n");
    let node = log.start(Some(&cfg));
    // 500 connections that start a request and never finish its head.
    let mut slow: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut s = TcpStream::connect(node.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // A connection that sends nothing at all, and one left idle after a request.
    let mut silent = TcpStream::connect(node.addr).unwrap();
    let mut idle = TcpStream::connect(node.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // A normal request is served while they are held.
    let r = get(node.addr, "/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");

    // And the server closes every one of them (the timer runs out; the test only
    // bounds how long it waits for that).
    for (i, s) in slow.iter_mut().enumerate() {
        assert_closed_by_server(s, Duration::from_secs(30), &format!("slow connection {i}"));
    }
    assert_closed_by_server(&mut silent, Duration::from_secs(30), "silent connection");
    assert_closed_by_server(
        &mut idle,
        Duration::from_secs(30),
        "idle keep-alive connection",
    );
    assert_eq!(get(node.addr, "/healthz").status, 200);
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let log = Log::init();
    let cfg = log.write_config("max_connections = 8\nheader_read_timeout_ms = 600000\n");
    let node = log.start(Some(&cfg));
    // Eight connections that say nothing take every slot (the accept queue is FIFO, so
    // they are accepted before the ninth).
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(node.addr).unwrap())
        .collect();
    let mut ninth = TcpStream::connect(node.addr).unwrap();
    ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    ninth
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 64];
    match ninth.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a connection beyond max_connections was served: {other:?}"),
    }
    // One slot frees: the ninth is served.
    drop(held);
    ninth
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    ninth.read_to_end(&mut raw).unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

/// An envelope of about 50 KB (notes, links and criteria at their limits).
fn big_envelope(k: &ed25519_dalek::SigningKey, i: usize) -> Vec<u8> {
    let mut a = attestation_for(k, "bulky", &format!("1.0.{i}"), &"n".repeat(16 * 1024));
    a.links = (0..16)
        .map(|j| format!("https://example.org/{j}/{}", "l".repeat(2000)))
        .collect();
    a.criteria = (0..32)
        .map(|j| format!("c{j}-{}", "x".repeat(58)))
        .collect();
    attestation::sign(&a, k).unwrap()
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

fn tile_request(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /tile/entries/000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    s
}

#[test]
fn entry_tiles_stream_in_bounded_memory_and_reviews_page() {
    let log = Log::init();
    let k = reviewer_key(7);
    log.add_reviewer(&k);
    let cfg = log.write_config("batch_delay_ms = 5\nheader_read_timeout_ms = 2000\n");
    let node = log.start(Some(&cfg));
    let envs: Vec<Vec<u8>> = (0..256).map(|i| big_envelope(&k, i)).collect();
    let tile_bytes: usize = envs.iter().map(|e| 2 + e.len()).sum();
    for batch in envs.chunks(64) {
        let r = post(node.addr, "application/x-quorate-batch", &batch_body(batch));
        assert_eq!(r.status, 201, "{}", r.text());
    }

    // The full tile is served whole and byte-exact.
    let whole = get(node.addr, "/tile/entries/000");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len(), tile_bytes);
    let records = quorate_proto::tile::decode_entry_bundle(&whole.body).unwrap();
    assert_eq!(records.len(), 256);
    assert!(records.iter().zip(&envs).all(|(r, e)| r == e));

    // 40 clients ask for it and read (almost) nothing: the node must not hold 40 bundles.
    let pid = node.child.id();
    let before = vm_kib(pid, "VmHWM:");
    let mut slow: Vec<TcpStream> = (0..40).map(|_| tile_request(node.addr)).collect();
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
    }
    // Ask the node for its health as well: every handler above has run by the time this
    // answers on a fresh connection, and the figures below include their buffers.
    assert_eq!(get(node.addr, "/healthz").status, 200);
    let after = vm_kib(pid, "VmHWM:");
    let grew_mib = after.saturating_sub(before) / 1024;
    let whole_mib = (40 * tile_bytes / (1 << 20)) as u64;
    println!(
        "40 stalled readers of a {} KiB entry tile: peak RSS grew {grew_mib} MiB \
         (all 40 bundles held would be {whole_mib} MiB)",
        tile_bytes / 1024
    );
    assert!(
        grew_mib < whole_mib / 4,
        "peak RSS grew {grew_mib} MiB for 40 stalled entry-tile readers"
    );
    // A reader that accepts nothing for longer than the 2 s timeout is disconnected: after
    // waiting past it, what the client can still read is less than the tile.
    std::thread::sleep(Duration::from_secs(5));
    let mut got = 12usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match slow[0].read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("stalled reader not disconnected: {e} after {got} bytes"),
        }
    }
    assert!(
        got < tile_bytes,
        "a reader that stalled past the timeout still got the whole tile ({got} bytes)"
    );
    println!("stalled reader disconnected after {got} of {tile_bytes} bytes");
    drop(slow);
}

#[test]
fn reviews_and_bundles_page() {
    let log = Log::init();
    let k = reviewer_key(8);
    log.add_reviewer(&k);
    let cfg = log.write_config("batch_delay_ms = 5\n");
    let node = log.start(Some(&cfg));
    // 230 reviews of one release, one of another.
    let mut envs: Vec<Vec<u8>> = (0..230)
        .map(|i| envelope(&k, "paged", "1.0.0", &format!("review {i}")))
        .collect();
    envs.insert(100, envelope(&k, "other", "1.0.0", "x"));
    let r = post(node.addr, "application/x-quorate-batch", &batch_body(&envs));
    assert_eq!(r.status, 201, "{}", r.text());

    let path = "/v1/reviews/cargo/paged/1.0.0";
    // Default: the first 100, with `next` to continue; every proof is against the page's
    // checkpoint.
    let mut seen = Vec::new();
    let mut url = path.to_string();
    let mut pages = 0;
    loop {
        let j = get(node.addr, &url).json();
        let note = j["checkpoint"].as_str().unwrap();
        let entries = j["entries"].as_array().unwrap();
        assert!(entries.len() <= 100, "{}", entries.len());
        for e in entries {
            let idx = e["index"].as_u64().unwrap();
            let data = b64d(e["envelope"].as_str().unwrap());
            let leaf = quorate_proto::merkle::leaf_hash(&data);
            check_inclusion(&log, note, idx, &leaf, &hashes(&e["inclusion_proof"]));
            seen.push(idx);
        }
        pages += 1;
        match j.get("next").and_then(|n| n.as_u64()) {
            Some(n) => url = format!("{path}?from={n}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<u64> = (0..231u64).filter(|&i| i != 100).collect();
    assert_eq!(seen, want, "pages must cover every entry once, in order");
    // `limit` up to 256 gets everything at once; the bundle endpoint pages the same way.
    let all = get(node.addr, &format!("{path}?limit=256")).json();
    assert_eq!(all["entries"].as_array().unwrap().len(), 230);
    assert!(all.get("next").is_none());
    let b = get(node.addr, "/v1/bundle/cargo/paged/1.0.0?from=200&limit=10").json();
    let idx: Vec<u64> = b["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, (200..210).collect::<Vec<u64>>());
    assert_eq!(b["next"], 210);
    for bad in ["?limit=0", "?limit=257", "?from=x", "?limit=-1"] {
        rejected(
            &get(node.addr, &format!("{path}{bad}")),
            400,
            "bad_parameter",
        );
    }
}
