//! Counters for `/metrics` and the per-peer token bucket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Live counters, shared between the swarm task and every handle.
        #[derive(Debug, Default)]
        pub struct GossipMetrics {
            $( $(#[$doc])* pub $name: AtomicU64, )*
        }

        /// A point-in-time copy of [`GossipMetrics`].
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct MetricsSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl GossipMetrics {
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }

        impl MetricsSnapshot {
            /// `(name, value)` pairs, for rendering as `quorate_gossip_<name>`.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [ $( (stringify!($name), self.$name), )* ].into_iter()
            }
        }
    };
}

counters! {
    /// Gossip messages received from peers (after gossipsub's own checks and dedup).
    gossip_received,
    /// Gossip messages handed to the node.
    gossip_delivered,
    /// Gossip messages that did not decode (garbage, oversized, wrong shape); rejected.
    gossip_rejected_decode,
    /// Gossip messages dropped because the event channel was full; ignored, not penalised.
    gossip_dropped_channel_full,
    /// Gossip messages dropped by the per-peer rate limit after gossipsub cached their id;
    /// ignored, not penalised. Stays 0 while pausing works (see `gossip_peer_paused`).
    gossip_dropped_rate_limited,
    /// Times a peer ran out of gossip tokens and was paused (its messages dropped before
    /// deduplication, not penalised) until a token was back.
    gossip_peer_paused,
    /// Validation results reported by the node.
    gossip_validation_accept,
    gossip_validation_reject,
    gossip_validation_ignore,
    /// Messages this node published.
    gossip_published,
    /// Publications that failed (no peers, duplicate, too large).
    gossip_publish_failed,
    /// Inbound requests that decoded.
    requests_received,
    /// Inbound requests answered 429 by the per-peer rate limit.
    requests_rate_limited,
    /// Inbound requests answered 503 because the node was not keeping up.
    requests_dropped_overloaded,
    /// Inbound requests the node did not answer in time (504) or dropped the reply for.
    requests_unanswered,
    /// Inbound request streams that failed (garbage, oversized, timeouts, closed).
    requests_inbound_failed,
    /// Outbound requests sent and failed.
    requests_sent,
    requests_failed,
    /// Connections refused because the peer is not configured.
    connections_denied,
    /// Connections established and closed.
    connections_established,
    connections_closed,
    /// Dial attempts to configured peers.
    dials,
    /// Events dropped because the event channel was full.
    events_dropped,
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(limit: &RateLimit, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    /// Takes a token if one is available.
    pub(crate) fn take(&mut self, limit: &RateLimit, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() * limit.per_second).min(f64::from(limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Bucket {
    /// How long until a token is available (zero if one is); at most an hour, so a zero
    /// refill rate still ends a pause.
    pub(crate) fn until_next(&self, limit: &RateLimit, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let have = (self.tokens + elapsed * limit.per_second).min(f64::from(limit.burst));
        if have >= 1.0 {
            return Duration::ZERO;
        }
        let secs = if limit.per_second > 0.0 {
            ((1.0 - have) / limit.per_second).min(3600.0)
        } else {
            3600.0
        };
        Duration::from_secs_f64(secs)
    }
}

/// Exponential redial backoff for one configured peer.
#[derive(Debug)]
pub(crate) struct Backoff {
    pub(crate) next_attempt: Instant,
    pub(crate) delay: Duration,
}

impl Backoff {
    pub(crate) fn new(now: Instant, min: Duration) -> Backoff {
        Backoff {
            next_attempt: now,
            delay: min,
        }
    }

    pub(crate) fn failed(&mut self, now: Instant, max: Duration) {
        self.next_attempt = now + self.delay;
        self.delay = (self.delay * 2).min(max);
    }

    pub(crate) fn reset(&mut self, now: Instant, min: Duration) {
        self.delay = min;
        self.next_attempt = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills() {
        let l = RateLimit {
            burst: 2,
            per_second: 10.0,
        };
        let t0 = Instant::now();
        let mut b = Bucket::new(&l, t0);
        assert!(b.take(&l, t0));
        assert!(b.take(&l, t0));
        assert!(!b.take(&l, t0));
        assert!(b.take(&l, t0 + Duration::from_millis(110)));
        assert!(!b.take(&l, t0 + Duration::from_millis(110)));
        let t1 = t0 + Duration::from_millis(110);
        let wait = b.until_next(&l, t1);
        assert!(wait > Duration::from_millis(80) && wait <= Duration::from_millis(100));
        assert!(b.until_next(&l, t1 + wait).is_zero());
    }

    #[test]
    fn snapshot_names() {
        let m = GossipMetrics::default();
        inc(&m.dials);
        let s = m.snapshot();
        assert_eq!(s.dials, 1);
        assert!(s.iter().any(|(n, v)| n == "dials" && v == 1));
    }
}
