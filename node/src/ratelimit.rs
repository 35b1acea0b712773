//! Per-reviewer token-bucket rate limiting of submissions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by reviewer public key.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` sustained and `burst` at once, per key.
    pub fn new(config: RateLimitConfig) -> Self {
        RateLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Charges one token per key occurrence, all or nothing: if any key lacks tokens,
    /// nothing is charged and the wait until it would have them is returned.
    pub fn check(&self, keys: impl IntoIterator<Item = [u8; 32]>) -> Result<(), Duration> {
        let mut want: HashMap<[u8; 32], f64> = HashMap::new();
        for k in keys {
            *want.entry(k).or_default() += 1.0;
        }
        let now = Instant::now();
        let burst = f64::from(self.config.burst);
        let rate = self.config.per_second;
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        let mut longest = Duration::ZERO;
        let mut refreshed = Vec::with_capacity(want.len());
        for (k, n) in &want {
            let b = buckets.get(k).copied().unwrap_or(Bucket {
                tokens: burst,
                at: now,
            });
            let tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
            if tokens < *n {
                let wait = if *n > burst {
                    Duration::from_secs(u64::MAX / 4)
                } else {
                    // Saturate instead of panicking on a huge quotient.
                    Duration::try_from_secs_f64((*n - tokens) / rate)
                        .unwrap_or(Duration::from_secs(3600))
                };
                longest = longest.max(wait);
            }
            refreshed.push((*k, tokens - n));
        }
        if longest > Duration::ZERO {
            return Err(longest.min(Duration::from_secs(3600)));
        }
        if buckets.len() > 100_000 {
            // Bound memory: drop buckets that have refilled completely.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        for (k, tokens) in refreshed {
            buckets.insert(k, Bucket { tokens, at: now });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket() {
        let r = RateLimiter::new(RateLimitConfig {
            per_second: 1.0,
            burst: 3,
        });
        let k = [1u8; 32];
        assert!(r.check([k, k]).is_ok());
        assert!(r.check([k]).is_ok());
        assert!(r.check([k]).is_err());
        assert!(r.check([[2u8; 32]; 3]).is_ok());
        assert!(r.check([[3u8; 32]; 4]).is_err());
    }
}
