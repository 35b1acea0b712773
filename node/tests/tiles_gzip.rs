//! Entry bundles over a real socket: gzip when `Accept-Encoding` allows (C2SP tlog-tiles
//! SHOULD), identity otherwise, the same bytes either way; cache headers per tile kind.

mod common;

use std::io::Read as _;

use common::*;

/// GET on a raw socket: bodies arrive exactly as sent (no client-side decoding).
fn get_with(
    addr: std::net::SocketAddr,
    path: &str,
    accept: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
    let r = request_with(addr, "GET", path, None, &headers, b"").unwrap();
    (r.status, r.headers, r.body)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn entry_bundles_are_gzipped_on_request() {
    let log = Log::init();
    let k = reviewer_key(5);
    log.add_reviewer(&k);
    let node = log.start(None);
    let envs: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            envelope(
                &k,
                &format!("gz-{i}"),
                "1.0.0",
                "the same notes compress well",
            )
        })
        .collect();
    let r = post(node.addr, "application/x-quorate-batch", &batch_body(&envs));
    assert!(r.status == 200 || r.status == 201, "{}", r.text());

    let path = "/tile/entries/000.p/20";
    let (s, h, plain) = get_with(node.addr, path, None);
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-encoding"), None);
    assert_eq!(header(&h, "vary"), Some("Accept-Encoding"));
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=60"));

    let (s, h, gz) = get_with(node.addr, path, Some("gzip, identity"));
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert!(gz.len() < plain.len(), "{} >= {}", gz.len(), plain.len());
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain);

    // Refused with q=0: identity.
    let (_, h, body) = get_with(node.addr, path, Some("gzip;q=0, identity"));
    assert_eq!(header(&h, "content-encoding"), None);
    assert_eq!(body, plain);
    // Hash tiles are not compressed (random bytes); partial ones are cached briefly.
    let (_, h, _) = get_with(node.addr, "/tile/0/000.p/20", Some("gzip"));
    assert_eq!(header(&h, "content-encoding"), None);
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=60"));
}

/// A full bundle of larger entries is streamed in several chunks (each cut at
/// `ENTRY_STREAM_BYTES`): identity and gzip bodies both carry every entry, in order.
#[test]
fn a_bundle_streamed_in_several_chunks_is_whole_either_way() {
    let log = Log::init();
    let k = reviewer_key(6);
    log.add_reviewer(&k);
    let node = log.start(None);
    let notes = "Read every file; no unsafe code. ".repeat(30);
    let envs: Vec<Vec<u8>> = (0..256)
        .map(|i| envelope(&k, &format!("chunked-{i}"), "1.0.0", &notes))
        .collect();
    let total: usize = envs.iter().map(|e| e.len() + 2).sum();
    assert!(
        total > 3 * quorate_node::api::ENTRY_STREAM_BYTES,
        "only {total} bytes: not several chunks"
    );
    let r = post(node.addr, "application/x-quorate-batch", &batch_body(&envs));
    assert!(r.status == 200 || r.status == 201, "{}", r.text());

    let (s, _, plain) = get_with(node.addr, "/tile/entries/000", None);
    assert_eq!(s, 200);
    let want: Vec<u8> = envs
        .iter()
        .flat_map(|e| {
            let mut b = (e.len() as u16).to_be_bytes().to_vec();
            b.extend_from_slice(e);
            b
        })
        .collect();
    assert_eq!(plain.len(), want.len());
    assert!(
        plain == want,
        "the bundle differs from the entries in order"
    );

    let (s, h, gz) = get_with(node.addr, "/tile/entries/000", Some("gzip"));
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .unwrap();
    assert!(
        out == want,
        "the gzip body differs from the entries in order"
    );
}
