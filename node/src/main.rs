//! `quorate-node`: the institute server's command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use quorate_node::bench::{self, BenchOptions};
use quorate_node::config::{Config, LogFormat};
use quorate_node::datadir::DataDir;
use quorate_node::reviewers;
use quorate_node::sequencer::SequencerConfig;
use quorate_node::server;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "quorate-node",
    version,
    about = "Quorate transparency log node"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct DataArg {
    /// Data directory (log key, store, reviewer list).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a new log: key pair, empty store with a signed size-0 checkpoint.
    Init {
        #[command(flatten)]
        data: DataArg,
        /// Checkpoint origin line, also the log key's name (e.g. example.org/quorate/log1).
        #[arg(long)]
        origin: String,
    },
    /// Print what peers configure: origin, log vkey, witness vkey, libp2p PeerId.
    Id {
        #[command(flatten)]
        data: DataArg,
    },
    /// Start a loopback federation of real nodes and measure cosigning latency.
    BenchFederation {
        /// Nodes in the federation.
        #[arg(long, default_value_t = 7)]
        nodes: usize,
        /// Checkpoints measured.
        #[arg(long, default_value_t = 50)]
        checkpoints: usize,
        /// Then measure each node's CPU use over this many idle seconds (0: skip).
        #[arg(long, default_value_t = 0)]
        idle_secs: u64,
        /// Print the report as one JSON object (durations in microseconds).
        #[arg(long)]
        json: bool,
        /// Put the nodes' data dirs and logs (`nI.log`; `RUST_LOG` sets their level) in
        /// this new directory and keep them, for profiling a round from the nodes' side.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Manage the reviewer keys allowed to submit (works while `serve` runs).
    Reviewers {
        #[command(subcommand)]
        cmd: ReviewersCmd,
    },
    /// Serve the log over HTTP.
    Serve {
        #[command(flatten)]
        data: DataArg,
        /// TOML configuration file (see config.example.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Listen address; overrides the config file.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        ops: quorate_node::ops_args::ServeOps,
        /// Also publish the read path to this S3-compatible bucket (s3://BUCKET[/PREFIX]);
        /// credentials and endpoint from AWS_* environment variables. Overrides the config.
        #[arg(long, value_name = "URL")]
        publish_s3_url: Option<String>,
    },
    /// Follow another institute's log, verify everything, and serve the same read path.
    Mirror {
        /// Base URL of the log to follow (its node, or a bucket it publishes to).
        #[arg(long, value_name = "URL")]
        from: String,
        #[command(flatten)]
        data: DataArg,
        /// Listen address for the mirror's read path.
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// The followed log's vkey (checkpoints must verify under it).
        #[arg(long, value_name = "VKEY")]
        log_vkey: String,
        /// The followed log's origin (defaults to the key's name, which it must equal).
        #[arg(long)]
        origin: Option<String>,
        /// Milliseconds between rounds.
        #[arg(long, default_value_t = 2000)]
        poll_ms: u64,
        /// Most entry bytes one round may fetch and hold before committing (MiB).
        #[arg(long, default_value_t = 1024)]
        max_step_mib: u64,
    },
    /// Copy the store consistently (through the running node if one holds it).
    Backup {
        #[command(flatten)]
        data: DataArg,
        /// Backup file to create (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Audit a store: re-hash every entry, check every stored checkpoint's signature and
    /// root; exits non-zero naming the first mismatch.
    Verify {
        #[command(flatten)]
        data: DataArg,
        /// Store file to audit instead of the data directory's (e.g. a backup); the log
        /// key is still read from the data directory's log.pub.
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
    },
    /// Benchmark the write path, proofs and disk use on temporary stores.
    Bench {
        /// Entries in the large store used for proof latency and bytes per entry.
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Attestations submitted through the sequencer (default: min(entries, 20000)).
        #[arg(long)]
        submissions: Option<usize>,
        /// Concurrent submitters (keep it well above --batch-size so that verification
        /// overlaps the commit of the previous batch).
        #[arg(long, default_value_t = 2048)]
        concurrency: usize,
        /// Sequencer batch size.
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        /// Sequencer batch delay in milliseconds (0: group commit, the default).
        #[arg(long, default_value_t = 0)]
        batch_delay_ms: u64,
        /// Directory for the temporary stores (default: system temp dir).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Build the large store as a data directory here and keep it (must not exist).
        #[arg(long, value_name = "DIR")]
        keep_big: Option<PathBuf>,
        /// Milliseconds spent measuring each raw verify rate.
        #[arg(long, default_value_t = 1500)]
        floor_ms: u64,
        /// Print the report as one JSON object (durations in microseconds).
        #[arg(long)]
        json: bool,
        /// Only time inclusion proofs over the store already built in this data directory
        /// (by `--keep-big DIR`): no build, no submissions. Prints p50/p99/max and, per
        /// proof, CPU time and context switches (preemption vs blocking).
        #[arg(long, value_name = "DIR")]
        prove_only: Option<PathBuf>,
        /// Proofs timed by --prove-only.
        #[arg(long, default_value_t = 2000, requires = "prove_only")]
        proofs: usize,
        /// With --prove-only: drop the store file from the page cache first (cold reads).
        #[arg(long, requires = "prove_only")]
        evict_page_cache: bool,
        /// With --prove-only: redb's page cache in MiB (as `serve --store-cache-mib`).
        #[arg(long, requires = "prove_only", default_value_t = (quorate_node::store::DEFAULT_CACHE_BYTES >> 20) as u64)]
        store_cache_mib: u64,
        /// With --prove-only: time the proofs this many times in one process (each round
        /// reported in full; later rounds find what earlier ones cached).
        #[arg(long, requires = "prove_only", default_value_t = 1)]
        rounds: u32,
    },
}

#[derive(Subcommand)]
enum ReviewersCmd {
    /// Register a reviewer key (a vkey string or a path to a .pub file).
    Add {
        #[command(flatten)]
        data: DataArg,
        /// `<name>+<hex keyid>+<base64 key>` or a file holding one.
        vkey: String,
    },
    /// Unregister a reviewer key.
    Remove {
        #[command(flatten)]
        data: DataArg,
        /// `<name>+<hex keyid>+<base64 key>` or a file holding one.
        vkey: String,
    },
    /// List registered reviewer keys.
    List {
        #[command(flatten)]
        data: DataArg,
    },
}

fn init_tracing(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: log files and journald get plain text.
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Compact => b.compact().init(),
        // Without ANSI escapes whatever the terminal: a JSON log is for machines.
        LogFormat::Json => b.json().with_ansi(false).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", quorate_proto::error_chain::Chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The witness vkey (creating the key if missing) and the libp2p PeerId of a data dir.
fn node_identity(dir: &DataDir) -> anyhow::Result<(String, libp2p::PeerId)> {
    let key = dir.load_key()?;
    let w = dir.load_or_create_witness_key(key.origin())?.vkey();
    let peer = quorate_node::gossip::peer_id_from_skey(&dir.log_skey()?)?;
    Ok((w, peer))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Init { data, origin } => {
            init_tracing("warn", LogFormat::Text);
            let dir = DataDir::new(data.data);
            let vkey = dir.init(&origin)?;
            eprintln!(
                "created log {origin} in {} (key {}, vkey {})",
                dir.root().display(),
                dir.key_path().display(),
                dir.pub_path().display()
            );
            println!("{vkey}");
            let (w, peer) = node_identity(&dir)?;
            eprintln!("witness vkey {w}");
            eprintln!("libp2p PeerId {peer}");
            Ok(())
        }
        Cmd::Id { data } => {
            init_tracing("warn", LogFormat::Text);
            let dir = DataDir::new(data.data);
            let key = dir.load_key()?;
            let (w, peer) = node_identity(&dir)?;
            println!("origin = {:?}", key.origin());
            println!("log_vkey = {:?}", key.signer().vkey());
            println!("witness_vkey = {w:?}");
            println!("peer_id = {:?}", peer.to_string());
            Ok(())
        }
        Cmd::BenchFederation {
            nodes,
            checkpoints,
            idle_secs,
            json,
            keep,
        } => {
            init_tracing("warn", LogFormat::Text);
            let report =
                quorate_node::fedbench::run(nodes, checkpoints, idle_secs, keep.as_deref())?;
            if json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            Ok(())
        }
        Cmd::Reviewers { cmd } => {
            init_tracing("warn", LogFormat::Text);
            match cmd {
                ReviewersCmd::Add { data, vkey } => {
                    let k = reviewers::resolve_vkey_arg(&vkey)?;
                    let path = DataDir::new(data.data).reviewers_path();
                    if reviewers::add(&path, k.clone())? {
                        eprintln!("added reviewer {}", k.vkey);
                    } else {
                        eprintln!("reviewer {} was already registered", k.vkey);
                    }
                    Ok(())
                }
                ReviewersCmd::Remove { data, vkey } => {
                    let k = reviewers::resolve_vkey_arg(&vkey)?;
                    let path = DataDir::new(data.data).reviewers_path();
                    anyhow::ensure!(
                        reviewers::remove(&path, &k)?,
                        "reviewer {} is not registered",
                        k.vkey
                    );
                    eprintln!("removed reviewer {}", k.vkey);
                    Ok(())
                }
                ReviewersCmd::List { data } => {
                    let path = DataDir::new(data.data).reviewers_path();
                    for k in reviewers::read_list(&path)? {
                        println!("{}", k.vkey);
                    }
                    Ok(())
                }
            }
        }
        Cmd::Serve {
            data,
            config,
            listen,
            ops,
            publish_s3_url,
        } => {
            let mut cfg = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            if let Some(l) = listen {
                cfg.listen = l;
            }
            ops.apply(&mut cfg)?;
            if publish_s3_url.is_some() {
                cfg.publish_s3_url = publish_s3_url;
            }
            // Before the runtime's threads exist (see `malloc`).
            let arenas = quorate_node::malloc::limit_arenas();
            init_tracing(&cfg.log_level, cfg.log_format);
            tracing::debug!(?arenas, "malloc arena limit");
            let inherited = ops
                .inherit_listen_fd
                .map(quorate_node::reload::adopt_listener)
                .transpose()?;
            // SIGHUP re-reads the same file with the same flags: it must parse and validate.
            let check = move || -> anyhow::Result<()> {
                let mut c = match &config {
                    Some(p) => Config::load(p)?,
                    None => Config::default(),
                };
                ops.apply(&mut c)
            };
            let reload = server::Reload {
                inherited,
                check: Some(Box::new(check)),
            };
            let exit =
                runtime()?.block_on(server::serve_with(DataDir::new(data.data), cfg, reload))?;
            match exit {
                server::Exit::Stopped => Ok(()),
                server::Exit::Reload(fd) => Err(quorate_node::reload::reexec(fd)),
            }
        }
        Cmd::Mirror {
            from,
            data,
            listen,
            log_vkey,
            origin,
            poll_ms,
            max_step_mib,
        } => {
            init_tracing("info", LogFormat::Text);
            let opts = quorate_node::mirror::MirrorOptions {
                from,
                data: data.data,
                listen,
                log_vkey,
                origin,
                poll: Duration::from_millis(poll_ms.max(10)),
                max_step_bytes: max_step_mib.saturating_mul(1 << 20),
            };
            // A mirror is as long-running as a node and writes the same store.
            quorate_node::malloc::limit_arenas();
            runtime()?.block_on(quorate_node::mirror::run(opts))
        }
        Cmd::Backup { data, out } => {
            init_tracing("warn", LogFormat::Text);
            let started = std::time::Instant::now();
            let r = quorate_node::backup::backup(&DataDir::new(data.data), &out)?;
            println!(
                "backup of size {} written to {} ({} bytes, {:.1} s)",
                r.size,
                out.display(),
                r.bytes,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Cmd::Verify { data, store } => {
            init_tracing("warn", LogFormat::Text);
            let r = quorate_node::backup::verify(&DataDir::new(data.data), store.as_deref())?;
            println!(
                "ok: {} entries re-hashed, {} checkpoints verified",
                r.size, r.checkpoints
            );
            Ok(())
        }
        Cmd::Bench {
            entries,
            submissions,
            concurrency,
            batch_size,
            batch_delay_ms,
            dir,
            keep_big,
            floor_ms,
            json,
            prove_only,
            proofs,
            evict_page_cache,
            store_cache_mib,
            rounds,
        } => {
            init_tracing("warn", LogFormat::Text);
            if let Some(dir) = prove_only {
                let opts = bench::prove::ProveOptions {
                    dir,
                    proofs: proofs.max(1),
                    evict: evict_page_cache,
                    cache_bytes: usize::try_from(store_cache_mib.min(1 << 20))
                        .unwrap_or(usize::MAX >> 20)
                        << 20,
                };
                for report in bench::prove::run(&opts, rounds.max(1))? {
                    if json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{report}");
                    }
                }
                return Ok(());
            }
            let opts = BenchOptions {
                entries,
                submissions: submissions.unwrap_or(entries.min(20_000) as usize).max(1),
                concurrency,
                sequencer: SequencerConfig {
                    max_batch: batch_size,
                    batch_delay: Duration::from_millis(batch_delay_ms),
                    queue_capacity: SequencerConfig::default().queue_capacity,
                },
                dir,
                keep_big,
                floor_time: Duration::from_millis(floor_ms),
            };
            let report = runtime()?.block_on(bench::run(opts))?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
            Ok(())
        }
    }
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
