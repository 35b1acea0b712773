//! `quorate-witness`: a standalone C2SP tlog-witness.
//!
//! ```text
//! quorate-witness init  --data DIR --name NAME
//! quorate-witness serve --data DIR [--listen ADDR] [--log VKEY]... [--config FILE]
//!                       [--tls-cert FILE --tls-key FILE] [--store-cache-mib MIB]
//! quorate-witness bench [--requests N]
//! ```

mod bench;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use quorate_proto::checkpoint::LogKeys;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::note::{Ed25519Verifier, NoteVerifier};
use quorate_witness::{SystemClock, Witness, router};

/// Secret key file inside the data directory (mode 0600).
const KEY_FILE: &str = "witness.key";
/// Verifier key file written beside it.
const PUB_FILE: &str = "witness.pub";
/// State database inside the data directory.
const STATE_FILE: &str = "witness.redb";
/// `--store-cache-mib` unless given.
const DEFAULT_STORE_CACHE_MIB: u64 = (quorate_witness::DEFAULT_CACHE_BYTES >> 20) as u64;
/// Largest `--store-cache-mib` (1 TiB): a bound, not a way to overflow `usize`.
const MAX_STORE_CACHE_MIB: u64 = 1 << 20;

#[derive(Parser)]
#[command(
    name = "quorate-witness",
    version,
    about = "A C2SP tlog-witness for Quorate"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the witness key (cosignature/v1) and an empty state in DIR.
    Init {
        /// State directory to create (holds the witness key and what it cosigned)
        #[arg(long)]
        data: PathBuf,
        /// Witness name, a schema-less URL such as `witness.example/w1`.
        #[arg(long)]
        name: String,
    },
    /// Serve POST /add-checkpoint, GET /v1/equivocations and GET /healthz.
    Serve {
        /// State directory made by `init`
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on (port 0: any free port, printed as `listening on ADDR`)
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: SocketAddr,
        /// A log's Ed25519 signed-note vkey, literal or a path to a .pub file; its key
        /// name is the log origin. Repeatable.
        #[arg(long = "log")]
        logs: Vec<String>,
        /// TOML file with `[[log]] origin = "...", vkey = "..."` entries; the origin may
        /// differ from the key name, and one origin may have several entries (keys).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Milliseconds a connection has to send a complete request head (also the
        /// keep-alive idle timeout); slower connections are closed.
        #[arg(long, default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(1..))]
        header_read_timeout_ms: u64,
        /// Connections served at once; more wait in the listen backlog.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
        max_connections: u64,
        /// Serve HTTPS with this PEM certificate chain, leaf first (needs --tls-key).
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Bound of the state file's page cache in MiB (reads past it come from the
        /// kernel's page cache).
        #[arg(long, value_name = "MIB", default_value_t = DEFAULT_STORE_CACHE_MIB,
              value_parser = clap::value_parser!(u64).range(1..=MAX_STORE_CACHE_MIB))]
        store_cache_mib: u64,
    },
    /// Measure add-checkpoint throughput and latency (in-process and over loopback HTTP).
    Bench {
        /// Checkpoints to cosign in each mode.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Directory for the temporary state files (default: the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Logs (one connection each) in the concurrent HTTP mode.
        #[arg(long, default_value_t = 4)]
        logs: usize,
        /// Print one JSON object (durations in microseconds) instead of lines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    log: Vec<LogEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LogEntry {
    origin: String,
    vkey: String,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", quorate_proto::error_chain::Chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Init { data, name } => init(&data, &name),
        Cmd::Serve {
            data,
            listen,
            logs,
            config,
            header_read_timeout_ms,
            max_connections,
            tls_cert,
            tls_key,
            store_cache_mib,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Runtime::new()?;
            let limits = quorate_witness::server::ConnLimits {
                header_read_timeout: std::time::Duration::from_millis(header_read_timeout_ms),
                max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            };
            let tls = match (tls_cert, tls_key) {
                (Some(c), Some(k)) => Some(quorate_witness::tls::server_config(&c, &k)?),
                _ => None,
            };
            let state = State {
                path: data.join(STATE_FILE),
                cache_bytes: usize::try_from(store_cache_mib << 20).unwrap_or(usize::MAX),
            };
            rt.block_on(serve(
                &data,
                &state,
                listen,
                &logs,
                config.as_deref(),
                limits,
                tls,
            ))
        }
        Cmd::Bench {
            requests,
            dir,
            logs,
            json,
        } => bench::run(requests, logs, json, dir),
    }
}

fn init(data: &Path, name: &str) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("random seed: {e}"))?;
    let signer = CosignatureSigner::generate(name, seed).context("witness name")?;
    seed.fill(0);
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let key_path = data.join(KEY_FILE);
    write_new(&key_path, signer.skey().as_str().as_bytes(), true)?;
    let vkey = signer.vkey();
    write_new(&data.join(PUB_FILE), format!("{vkey}\n").as_bytes(), false)?;
    quorate_witness::Store::open(&data.join(STATE_FILE)).context("creating the state")?;
    println!("{vkey}");
    Ok(())
}

