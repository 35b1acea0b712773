//! Liveness as an operator means it: `/healthz` fails when the log has neither signed a
//! checkpoint nor gathered a cosignature for longer than `healthz_max_age_ms` (as
//! Sunlight's health check fails when it stops sequencing).
//!
//! A node whose sequencer or witnesses are stuck still answers HTTP, so a plain "the
//! process is up" check would stay green while clients' `max-checkpoint-age` runs out.
//! With witnesses configured, their re-cosigning of an unchanged checkpoint every
//! `recosign_interval_ms` keeps an idle log fresh; a standalone log is fresh only while
//! entries arrive, so set the limit from the traffic you expect (or leave it unset).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What made the log fresh last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// The process started (the grace period of a fresh start).
    Started,
    /// The sequencer signed a checkpoint.
    Signed,
    /// A witness cosignature arrived for the current checkpoint.
    Cosigned,
}

impl Activity {
    fn as_str(self) -> &'static str {
        match self {
            Activity::Started => "node start",
            Activity::Signed => "checkpoint signed",
            Activity::Cosigned => "cosignature received",
        }
    }
}

/// The last signing or cosigning activity, and how old it may get.
#[derive(Debug)]
pub struct Freshness {
    max_age: Duration,
    last: Mutex<(Instant, Activity)>,
}

/// Why the node is not healthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no checkpoint signed or cosigned for {age_ms} ms (limit {max_age_ms} ms); last activity: {last}"
)]
pub struct Stale {
    pub age_ms: u128,
    pub max_age_ms: u128,
    pub last: &'static str,
}

impl Freshness {
    /// Fresh from now on for `max_age`.
    pub fn new(max_age: Duration) -> Freshness {
        Freshness {
            max_age,
            last: Mutex::new((Instant::now(), Activity::Started)),
        }
    }

    /// Records activity now.
    pub fn touch(&self, what: Activity) {
        if let Ok(mut g) = self.last.lock() {
            *g = (Instant::now(), what);
        }
    }

    /// `Ok` while the last activity is at most `max_age` old.
    pub fn check(&self) -> Result<(), Stale> {
        let (at, what) = match self.last.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        let age = at.elapsed();
        if age <= self.max_age {
            return Ok(());
        }
        Err(Stale {
            age_ms: age.as_millis(),
            max_age_ms: self.max_age.as_millis(),
            last: what.as_str(),
        })
    }
}

/// A [`Freshness`] of `max_age`, touched by every commit of the sequencer (`committed`)
/// and every cosignature the federation gathers (`federation`, when there is one).
pub fn watch(
    max_age: Duration,
    mut committed: tokio::sync::watch::Receiver<u64>,
    federation: Option<&crate::federation::FedShared>,
) -> Arc<Freshness> {
    let f = Arc::new(Freshness::new(max_age));
    let f2 = f.clone();
    tokio::spawn(async move {
        while committed.changed().await.is_ok() {
            f2.touch(Activity::Signed);
        }
    });
    if let Some(fed) = federation {
        fed.set_freshness(f.clone());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_after_max_age_and_fresh_after_touch() {
        let f = Freshness::new(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        let e = f.check().unwrap_err();
        assert_eq!(e.last, "node start");
        let f = Freshness::new(Duration::from_secs(3600));
        f.touch(Activity::Cosigned);
        assert!(f.check().is_ok());
    }
}
