//! Prometheus text-format metrics, hand-rolled with atomics (no extra dependency).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records a value (sum kept in millionths).
    pub fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add((v * 1e6).max(0.0) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {n}");
    }
}

/// The metrics label of an HTTP method: the standard methods by name, every other
/// method (HTTP allows any token, and hyper accepts ones of hundreds of kilobytes) as
/// `OTHER`, so clients cannot mint new label values.
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// All of the node's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Entries newly logged through this process.
    pub accepted: AtomicU64,
    /// Submissions answered with an existing entry.
    pub duplicates: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Keyed by (method label, route template, status): every part comes from a fixed set
    /// (see [`method_label`]; routes are the router's templates or "unmatched"; hyper
    /// only produces 3-digit statuses), so a client cannot grow this map.
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    /// Seconds from admission to durable ack, per envelope.
    pub ack_latency: Histogram,
    /// Envelopes per submission request.
    pub request_batch: Histogram,
    /// Tree growth between consecutive checkpoints seen in acks (≈ sequencer batch size).
    pub sequencer_batch: Histogram,
    last_ack_size: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            accepted: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(BTreeMap::new()),
            ack_latency: Histogram::new(LATENCY_BOUNDS),
            request_batch: Histogram::new(SIZE_BOUNDS),
            sequencer_batch: Histogram::new(SIZE_BOUNDS),
            last_ack_size: AtomicU64::new(u64::MAX),
        }
    }
}

impl Metrics {
    /// Counts a rejected submission by machine-readable reason.
    pub fn reject(&self, reason: &'static str) {
        if let Ok(mut m) = self.rejected.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }

    /// Counts an HTTP request. `route` must be a route template (a fixed set), never the
    /// request path.
    pub fn request(&self, method: &axum::http::Method, route: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method_label(method), route.to_owned(), status))
                .or_default() += 1;
        }
    }

    /// Records one acknowledged envelope.
    pub fn ack(&self, duplicate: bool, checkpoint_size: u64, latency: Duration) {
        if duplicate {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        } else {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        }
        self.ack_latency.observe(latency.as_secs_f64());
        let prev = self
            .last_ack_size
            .fetch_max(checkpoint_size, Ordering::Relaxed);
        // The first ack only sets the baseline (u64::MAX is "unset").
        if prev == u64::MAX {
            self.last_ack_size.store(checkpoint_size, Ordering::Relaxed);
        } else if checkpoint_size > prev {
            self.sequencer_batch
                .observe((checkpoint_size - prev) as f64);
        }
    }

    /// Renders everything in the Prometheus text format.
    pub fn render(&self, size: u64, checkpoint_size: u64, reviewers: usize) -> String {
        let mut out = String::with_capacity(4096);
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge("quorate_entries_total", "Entries in the log.", size);
        gauge(
            "quorate_checkpoint_size",
            "Tree size of the latest signed checkpoint.",
            checkpoint_size,
        );
        gauge(
            "quorate_reviewers",
            "Registered reviewer keys.",
            reviewers as u64,
        );
        let _ = writeln!(
            out,
            "# HELP quorate_submissions_accepted_total Envelopes acknowledged.\n\
             # TYPE quorate_submissions_accepted_total counter\n\
             quorate_submissions_accepted_total{{duplicate=\"false\"}} {}\n\
             quorate_submissions_accepted_total{{duplicate=\"true\"}} {}",
            self.accepted.load(Ordering::Relaxed),
            self.duplicates.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP quorate_submissions_rejected_total Submissions refused, by reason.\n\
             # TYPE quorate_submissions_rejected_total counter"
        );
        if let Ok(m) = self.rejected.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "quorate_submissions_rejected_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        self.ack_latency.render(
            &mut out,
            "quorate_ack_latency_seconds",
            "Time from admission to durable acknowledgement, per envelope.",
        );
        self.request_batch.render(
            &mut out,
            "quorate_submission_envelopes",
            "Envelopes per submission request.",
        );
        self.sequencer_batch.render(
            &mut out,
            "quorate_sequencer_batch_entries",
            "Tree growth between consecutive checkpoints observed in acks (sequencer batch size).",
        );
        let _ = writeln!(
            out,
            "# HELP quorate_http_requests_total HTTP requests by method, route and status.\n\
             # TYPE quorate_http_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "quorate_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out
    }
}
