//! `serve` configuration: a TOML file whose every option has a working default.
//!
//! See `node/config.example.toml` for the documented example.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::sequencer::SequencerConfig;

/// Everything `quorate-node serve` can be told besides the data directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Loopback by default: put a reverse proxy in front to expose it.
    pub listen: SocketAddr,
    /// Most entries integrated per sequencer batch (one transaction, fsync and signature).
    pub batch_size: usize,
    /// Longest time (ms) the first submission of a batch waits for more when nothing else
    /// is queued; 0 (default): group commit only.
    pub batch_delay_ms: u64,
    /// Submissions that may wait for the sequencer; beyond it submissions get 429.
    pub queue_depth: usize,
    /// Largest accepted request body in bytes (a single envelope or a whole batch).
    pub max_body_bytes: usize,
    /// Largest accepted envelope in bytes (capped at 65535 so it fits an entry bundle).
    pub max_envelope_bytes: usize,
    /// Most envelopes in one batch submission.
    pub max_batch_envelopes: usize,
    /// Per-request timeout in ms (the whole request including waiting for the ack).
    pub request_timeout_ms: u64,
    /// How long (ms) shutdown waits for in-flight requests before closing anyway.
    pub shutdown_grace_ms: u64,
    /// Time (ms) a connection has to send a complete request head; also the longest a
    /// keep-alive connection may sit idle, or a response may wait for the client to accept
    /// any byte. Half-open ("slowloris") connections are closed. Keep it above peers'
    /// `recosign_interval_ms`, so an idle witness connection is not closed just as the
    /// next cosign request goes out.
    pub header_read_timeout_ms: u64,
    /// HTTP connections served at once; more wait in the listen backlog until one closes.
    /// Keep it below the process's open-file limit (`ulimit -n`).
    pub max_connections: usize,
    /// Optional per-reviewer rate limit (token bucket); absent = unlimited.
    pub rate_limit: Option<RateLimitConfig>,
    /// `tracing` filter directive (e.g. "info", "quorate_node=debug,tower_http=info");
    /// the `RUST_LOG` environment variable overrides it.
    pub log_level: String,
    /// Log output format: "text" or "compact".
    pub log_format: LogFormat,
    /// Federation transport; absent = a standalone log (no witnessing, no gossip).
    pub gossip: Option<GossipSection>,
    /// Federation peers (each runs a log and an embedded witness).
    pub peer: Vec<PeerConfig>,
    /// Standalone C2SP witnesses asked over HTTP to cosign this log's checkpoints.
    pub external_witness: Vec<ExternalWitnessConfig>,
    /// How long (ms) a new checkpoint waits for cosignatures before it is gossiped with
    /// those gathered so far (later ones are added and gossiped when they arrive).
    pub witness_quorum_wait_ms: u64,
    /// Cosignatures of an unchanged checkpoint are requested again this often (ms), so
    /// their timestamps stay fresh for clients' max-checkpoint-age.
    pub recosign_interval_ms: u64,
    /// Timeout (ms) of one cosignature request to one witness.
    pub cosign_timeout_ms: u64,
    /// Distinct witness cosignatures a checkpoint needs before `GET /checkpoint` serves
    /// it (the newest signed one is at `GET /checkpoint/latest`). Absent = every
    /// configured peer and external witness; 0 = serve the newest signed checkpoint.
    pub cosign_target: Option<usize>,
    /// Criteria this log accepts in attestations; a submission naming any other is
    /// refused (`unaccepted_criteria`), so a typo such as `safe-to-deplyo` never reaches
    /// the append-only log. Absent = any well-formed criterion (imports of cargo-vet
    /// audits bring their own custom criteria).
    pub accepted_criteria: Option<Vec<String>>,
    /// `/healthz` answers 503 `stale` when no checkpoint was signed and no cosignature
    /// gathered for this long (ms); absent = no freshness check (see `health.rs`).
    pub healthz_max_age_ms: Option<u64>,
    /// Serve HTTPS: PEM certificate chain (leaf first) and PEM private key. Both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates trusted (besides the platform's roots) for outbound HTTPS to
    /// external witnesses and peers, e.g. a private CA.
    pub ca_file: Option<PathBuf>,
    /// Publish the read path (checkpoint, tiles, entry bundles) to this S3-compatible
    /// bucket, `s3://BUCKET[/PREFIX]`; credentials and endpoint from the AWS environment
    /// variables (see `node/README.md`). Absent = no publishing.
    pub publish_s3_url: Option<String>,
    /// Bound of the store's page cache (redb's), MiB: the node's resident memory stays
    /// near this plus its working memory however large the store grows.
    pub store_cache_mib: u64,
}