/// Creates `path` (never overwriting), mode 0600 when `secret`, and syncs it.
fn write_new(path: &Path, contents: &[u8], secret: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| {
        format!(
            "creating {} (an existing file is never overwritten)",
            path.display()
        )
    })?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

fn read_vkey(arg: &str) -> anyhow::Result<Ed25519Verifier> {
    let p = Path::new(arg);
    let text = if p.is_file() {
        std::fs::read_to_string(p).with_context(|| format!("reading {arg}"))?
    } else {
        arg.to_owned()
    };
    Ed25519Verifier::from_vkey(text.trim()).with_context(|| format!("log key {arg:?}"))
}

/// The logs to follow: each `--log` vkey (origin = its key name), then the config file's
/// `[[log]]` entries, where the origin is configured and may differ from the key name, and
/// several entries with one origin list several keys (rotation overlap).
fn load_logs(args: &[String], config: Option<&Path>) -> anyhow::Result<Vec<LogKeys>> {
    let mut logs: Vec<LogKeys> = Vec::new();
    let mut add = |origin: &str, key: Ed25519Verifier| -> anyhow::Result<()> {
        match logs.iter_mut().find(|l| l.origin() == origin) {
            Some(l) if l.contains(&key) => Ok(()),
            Some(l) => Ok(l.add_key(key)?),
            None => {
                logs.push(LogKeys::new(origin, vec![key])?);
                Ok(())
            }
        }
    };
    for a in args {
        let v = read_vkey(a)?;
        let origin = v.name().to_owned();
        add(&origin, v)?;
    }
    if let Some(path) = config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for entry in cfg.log {
            let v = read_vkey(&entry.vkey)?;
            add(&entry.origin, v).with_context(|| format!("{}", path.display()))?;
        }
    }
    Ok(logs)
}

/// Where the state file is and how much of it redb may cache.
struct State {
    path: PathBuf,
    cache_bytes: usize,
}

async fn serve(
    data: &Path,
    state: &State,
    listen: SocketAddr,
    log_args: &[String],
    config: Option<&Path>,
    limits: quorate_witness::server::ConnLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    let key_path = data.join(KEY_FILE);
    if !key_path.exists() {
        bail!(
            "no witness key at {} (run `quorate-witness init` first)",
            key_path.display()
        );
    }
    let skey = quorate_witness::keyfile::read_secret_key(&key_path)?;
    let signer = CosignatureSigner::from_skey(skey.trim()).context("witness key")?;
    let logs = load_logs(log_args, config)?;
    if logs.is_empty() {
        tracing::warn!("no logs configured: every add-checkpoint will get 404");
    }
    let store = quorate_witness::Store::open_with_cache(&state.path, state.cache_bytes)
        .context("opening the witness state")?;
    let witness = Witness::with_logs(signer, logs, store, SystemClock)
        .context("opening the witness state")?;
    tracing::info!(name = witness.name(), vkey = %witness.vkey(), logs = ?witness.origins(), "witness ready");
    let witness = Arc::new(witness);
    // A request timeout bounds how long a slow or stalled client can hold a connection's
    // resources; add-checkpoint bodies are small, so 30 s is generous.
    let app = router(witness)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(30),
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    // Tests and scripts read the bound address (the port may have been 0) from stdout.
    println!("listening on {addr}");
    std::io::stdout().flush()?;
    quorate_witness::server::serve_tls(listener, app, limits, tls, shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("signal received, shutting down");
}

#[cfg(test)]
#[path = "../../support/help_lines.rs"]
mod help_lines;

#[cfg(test)]
mod help_tests {
    /// Every subcommand, flag and argument a user can see has a help line.
    #[test]
    fn every_flag_and_argument_has_help() {
        let missing =
            super::help_lines::without_help(&<super::Cli as clap::CommandFactory>::command());
        assert!(missing.is_empty(), "without a help line: {missing:#?}");
    }
}

#[cfg(test)]
mod flag_tests {
    use clap::Parser as _;

    use super::{Cli, Cmd};

    fn cache_mib(args: &[&str]) -> Result<u64, clap::Error> {
        let base = ["quorate-witness", "serve", "--data", "d"];
        let cli = Cli::try_parse_from(base.iter().chain(args))?;
        match cli.cmd {
            Cmd::Serve {
                store_cache_mib, ..
            } => Ok(store_cache_mib),
            _ => panic!("parsed as another subcommand"),
        }
    }

    #[test]
    fn store_cache_mib_defaults_to_the_store_bound_and_refuses_zero_and_huge() {
        assert_eq!(
            cache_mib(&[]).unwrap() << 20,
            quorate_witness::DEFAULT_CACHE_BYTES as u64
        );
        assert_eq!(cache_mib(&["--store-cache-mib", "1"]).unwrap(), 1);
        assert_eq!(
            cache_mib(&["--store-cache-mib", "1048576"]).unwrap(),
            1 << 20
        );
        assert!(cache_mib(&["--store-cache-mib", "-1"]).is_err());
        for bad in ["0", "1048577", "lots", "18446744073709551615"] {
            let e = cache_mib(&["--store-cache-mib", bad]).unwrap_err();
            assert!(e.to_string().contains("--store-cache-mib"), "{bad}: {e}");
        }
    }
}
