//! A loopback federation of real `quorate-node serve` processes, for
//! `quorate-node bench-federation` and the federation tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::CosignatureVerifier;
use quorate_proto::note::{self, Ed25519Verifier};

use crate::datadir::DataDir;
use crate::gossip::peer_id_from_skey;

/// One initialised node's identity and addresses.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub dir: PathBuf,
    pub origin: String,
    pub log_vkey: String,
    pub witness_vkey: String,
    pub peer_id: String,
    pub gossip_port: u16,
    /// HTTP base URL given to peers (`[[peer]] url`), when known.
    pub url: Option<String>,
}

impl NodeSpec {
    /// Initialises a data dir at `dir` for `origin`, registers `reviewer`, and picks a
    /// free gossip port.
    pub fn init(dir: &Path, origin: &str, reviewer: &SigningKey) -> anyhow::Result<NodeSpec> {
        let d = DataDir::new(dir);
        let log_vkey = d.init(origin)?;
        let witness_vkey = std::fs::read_to_string(d.witness_pub_path())?
            .trim()
            .to_owned();
        let peer_id = peer_id_from_skey(&d.log_skey()?)?.to_string();
        crate::reviewers::add(
            &d.reviewers_path(),
            crate::reviewers::parse_reviewer_vkey(&reviewer_vkey(reviewer))?,
        )?;
        Ok(NodeSpec {
            dir: dir.to_owned(),
            origin: origin.to_owned(),
            log_vkey,
            witness_vkey,
            peer_id,
            gossip_port: free_port()?,
            url: None,
        })
    }

    pub fn gossip_addr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.gossip_port)
    }

    /// `[[peer]]` TOML for this node.
    pub fn peer_toml(&self) -> String {
        let mut s = format!(
            "[[peer]]\norigin = {:?}\nlog_vkey = {:?}\nwitness_vkey = {:?}\npeer_id = {:?}\naddr = {:?}\n",
            self.origin,
            self.log_vkey,
            self.witness_vkey,
            self.peer_id,
            self.gossip_addr()
        );
        if let Some(u) = &self.url {
            s.push_str(&format!("url = {u:?}\n"));
        }
        s.push('\n');
        s
    }

    /// A config for this node with `peers`, fast test timings, and `extra` TOML (top-level
    /// keys).
    pub fn config(&self, peers: &[&NodeSpec], extra: &str) -> String {
        let mut s = format!(
            "batch_delay_ms = 5\n{extra}\n[gossip]\nlisten = {:?}\nheartbeat_ms = 200\n\n",
            self.gossip_addr()
        );
        for p in peers {
            s.push_str(&p.peer_toml());
        }
        s
    }

    pub fn log_verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier::from_vkey(&self.log_vkey).expect("valid vkey")
    }

    pub fn witness_verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier::from_vkey(&self.witness_vkey).expect("valid vkey")
    }
}

/// The reviewer vkey string of `k`.
pub fn reviewer_vkey(k: &SigningKey) -> String {
    note::format_vkey("reviewer.example", 0x01, k.verifying_key().as_bytes()).expect("valid")
}

/// The first line a child prints on stdout (`listening on ADDR`), delivered on a channel;
/// the rest of its output is drained so the child never writes into a closed pipe.
pub fn first_stdout_line(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = Vec::new();
        let _ = r.read_to_end(&mut sink);
    });
    rx
}

/// A free TCP port on 127.0.0.1 for a listener whose address must be known before it
/// starts (peers are configured with it). Chosen below Linux's ephemeral range
/// (32768-60999 by default), so the outgoing connections of running nodes, which take
/// their source ports from that range, cannot grab it between this check and the bind;
/// a random start keeps parallel tests apart.
pub fn free_port() -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let seed = std::process::id().wrapping_mul(2_654_435_761).wrapping_add(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    );
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(7919, Ordering::Relaxed);
        let port = (LOW + (seed.wrapping_add(n) % SPAN)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port in {LOW}..{}", LOW + SPAN)
}