/// `[gossip]`: where the libp2p transport listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipSection {
    /// libp2p multiaddr, e.g. `/ip4/0.0.0.0/tcp/7001` (`tcp/0` picks a free port).
    #[serde(default = "default_gossip_listen")]
    pub listen: String,
    /// Gossipsub heartbeat (ms); the default suits production.
    #[serde(default)]
    pub heartbeat_ms: Option<u64>,
}

fn default_gossip_listen() -> String {
    "/ip4/127.0.0.1/tcp/0".into()
}

/// `[[peer]]`: one federation member.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its log's origin (== its log key name).
    pub origin: String,
    /// Its log's Ed25519 signed-note vkey.
    pub log_vkey: String,
    /// Its embedded witness's cosignature/v1 vkey.
    pub witness_vkey: String,
    /// Its libp2p PeerId (`quorate-node id` prints it).
    pub peer_id: String,
    /// Its gossip multiaddr, e.g. `/ip4/192.0.2.1/tcp/7001`.
    pub addr: String,
    /// Its HTTP base URL (optional; informational for now).
    #[serde(default)]
    pub url: Option<String>,
}

/// `[[external_witness]]`: a C2SP tlog-witness reached over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalWitnessConfig {
    /// Submission prefix, `http[s]://host[:port][/prefix]`.
    pub url: String,
    /// The witness's cosignature/v1 vkey.
    pub vkey: String,
}

/// Per-reviewer token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained submissions per second per reviewer key.
    pub per_second: f64,
    /// Bucket size: submissions a reviewer may make in a burst.
    pub burst: u32,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable multi-field lines.
    #[default]
    Text,
    /// Compact single lines.
    Compact,
    /// One JSON object per line (for journald, Loki, Elasticsearch...).
    Json,
}

/// Largest envelope that fits an entry bundle's u16 length prefix.
pub const MAX_BUNDLE_ENTRY: usize = u16::MAX as usize;

impl Default for Config {
    fn default() -> Self {
        let seq = SequencerConfig::default();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8780)),
            batch_size: seq.max_batch,
            batch_delay_ms: seq.batch_delay.as_millis() as u64,
            queue_depth: seq.queue_capacity,
            max_body_bytes: 4 * 1024 * 1024,
            max_envelope_bytes: MAX_BUNDLE_ENTRY,
            max_batch_envelopes: 1024,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            header_read_timeout_ms: 15_000,
            max_connections: 1024,
            rate_limit: None,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            gossip: None,
            peer: Vec::new(),
            external_witness: Vec::new(),
            witness_quorum_wait_ms: 2000,
            recosign_interval_ms: 10_000,
            cosign_timeout_ms: 5000,
            cosign_target: None,
            accepted_criteria: None,
            healthz_max_age_ms: None,
            tls_cert: None,
            tls_key: None,
            ca_file: None,
            publish_s3_url: None,
            store_cache_mib: (crate::store::DEFAULT_CACHE_BYTES >> 20) as u64,
        }
    }
}

/// Largest `store_cache_mib` (1 TiB): a bound, not a way to overflow `usize`.
pub const MAX_STORE_CACHE_MIB: u64 = 1 << 20;

impl Config {
    /// `store_cache_mib` in bytes.
    pub fn store_cache_bytes(&self) -> usize {
        usize::try_from(self.store_cache_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
    }

    /// The HTTP accept loop's connection limits.
    pub fn conn_limits(&self) -> quorate_witness::server::ConnLimits {
        quorate_witness::server::ConnLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            max_connections: self.max_connections,
        }
    }

