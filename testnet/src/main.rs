//! `quorate-testnet`: a local federation of real `quorate-node` processes (127.0.0.1, or
//! per-node network namespaces with `--netns`), a demo of the main job, and attacks on it.

mod bench;
mod demo;
mod eco_demo;
mod fed;
mod netns;
mod scenarios;
mod screenshots;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use fed::{Bins, Fed};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "quorate-testnet", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start N federated nodes, wait until every checkpoint is cosigned by all peers,
    /// write a client policy, and leave them running (pids in DIR/testnet.json).
    Up {
        /// How many institutes (nodes) to start
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Comma-separated jurisdictions (default DE,FR,JP,BR,CA,...).
        #[arg(long, value_delimiter = ',')]
        jurisdictions: Vec<String>,
        /// Directory for the nodes' data, logs, policy and pids
        #[arg(long, default_value = "quorate-testnet")]
        dir: PathBuf,
        /// Jurisdictions that must certify (default ceil(N/2)).
        #[arg(long)]
        quorum: Option<usize>,
        /// Run every node in its own network namespace behind a veth pair and a bridge
        /// (root only; addresses in 10.213.K.0/24 exist only there).
        #[arg(long)]
        netns: bool,
    },
    /// Stop the nodes `up` started (SIGTERM, then SIGKILL after 10 s).
    Down {
        /// The directory `up` used
        #[arg(long, default_value = "quorate-testnet")]
        dir: PathBuf,
    },
    /// Five institutes (DE, FR, JP, BR, CA) review packages, `quorate check` decides,
    /// then every scenario runs.
    Demo {
        /// Directory of cargo-vet audits.toml files, one per organisation.
        #[arg(long)]
        audits: Option<PathBuf>,
        /// Lockfile to check (default: this project's own Cargo.lock).
        #[arg(long)]
        lock: Option<PathBuf>,
        /// Packages of the lockfile to review (default mode).
        #[arg(long, default_value_t = 12)]
        packages: usize,
        /// Skip the scenarios.
        #[arg(long)]
        no_scenarios: bool,
        /// Run every node in its own network namespace behind a veth pair and a bridge
        /// (root only; addresses in 10.213.K.0/24 exist only there).
        #[arg(long)]
        netns: bool,
    },
    /// Every performance figure on real processes beside the floor measured in the same
    /// run (Ed25519 verify single and batched, sign, SHA-256, fsync); prints one table.
    Bench {
        /// A small run (under a minute) that checks every row is measured; no file.
        #[arg(long)]
        quick: bool,
        /// Directory for data dirs and stores (default: a temporary one in the current
        /// directory, so fsync is that filesystem's).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also write the results here (the full run's default: bench/results.md).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Only the memory soaks of `bench` (node, then witness), for investigating memory:
    /// prints their rows, and with --trace writes every sample and the end's smaps_rollup.
    Soak {
        /// Seconds each soak runs (the full bench: 600).
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
        secs: u64,
        /// Entries/s submitted to the node (0: skip the node).
        #[arg(long, default_value_t = 1000.0)]
        node_rate: f64,
        /// add-checkpoint/s sent to the witness (0: skip the witness).
        #[arg(long, default_value_t = 1000.0)]
        witness_rate: f64,
        /// A flag for `quorate-node serve`, e.g. `--node-arg=--store-cache-mib=16`.
        /// Repeatable.
        #[arg(long = "node-arg", allow_hyphen_values = true)]
        node_args: Vec<String>,
        /// A flag for `quorate-witness serve`. Repeatable.
        #[arg(long = "witness-arg", allow_hyphen_values = true)]
        witness_args: Vec<String>,
        /// Directory for the data dirs (default: a temporary one in the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Directory to write node.tsv / witness.tsv (seconds, RSS, RssAnon, units done)
        /// and each process's smaps_rollup at the end.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Photograph node DE's public web pages in a real headless Chromium after a small
    /// federation logged a few reviews (DEMO DATA); the README shows these PNGs.
    Screenshots {
        /// Directory for the PNGs
        #[arg(long, default_value = "docs/screenshots")]
        out: PathBuf,
        /// Browser window width in pixels
        #[arg(long, default_value_t = 1100)]
        width: u32,
    },
    /// Run one attack scenario on real processes (`list` names them).
    Scenario {
        /// The scenario to run (`list` prints every name)
        name: String,
        /// Run every node in its own network namespace behind a veth pair and a bridge
        /// (root only; addresses in 10.213.K.0/24 exist only there).
        #[arg(long)]
        netns: bool,
    },
}

const DEFAULT_J: [&str; 10] = ["DE", "FR", "JP", "BR", "CA", "IN", "KR", "ZA", "AU", "CH"];

fn main() {
    fed::install_signal_handlers();
    let cli = Cli::parse();
    let netns = match &cli.cmd {
        Cmd::Up { netns, .. } | Cmd::Demo { netns, .. } | Cmd::Scenario { netns, .. } => *netns,
        Cmd::Down { .. } | Cmd::Bench { .. } | Cmd::Soak { .. } | Cmd::Screenshots { .. } => false,
    };
    if netns {
        if let Err(e) = netns::check_usable() {
            eprintln!("error: {}", quorate_proto::error_chain::Chain(e.as_ref()));
            std::process::exit(2);
        }
        netns::ENABLED.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let r = match cli.cmd {
        Cmd::Up {
            nodes,
            jurisdictions,
            dir,
            quorum,
            ..
        } => up(nodes, jurisdictions, dir, quorum),
        Cmd::Down { dir } => down(dir),
        Cmd::Demo {
            audits,
            lock,
            packages,
            no_scenarios,
            ..
        } => demo::run(audits, lock, packages, !no_scenarios),
        Cmd::Scenario { name, .. } => scenarios::run_named(&name),
        Cmd::Bench { quick, dir, out } => bench::main(quick, dir, out),
        Cmd::Soak {
            secs,
            node_rate,
            witness_rate,
            node_args,
            witness_args,
            dir,
            trace,
        } => bench::soak_only(
            &bench::OnlyPlan {
                dur: std::time::Duration::from_secs(secs),
                node_rate,
                witness_rate,
                node_args,
                witness_args,
                trace,
            },
            dir,
        ),
        Cmd::Screenshots { out, width } => screenshots::run(out, width),
    };
    match r {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {}", quorate_proto::error_chain::Chain(e.as_ref()));
            std::process::exit(2);
        }
    }
}

fn up(n: usize, js: Vec<String>, dir: PathBuf, quorum: Option<usize>) -> Result<bool> {
    let t = Instant::now();
    if n < 2 {
        bail!("--nodes must be at least 2");
    }
    let js: Vec<String> = if js.is_empty() {
        if n > DEFAULT_J.len() {
            (0..n).map(|i| format!("J{i}")).collect()
        } else {
            DEFAULT_J[..n].iter().map(|s| s.to_string()).collect()
        }
    } else {
        js
    };
    if js.len() != n {
        bail!("--jurisdictions names {} but --nodes is {n}", js.len());
    }
    if dir.join("testnet.json").exists() {
        bail!(
            "{} exists: run `quorate-testnet down --dir {}` first",
            dir.join("testnet.json").display(),
            dir.display()
        );
    }
    let refs: Vec<&str> = js.iter().map(String::as_str).collect();
    let mut fed = Fed::create(Some(&dir), &refs, Bins::locate()?)?;
    fed.detach = true;
    let res = (|| -> Result<PathBuf> {
        println!("starting {n} nodes in {}", fed.root.display());
        fed.start_all()?;
        let d = fed.wait_all_cosigned(60)?;
        println!(
            "every checkpoint cosigned by all {} peers ({:.1}s after start)",
            n - 1,
            d.as_secs_f64()
        );
        let policy = fed.root.join("quorate.policy");
        let k = quorum.unwrap_or(n.div_ceil(2));
        let all: Vec<usize> = (0..n).collect();
        fed.policy(&all, k, n - 1, &policy)?;
        let nodes: Vec<serde_json::Value> = fed
            .nodes
            .iter()
            .map(|nd| {
                serde_json::json!({
                    "jurisdiction": nd.inst.jurisdiction,
                    "url": nd.inst.url(),
                    "pid": nd.child.as_ref().map(|c| c.id()),
                    "data": nd.inst.data,
                    "log_vkey": nd.inst.log_vkey,
                    "witness_vkey": nd.inst.witness_vkey,
                    "reviewer_key": nd.inst.reviewer_key,
                })
            })
            .collect();
        let mut doc = serde_json::json!({"policy": policy, "quorum": k, "nodes": nodes});
        if let Some(net) = &fed.net {
            doc["netns"] = net.to_json();
        }
        std::fs::write(
            fed.root.join("testnet.json"),
            serde_json::to_string_pretty(&doc)?,
        )?;
        Ok(policy)
    })();
    match res {
        Ok(policy) => {
            fed.release();
            if let Some(net) = &mut fed.net {
                println!(
                    "  network namespaces {}, bridge {} (10.213.{}.1/24)",
                    net.members
                        .iter()
                        .map(|m| m.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    net.bridge,
                    net.subnet
                );
                net.release();
            }
            for nd in &fed.nodes {
                println!("  {}  {}", nd.inst.jurisdiction, nd.inst.url());
            }
            println!("policy {}", policy.display());
            println!(
                "up in {:.1}s; stop with: quorate-testnet down --dir {}",
                t.elapsed().as_secs_f64(),
                dir.display()
            );
            Ok(true)
        }
        Err(e) => {
            fed.stop_all();
            // Drop removes the namespaces, veths and bridge.
            fed.detach = false;
            Err(e)
        }
    }
}

fn alive(pid: i32) -> bool {
    // A reaped (or foreign-owned) pid is gone for us; also guard against reuse.
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|s| s.trim_start().starts_with('Z'));
    !zombie && String::from_utf8_lossy(&cmd).contains("quorate-node")
}

fn down(dir: PathBuf) -> Result<bool> {
    let state = dir.join("testnet.json");
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&state).with_context(|| format!("reading {}", state.display()))?,
    )?;
    let pids: Vec<(String, i32)> = doc["nodes"]
        .as_array()
        .context("testnet.json: no nodes")?
        .iter()
        .filter_map(|n| {
            Some((
                n["jurisdiction"].as_str()?.to_string(),
                n["pid"].as_i64()? as i32,
            ))
        })
        .collect();
    for (j, pid) in &pids {
        if alive(*pid) {
            // SAFETY: signalling a pid we started and re-identified via /proc.
            unsafe { libc::kill(*pid, libc::SIGTERM) };
            println!("  {j}: SIGTERM {pid}");
        }
    }
    let end = Instant::now() + Duration::from_secs(10);
    for (j, pid) in &pids {
        while alive(*pid) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive(*pid) {
            // SAFETY: as above.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
            println!("  {j}: SIGKILL {pid} (did not stop within 10s)");
        }
    }
    if doc.get("netns").is_some_and(|v| !v.is_null()) {
        let n = netns::remove_recorded(&doc["netns"]);
        println!(
            "  removed {n} network namespaces, their veths and bridge {}",
            doc["netns"]["bridge"].as_str().unwrap_or("?")
        );
    }
    std::fs::remove_file(&state)?;
    println!("stopped {} nodes", pids.len());
    Ok(true)
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