/// A running node; SIGKILLed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    pub http: SocketAddr,
    pub log_path: PathBuf,
}

impl Proc {
    /// Runs `bin serve` on `spec` with the config text, logging to `DIR/../<name>.log`.
    pub fn spawn(bin: &Path, spec: &NodeSpec, config: &str) -> anyhow::Result<Proc> {
        let cfg = spec.dir.with_extension("toml");
        std::fs::write(&cfg, config)?;
        let log_path = spec.dir.with_extension("log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--data")
            .arg(&spec.dir)
            .arg("--config")
            .arg(&cfg)
            .args(["--listen", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("spawning quorate-node serve")?;
        let stdout = child.stdout.take().context("stdout")?;
        let rx = first_stdout_line(stdout);
        let mut proc = Proc {
            child,
            http: "127.0.0.1:1".parse()?,
            log_path,
        };
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            bail!(
                "node did not start ({line:?}); log:\n{}",
                std::fs::read_to_string(&proc.log_path).unwrap_or_default()
            );
        };
        proc.http = addr.parse()?;
        Ok(proc)
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (at most 20 s, then SIGKILL).
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    pub fn get(&self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        http(self.http, "GET", path, None, &[])
    }

    pub fn post(&self, path: &str, ctype: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        http(self.http, "POST", path, Some(ctype), body)
    }

    /// Submits one envelope; returns the tree size of the acked checkpoint.
    pub fn submit(&self, envelope: &[u8]) -> anyhow::Result<u64> {
        let (status, body) = self.post("/v1/attestations", "application/x-protobuf", envelope)?;
        if status != 201 && status != 200 {
            bail!("submit: {status} {}", String::from_utf8_lossy(&body));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        v["size"].as_u64().context("size")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request on a fresh connection; returns status and body (a chunked body
/// is decoded).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: &[u8],
) -> anyhow::Result<(u16, Vec<u8>)> {
    let (status, _, body) = http_full(addr, method, path, ctype, body)?;
    Ok((status, body))
}

/// As [`http`], also returning the response head (status line and headers).
pub fn http_full(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: &[u8],
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = ctype {
        head.push_str(&format!("Content-Type: {c}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no header end")?;
    let head = std::str::from_utf8(&raw[..end])?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status")?;
    let body = &raw[end + 4..];
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((status, head.to_owned(), body))
}

/// Decodes an HTTP/1.1 `Transfer-Encoding: chunked` body (streamed responses such as
/// entry bundles use it). Chunk extensions and trailers are ignored; a size that runs past
/// the data is an error, not a panic.
pub fn dechunk(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let le = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line without CRLF")?;
        let line = std::str::from_utf8(&rest[..le]).context("chunk size not UTF-8")?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).context("chunk size not hex")?;
        rest = &rest[le + 2..];
        if size == 0 {
            return Ok(out);
        }
        let data = rest.get(..size).context("chunk shorter than its size")?;
        out.extend_from_slice(data);
        rest = rest.get(size + 2..).context("chunk without its CRLF")?;
    }
}

/// How many of `witnesses` validly cosigned the checkpoint `note` of `log`, and its size.
pub fn cosigners(
    note: &[u8],
    log: &Ed25519Verifier,
    witnesses: &[CosignatureVerifier],
) -> Option<(u64, usize)> {
    let v = verify_checkpoint(note, log, witnesses).ok()?;
    Some((v.checkpoint().size(), v.cosignatures().len()))
}

/// The size a served checkpoint note claims and how many signature lines it carries,
/// unverified (for polling; see [`cosigners`] for the check).
fn signature_lines(note: &[u8]) -> Option<(u64, usize)> {
    let s = std::str::from_utf8(note).ok()?;
    let (body, sigs) = s.split_once("\n\n")?;
    let size = body.lines().nth(1)?.parse().ok()?;
    Some((
        size,
        sigs.lines().filter(|l| l.starts_with('\u{2014}')).count(),
    ))
}

/// `bench-federation`: `n` nodes, then `checkpoints` times: submit to one node and time
/// until its `/checkpoint` at that size carries cosignatures from all `n - 1` peers.
/// What `bench-federation` measured.
#[derive(Debug, Clone)]
pub struct FedReport {
    /// Nodes in the federation.
    pub nodes: usize,
    /// Start to every checkpoint cosigned by all peers.
    pub warmup: Duration,
    /// Submission ack -> all peers' cosignatures on `/checkpoint`, sorted.
    pub latencies: Vec<Duration>,
    /// Seconds of idle time over which `idle_cpu` was measured (0: not measured).
    pub idle_secs: f64,
    /// CPU used by each node while idle, as a fraction of one core.
    pub idle_cpu: Vec<f64>,
    /// Time for `nodes - 1` concurrent 4 KiB write + fdatasync, each to its own file on
    /// the disk the nodes share, sorted: what the witness commits of one round cost
    /// together when every node's state is on the same disk.
    pub concurrent_fsyncs: Vec<Duration>,
}

impl FedReport {
    fn pct(&self, p: f64) -> Duration {
        pct(&self.latencies, p)
    }

    /// The report as one JSON object (durations in microseconds).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "nodes": self.nodes,
            "checkpoints": self.latencies.len(),
            "warmup_s": self.warmup.as_secs_f64(),
            "cosign_p50_us": self.pct(0.5).as_secs_f64() * 1e6,
            "cosign_p99_us": self.pct(0.99).as_secs_f64() * 1e6,
            "cosign_max_us": self.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
            "idle_secs": self.idle_secs,
            "idle_cpu": self.idle_cpu,
            "concurrent_fsyncs_p50_us": pct(&self.concurrent_fsyncs, 0.5).as_secs_f64() * 1e6,
            "concurrent_fsyncs_p99_us": pct(&self.concurrent_fsyncs, 0.99).as_secs_f64() * 1e6,
        })
    }
}

impl std::fmt::Display for FedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "federation of {} nodes (processes on loopback), warm-up to full cosigning {:.2} s\n\
             new checkpoint -> cosignatures from all {} peers on /checkpoint, over {} checkpoints:\n\
             p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (HTTP poll every 1 ms; measured from the submission ack)",
            self.nodes,
            self.warmup.as_secs_f64(),
            self.nodes - 1,
            self.latencies.len(),
            self.pct(0.5).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3,
            self.latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        )?;
        write!(
            f,
            "\n{} concurrent fsyncs on the nodes' disk: p50 {:.1} ms, p99 {:.1} ms",
            self.nodes - 1,
            pct(&self.concurrent_fsyncs, 0.5).as_secs_f64() * 1e3,
            pct(&self.concurrent_fsyncs, 0.99).as_secs_f64() * 1e3,
        )?;
        if self.idle_secs > 0.0 {
            let max = self.idle_cpu.iter().copied().fold(0.0, f64::max);
            write!(
                f,
                "\nidle CPU per node over {:.0} s: max {:.2} % of a core",
                self.idle_secs,
                max * 100.0
            )?;
        }
        Ok(())
    }
}