    /// Reads and validates a TOML config file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let c: Config = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    /// Checks ranges.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.batch_size >= 1, "batch_size must be at least 1");
        anyhow::ensure!(
            (1..=MAX_STORE_CACHE_MIB).contains(&self.store_cache_mib),
            "store_cache_mib must be in 1..={MAX_STORE_CACHE_MIB}"
        );
        anyhow::ensure!(self.queue_depth >= 1, "queue_depth must be at least 1");
        anyhow::ensure!(
            (1..=MAX_BUNDLE_ENTRY).contains(&self.max_envelope_bytes),
            "max_envelope_bytes must be in 1..={MAX_BUNDLE_ENTRY}"
        );
        anyhow::ensure!(
            self.max_body_bytes >= self.max_envelope_bytes,
            "max_body_bytes must be at least max_envelope_bytes"
        );
        anyhow::ensure!(
            (1..=crate::api::MAX_SPLIT_ITEMS).contains(&self.max_batch_envelopes),
            "max_batch_envelopes must be in 1..={}",
            crate::api::MAX_SPLIT_ITEMS
        );
        anyhow::ensure!(
            self.max_batch_envelopes <= self.queue_depth,
            "max_batch_envelopes ({}) must not exceed queue_depth ({}): a larger batch could never be queued",
            self.max_batch_envelopes,
            self.queue_depth
        );
        anyhow::ensure!(
            self.request_timeout_ms >= 1,
            "request_timeout_ms must be positive"
        );
        anyhow::ensure!(
            self.header_read_timeout_ms >= 1,
            "header_read_timeout_ms must be positive"
        );
        anyhow::ensure!(
            self.max_connections >= 1,
            "max_connections must be at least 1"
        );
        anyhow::ensure!(
            self.recosign_interval_ms >= 100,
            "recosign_interval_ms must be at least 100"
        );
        anyhow::ensure!(
            self.cosign_timeout_ms >= 1,
            "cosign_timeout_ms must be positive"
        );
        anyhow::ensure!(
            self.tls_cert.is_some() == self.tls_key.is_some(),
            "tls_cert and tls_key go together: give both or neither"
        );
        if let Some(ms) = self.healthz_max_age_ms {
            anyhow::ensure!(ms >= 1, "healthz_max_age_ms must be positive");
        }
        if let Some(t) = self.cosign_target {
            let witnesses = self.peer.len() + self.external_witness.len();
            anyhow::ensure!(
                t <= witnesses,
                "cosign_target {t} can never be reached: only {witnesses} witnesses are configured ([[peer]] and [[external_witness]])"
            );
        }
        if self.gossip.is_none() {
            anyhow::ensure!(
                self.peer.is_empty(),
                "[[peer]] entries need a [gossip] section"
            );
        }
        if let Some(r) = self.rate_limit {
            anyhow::ensure!(
                r.per_second >= 1e-3 && r.per_second.is_finite() && r.burst >= 1,
                "rate_limit needs per_second >= 0.001 and burst >= 1"
            );
        }
        Ok(())
    }

    /// The sequencer's part.
    pub fn sequencer(&self) -> SequencerConfig {
        SequencerConfig {
            max_batch: self.batch_size,
            batch_delay: Duration::from_millis(self.batch_delay_ms),
            queue_capacity: self.queue_depth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_equals_defaults() {
        let text = include_str!("../config.example.toml");
        let c = Config::parse(text).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn hostile_limits_are_refused() {
        for bad in [
            "[rate_limit]\nper_second = 1e-30\nburst = 1\n",
            "max_batch_envelopes = 0\n",
            "max_batch_envelopes = 5000\nqueue_depth = 100\n",
            "max_batch_envelopes = 10000000\nqueue_depth = 100000000\n",
            "store_cache_mib = 0\n",
            "store_cache_mib = 18446744073709551615\n",
        ] {
            let c = Config::parse(bad);
            assert!(
                c.is_err() || c.unwrap().validate().is_err(),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn empty_is_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn rejects_unknown_and_bad() {
        assert!(Config::parse("nope = 1").is_err());
        assert!(Config::parse("batch_size = 0").is_err());
        assert!(Config::parse("max_envelope_bytes = 65536").is_err());
        let c = Config::parse("[rate_limit]\nper_second = 2.5\nburst = 10\n").unwrap();
        assert_eq!(c.rate_limit.unwrap().burst, 10);
        assert!(Config::parse("[[peer]]\norigin='a'\nlog_vkey='x'\nwitness_vkey='y'\npeer_id='p'\naddr='/ip4/127.0.0.1/tcp/1'\n").is_err());
        let c = Config::parse("[gossip]\n").unwrap();
        assert_eq!(c.gossip.unwrap().listen, "/ip4/127.0.0.1/tcp/0");
    }
}
