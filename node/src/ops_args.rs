//! `serve` flags for operations (log format, health, TLS); each overrides the config
//! file's key of the same name.

use std::path::PathBuf;

use crate::config::{Config, LogFormat};

/// Operational flags of `quorate-node serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeOps {
    /// Log line format (`json`: one object per line, for log collectors); overrides
    /// `log_format`.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// `/healthz` answers 503 when no checkpoint was signed or cosigned for this many
    /// milliseconds; overrides `healthz_max_age_ms`.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub healthz_max_age_ms: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key); overrides `tls_cert`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert; overrides `tls_key`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates to trust, besides the platform's, for outbound HTTPS
    /// (external witnesses, peers); overrides `ca_file`.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Bound of the store's page cache in MiB; overrides `store_cache_mib`.
    #[arg(long, value_name = "MIB")]
    pub store_cache_mib: Option<u64>,
    /// Set by a SIGHUP reload on the re-executed node: the listening socket it inherits.
    #[arg(long, hide = true, value_name = "FD")]
    pub inherit_listen_fd: Option<i32>,
}

impl ServeOps {
    /// Applies the flags given over `cfg`, then validates it again.
    pub fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        let this = self.clone();
        if let Some(f) = this.log_format {
            cfg.log_format = f;
        }
        if let Some(ms) = this.healthz_max_age_ms {
            cfg.healthz_max_age_ms = Some(ms);
        }
        if let (Some(c), Some(k)) = (this.tls_cert, this.tls_key) {
            cfg.tls_cert = Some(c);
            cfg.tls_key = Some(k);
        }
        if let Some(ca) = this.ca_file {
            cfg.ca_file = Some(ca);
        }
        if let Some(m) = this.store_cache_mib {
            cfg.store_cache_mib = m;
        }
        cfg.validate()
    }
}