/// The `p` quantile of sorted `v` (zero when empty).
fn pct(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// `rounds` times: `k` threads each append 4 KiB to its own file in `dir` and fdatasync
/// it, all at once; returns how long each round took until the last was durable, sorted.
fn concurrent_fsyncs(dir: &Path, k: usize, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let files: Vec<std::fs::File> = (0..k)
        .map(|i| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("fsync-{i}.tmp")))
        })
        .collect::<std::io::Result<_>>()?;
    let block = [0x5au8; 4096];
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = files
                .iter()
                .map(|f| {
                    s.spawn(move || -> std::io::Result<()> {
                        let mut f = f;
                        f.write_all(&block)?;
                        f.sync_data()
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or(Ok(())))
        })?;
        out.push(t.elapsed());
    }
    out.sort();
    Ok(out)
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`. Linux
/// reports it in USER_HZ ticks, which the kernel ABI fixes at 100 per second.
fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = s.rsplit_once(')').context("malformed /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<u64> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .context("malformed /proc stat")
    };
    Ok(Duration::from_millis((tick(11)? + tick(12)?) * 10))
}

/// Starts `n` federated nodes, times `checkpoints` cosigning rounds, then measures each
/// node's CPU use over `idle_secs` seconds without submissions (0: skipped). With `keep`,
/// the nodes' data dirs and logs go in that new directory and stay.
pub fn run(
    n: usize,
    checkpoints: usize,
    idle_secs: u64,
    keep: Option<&Path>,
) -> anyhow::Result<FedReport> {
    anyhow::ensure!(n >= 2, "need at least 2 nodes");
    let bin = std::env::current_exe()?;
    // Removed when the run ends, unless the caller keeps the nodes' directories.
    let tmp;
    let root = match keep {
        Some(dir) => {
            let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
            anyhow::ensure!(empty, "{} exists and is not empty", dir.display());
            std::fs::create_dir_all(dir)?;
            dir.to_path_buf()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    // Before the nodes start, so nothing else of this run is on the disk.
    let concurrent_fsyncs = concurrent_fsyncs(&root, n - 1, 50)?;
    let reviewer = SigningKey::from_bytes(&[0x42; 32]);
    let specs: Vec<NodeSpec> = (0..n)
        .map(|i| {
            NodeSpec::init(
                &root.join(format!("n{i}")),
                &format!("bench.example/log{i}"),
                &reviewer,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let mut procs = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let peers: Vec<&NodeSpec> = specs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p)
            .collect();
        procs.push(Proc::spawn(&bin, s, &s.config(&peers, ""))?);
    }
    let witnesses: Vec<Vec<CosignatureVerifier>> = (0..n)
        .map(|i| {
            specs
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| p.witness_verifier())
                .collect()
        })
        .collect();
    // Warm-up: wait until every node's checkpoint is cosigned by all peers.
    let start = Instant::now();
    for (i, p) in procs.iter().enumerate() {
        loop {
            let (_, body) = p.get("/checkpoint")?;
            if cosigners(&body, &specs[i].log_verifier(), &witnesses[i])
                .is_some_and(|(_, c)| c == n - 1)
            {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("federation did not converge in 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let warmup = start.elapsed();
    let mut lat = Vec::with_capacity(checkpoints);
    for k in 0..checkpoints {
        let i = k % n;
        let env = crate::bench::sample_envelope(&reviewer, "bench-fed", &format!("1.0.{k}"));
        let size = procs[i].submit(&env)?;
        let t0 = Instant::now();
        // Polled with a count of lines (this process shares the cores with the nodes, and
        // checking 7 signatures per poll would slow what it measures); the note that ends
        // the wait is then verified in full, outside the timed part.
        let served = loop {
            let (_, body) = procs[i].get("/checkpoint")?;
            if signature_lines(&body).is_some_and(|(s, c)| s >= size && c == n) {
                break body;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("checkpoint {size} of node {i} not cosigned by all peers in 30 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        lat.push(t0.elapsed());
        if !cosigners(&served, &specs[i].log_verifier(), &witnesses[i])
            .is_some_and(|(s, c)| s >= size && c == n - 1)
        {
            bail!(
                "node {i} served a checkpoint of size >= {size} whose cosignatures do not verify"
            );
        }
    }
    lat.sort();
    let mut idle_cpu = Vec::new();
    if idle_secs > 0 {
        let before: Vec<Duration> = procs
            .iter()
            .map(|p| cpu_time(p.child.id()))
            .collect::<anyhow::Result<_>>()?;
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(idle_secs));
        let wall = t.elapsed().as_secs_f64();
        for (p, b) in procs.iter().zip(before) {
            idle_cpu.push((cpu_time(p.child.id())? - b).as_secs_f64() / wall);
        }
    }
    Ok(FedReport {
        nodes: n,
        warmup,
        latencies: lat,
        idle_secs: idle_secs as f64,
        idle_cpu,
        concurrent_fsyncs,
    })
}
