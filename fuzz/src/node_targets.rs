//! Targets for what nodes and witnesses read from peers: tlog-witness `add-checkpoint`
//! bodies and the gossip / `/quorate/fetch/1` wire messages.

use quorate_node::gossip::wire::{GossipMessage, Request, Response, WireLimits};
use quorate_witness::AddCheckpointRequest;

/// tlog-witness `add-checkpoint` request bodies (the witness crate's parser).
pub fn witness_request(data: &[u8]) {
    if let Ok(r) = AddCheckpointRequest::parse(data) {
        // The format is strict: a parsed request has exactly these bytes.
        assert_eq!(r.to_bytes(), data);
    }
}

/// Limits small enough that fuzzed inputs hit every cap.
fn small_limits() -> WireLimits {
    WireLimits {
        max_note_bytes: 300,
        max_evidence_bytes: 400,
        max_evidence_items: 3,
        max_request_bytes: 500,
        max_response_bytes: 600,
    }
}

/// Gossip messages, fetch requests and fetch responses, under default and small limits.
/// Each value has exactly one encoding, so a decoded value re-encodes to the input.
pub fn gossip_wire(data: &[u8]) {
    for limits in [WireLimits::default(), small_limits()] {
        if let Ok(m) = GossipMessage::decode(data, &limits) {
            assert_eq!(m.encode(&limits).as_deref(), Ok(data));
        }
        if let Ok(r) = Request::decode(data, &limits) {
            assert_eq!(r.encode(&limits).as_deref(), Ok(data));
        }
        if let Ok(r) = Response::decode(data, &limits) {
            assert_eq!(r.encode(&limits).as_deref(), Ok(data));
        }
    }
}
