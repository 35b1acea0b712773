//! A federation of real `quorate-node` processes on 127.0.0.1 (or in network namespaces,
//! `--netns`), driven through the real `quorate-node` and `quorate` binaries.

use anyhow::{Context, Result, anyhow, bail};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The `quorate-node` and `quorate` executables.
#[derive(Clone, Debug)]
pub struct Bins {
    pub node: PathBuf,
    pub cli: PathBuf,
    /// The standalone witness (`bench` times it).
    pub witness: PathBuf,
}

impl Bins {
    /// Looks next to this executable (`target/<profile>/`, or its parent for test
    /// binaries in `deps/`); builds both with cargo (same profile) if either is missing,
    /// and also whenever this binary was started by `cargo run`, so a newcomer's
    /// `cargo run -p quorate-testnet -- demo` never runs stale node or client binaries
    /// (cargo makes that a no-op when they are up to date).
    pub fn locate() -> Result<Bins> {
        let exe = std::env::current_exe()?;
        let mut dir = exe
            .parent()
            .context("executable has no directory")?
            .to_path_buf();
        let under_test = dir.file_name().is_some_and(|n| n == "deps");
        if under_test {
            dir.pop();
        }
        let bins = Bins {
            node: dir.join("quorate-node"),
            cli: dir.join("quorate"),
            witness: dir.join("quorate-witness"),
        };
        let via_cargo_run = !under_test && std::env::var_os("CARGO").is_some();
        if via_cargo_run || !bins.node.exists() || !bins.cli.exists() || !bins.witness.exists() {
            let mut cmd = build_command(&dir);
            eprintln!(
                "building quorate-node, quorate and quorate-witness into {} (the first build takes minutes)",
                dir.display()
            );
            let st = cmd.status().context("running cargo build")?;
            if !st.success() || !bins.node.exists() || !bins.cli.exists() || !bins.witness.exists()
            {
                bail!(
                    "could not build quorate-node/quorate/quorate-witness into {}",
                    dir.display()
                );
            }
        }
        Ok(bins)
    }
}

/// `cargo build` of the node and client into the target directory holding `dir`. Not
/// quiet, and with the caller's stderr: a first build takes minutes, and cargo's own
/// progress is what tells the user it is working.
fn build_command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "build",
        "-p",
        "quorate-node",
        "-p",
        "quorate-client",
        "-p",
        "quorate-witness",
    ])
    .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    .stderr(std::process::Stdio::inherit());
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    cmd
}

#[cfg(test)]
mod build_tests {
    #[test]
    fn the_build_shows_cargos_progress() {
        let c = super::build_command(std::path::Path::new("/tmp/t/release"));
        let args: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            !args.iter().any(|a| a == "-q" || a == "--quiet"),
            "{args:?}"
        );
        assert!(args.iter().any(|a| a == "--release"), "{args:?}");
    }
}

/// Pids of children that must not outlive this process (signal handler reads these).
static LIVE: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

fn register(pid: i32) {
    for slot in &LIVE {
        if slot
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

fn unregister(pid: i32) {
    for slot in &LIVE {
        let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    for slot in &LIVE {
        let pid = slot.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) is async-signal-safe.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    crate::netns::cleanup_from_signal();
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) };
}

/// On SIGINT/SIGTERM/SIGHUP kill every registered child, then exit.
pub fn install_signal_handlers() {
    for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that only calls async-signal-safe functions.
        unsafe { libc::signal(s, on_signal as *const () as libc::sighandler_t) };
    }
}

/// A free port for a listener that peers must know in advance. Chosen below Linux's
/// ephemeral range (32768-60999 by default), so the outgoing connections of the running
/// nodes cannot take it between this check and the node's bind; a random start keeps
/// parallel runs apart. (`quorate_node::fedbench::free_port` is the same rule; testnet
/// deliberately links no node code.)
pub fn free_port() -> Result<u16> {
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

pub fn run(bin: &Path, args: &[&str]) -> Result<Output> {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))
}

pub fn ok(o: Output, what: &str) -> Result<String> {
    if !o.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn http_get(url: &str) -> Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call()?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_to_string()?))
}

/// POSTs `body` as `text/plain`; returns the status and the response text.
pub fn http_post(url: &str, body: &[u8]) -> Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(url)
        .header("content-type", "text/plain")
        .send(body)?;
    let status = r.status().as_u16();
    Ok((status, r.body_mut().read_to_string()?))
}

/// Polls `f` every 50 ms until it yields `Some`, or fails after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > end {
            bail!("timed out after {secs}s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dst = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else {
            std::fs::copy(e.path(), &dst)?;
        }
    }
    Ok(())
}

/// One institute: its log node (data dir, keys, ports) and its reviewer key.
#[derive(Clone, Debug)]
pub struct Institute {
    pub jurisdiction: String,
    pub data: PathBuf,
    pub http_port: u16,
    pub p2p_port: u16,
    /// `quorate-node id` output (origin, log_vkey, witness_vkey, peer_id TOML lines).
    pub ident: String,
    pub log_vkey: String,
    pub witness_vkey: String,
    pub reviewer_key: PathBuf,
    /// Address the node listens on: 127.0.0.1, or its namespace address (`--netns`).
    pub host: String,
    /// Its network namespace (`--netns`).
    pub netns: Option<String>,
}

impl Institute {
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.http_port)
    }
}

pub struct Node {
    pub inst: Institute,
    /// Indices (into `Fed::nodes`) of the peers this node is configured with.
    pub peers: Vec<usize>,
    pub child: Option<Child>,
}

pub struct Fed {
    pub root: PathBuf,
    pub bins: Bins,
    pub nodes: Vec<Node>,
    /// Children survive this process (`up`): own process group, not killed on drop.
    pub detach: bool,
    /// Namespaces, veths and bridge of this run (`--netns`).
    pub net: Option<crate::netns::Netns>,
    _tmp: Option<tempfile::TempDir>,
    log: Mutex<()>,
}

impl Fed {
    /// Initialises one institute per jurisdiction under `root` (or a temp dir); nothing
    /// runs yet. Every node peers with every other.
    pub fn create(root: Option<&Path>, jurisdictions: &[&str], bins: Bins) -> Result<Fed> {
        let (root, tmp) = match root {
            Some(r) => {
                std::fs::create_dir_all(r)?;
                (r.canonicalize()?, None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("quorate-testnet.")
                    .tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut fed = Fed {
            root,
            bins,
            nodes: Vec::new(),
            detach: false,
            net: None,
            _tmp: tmp,
            log: Mutex::new(()),
        };
        if crate::netns::ENABLED.load(Ordering::SeqCst) {
            fed.net = Some(crate::netns::Netns::create()?);
        }
        for j in jurisdictions {
            fed.add_institute(j)?;
        }
        let n = fed.nodes.len();
        for i in 0..n {
            fed.nodes[i].peers = (0..n).filter(|&k| k != i).collect();
        }
        Ok(fed)
    }

    fn add_institute(&mut self, j: &str) -> Result<usize> {
        let data = self.root.join(j);
        if data.exists() {
            bail!("{} exists: pick an empty --dir", data.display());
        }
        let d = data.to_str().context("non-UTF-8 path")?;
        ok(
            run(
                &self.bins.node,
                &[
                    "init",
                    "--data",
                    d,
                    "--origin",
                    &format!("testnet.quorate.example/{j}"),
                ],
            )?,
            "quorate-node init",
        )?;
        let name = format!("reviewer-{j}");
        let keys = self.root.join("keys");
        std::fs::create_dir_all(&keys)?;
        ok(
            run(
                &self.bins.cli,
                &[
                    "key",
                    "generate",
                    "--name",
                    &name,
                    "--out",
                    keys.to_str().unwrap(),
                ],
            )?,
            "quorate key generate",
        )?;
        let reviewer_pub = keys.join(format!("{name}.pub"));
        ok(
            run(
                &self.bins.node,
                &[
                    "reviewers",
                    "add",
                    "--data",
                    d,
                    reviewer_pub.to_str().unwrap(),
                ],
            )?,
            "quorate-node reviewers add",
        )?;
        let (host, netns) = self.place(j)?;
        let ident = ok(
            run(&self.bins.node, &["id", "--data", d])?,
            "quorate-node id",
        )?;
        let inst = Institute {
            jurisdiction: j.to_string(),
            log_vkey: std::fs::read_to_string(data.join("log.pub"))?
                .trim()
                .to_string(),
            witness_vkey: std::fs::read_to_string(data.join("witness.pub"))?
                .trim()
                .to_string(),
            data,
            http_port: free_port()?,
            p2p_port: free_port()?,
            ident: ident.trim().to_string(),
            reviewer_key: keys.join(format!("{name}.key")),
            host,
            netns,
        };
        self.nodes.push(Node {
            inst,
            peers: Vec::new(),
            child: None,
        });
        Ok(self.nodes.len() - 1)
    }

    /// A second node with a copy of node `i`'s data dir (same log key, same PeerId), its
    /// own ports; not running. The copy is taken now, so `i` should be stopped.
    pub fn fork(&mut self, i: usize, suffix: &str) -> Result<usize> {
        let mut inst = self.nodes[i].inst.clone();
        inst.data = self.root.join(format!("{}{suffix}", inst.jurisdiction));
        copy_dir(&self.nodes[i].inst.data, &inst.data)?;
        inst.jurisdiction = format!("{}{suffix}", inst.jurisdiction);
        (inst.host, inst.netns) = self.place(&inst.jurisdiction)?;
        inst.http_port = free_port()?;
        inst.p2p_port = free_port()?;
        self.nodes.push(Node {
            inst,
            peers: Vec::new(),
            child: None,
        });
        Ok(self.nodes.len() - 1)
    }

    /// Where a new node listens: 127.0.0.1, or a fresh namespace (`--netns`).
    fn place(&mut self, j: &str) -> Result<(String, Option<String>)> {
        match &mut self.net {
            None => Ok(("127.0.0.1".into(), None)),
            Some(net) => {
                let addr = net.add(j)?;
                Ok((addr, net.members.last().map(|m| m.0.clone())))
            }
        }
    }

    /// `up` succeeded: the signal handler no longer kills these children.
    pub fn release(&self) {
        for n in &self.nodes {
            if let Some(c) = &n.child {
                unregister(c.id() as i32);
            }
        }
    }

    pub fn say(&self, msg: impl AsRef<str>) {
        let _g = self.log.lock();
        println!("  {}", msg.as_ref());
    }

    fn config(&self, i: usize) -> String {
        let me = &self.nodes[i].inst;
        let mut c = format!(
            "listen = \"{}:{}\"\nbatch_delay_ms = 20\nwitness_quorum_wait_ms = 3000\n\
             recosign_interval_ms = 2000\ncosign_timeout_ms = 2000\nshutdown_grace_ms = 3000\n\
             [gossip]\nlisten = \"/ip4/{}/tcp/{}\"\nheartbeat_ms = 200\n",
            me.host, me.http_port, me.host, me.p2p_port
        );
        for &k in &self.nodes[i].peers {
            let p = &self.nodes[k].inst;
            c.push_str(&format!(
                "\n[[peer]]\n{}\naddr = \"/ip4/{}/tcp/{}\"\nurl = \"{}\"\n",
                p.ident,
                p.host,
                p.p2p_port,
                p.url()
            ));
        }
        c
    }

    /// Writes node `i`'s config and starts `quorate-node serve`.
    pub fn start(&mut self, i: usize) -> Result<()> {
        if self.nodes[i].child.is_some() {
            return Ok(());
        }
        match self.start_once(i) {
            // A port picked free by `free_port` can be taken by another process before the
            // node binds it (tests run federations side by side): the node exits naming
            // the address. That is the test machine's race, not the node's; pick new ports
            // once and start again.
            Err(e) if self.exited_on_bind(i) => {
                self.kill(i);
                self.say(format!(
                    "{}: a port was taken before the node bound it; new ports ({e})",
                    self.nodes[i].inst.jurisdiction
                ));
                self.nodes[i].inst.http_port = free_port()?;
                self.nodes[i].inst.p2p_port = free_port()?;
                self.start_once(i)
            }
            r => r,
        }
    }

    /// Whether node `i`'s process has exited because it could not bind its addresses.
    fn exited_on_bind(&mut self, i: usize) -> bool {
        let exited = self.nodes[i]
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
        let tail = self.log_tail(i);
        exited && (tail.contains("listening on /ip4/") || tail.contains("binding "))
    }

    fn start_once(&mut self, i: usize) -> Result<()> {
        let inst = self.nodes[i].inst.clone();
        let cfg = self.root.join(format!("{}.toml", inst.jurisdiction));
        std::fs::write(&cfg, self.config(i))?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(format!("{}.out", inst.jurisdiction)))?;
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(format!("{}.log", inst.jurisdiction)))?;
        let mut cmd = Command::new(&self.bins.node);
        cmd.arg("serve")
            .arg("--data")
            .arg(&inst.data)
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(ns) = &inst.netns {
            use std::os::fd::AsRawFd;
            let f = crate::netns::Netns::ns_file(ns)?;
            let fd = f.as_raw_fd();
            // SAFETY: setns is a plain syscall; `f` outlives spawn (the closure owns it).
            unsafe {
                cmd.pre_exec(move || {
                    let _keep = &f;
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if self.detach {
            cmd.process_group(0);
        } else {
            // SAFETY: prctl is async-signal-safe; the child dies with this process.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().context("spawning quorate-node serve")?;
        // Detached (`up`) children too, until `release`: Ctrl-C during `up` kills them.
        register(child.id() as i32);
        self.nodes[i].child = Some(child);
        let url = self.nodes[i].inst.url();
        wait_for(
            20,
            &format!("{} to answer /healthz", inst.jurisdiction),
            || matches!(http_get(&format!("{url}/healthz")), Ok((200, _))).then_some(()),
        )
        .map_err(|e| anyhow!("{e}\n{}", self.log_tail(i)))
    }

    pub fn start_all(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            self.start(i)?;
        }
        Ok(())
    }

    pub fn log_tail(&self, i: usize) -> String {
        let p = self
            .root
            .join(format!("{}.log", self.nodes[i].inst.jurisdiction));
        let s = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// SIGKILL, no warning.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
            unregister(c.id() as i32);
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            terminate(&mut c);
            unregister(c.id() as i32);
        }
    }

    pub fn stop_all(&mut self) {
        for n in &self.nodes {
            if let Some(c) = &n.child {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            }
        }
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
    }

    pub fn url(&self, i: usize) -> String {
        self.nodes[i].inst.url()
    }

    /// How many witness cosignatures node `i`'s newest checkpoint carries, and its size
    /// (`/checkpoint/latest`: witnessing progress; `/checkpoint` serves it only once it
    /// reached the node's cosigning target).
    pub fn cosignatures(&self, i: usize) -> Option<(usize, u64)> {
        let (s, body) = http_get(&format!("{}/checkpoint/latest", self.url(i))).ok()?;
        if s != 200 {
            return None;
        }
        let size = body.lines().nth(1)?.parse().ok()?;
        let sigs = body.lines().filter(|l| l.starts_with("— ")).count();
        Some((sigs.saturating_sub(1), size))
    }

    /// Waits until node `i`'s checkpoint (of at least `min_size`) is cosigned by `n` peers.
    pub fn wait_cosigned(&self, i: usize, n: usize, min_size: u64, secs: u64) -> Result<()> {
        let j = &self.nodes[i].inst.jurisdiction;
        wait_for(secs, &format!("{j}'s checkpoint cosigned by {n}"), || {
            self.cosignatures(i)
                .filter(|&(c, s)| c >= n && s >= min_size)
                .map(|_| ())
        })
        .map_err(|e| anyhow!("{e}\n{}", self.log_tail(i)))
    }

    /// Every running node's checkpoint cosigned by all of its configured peers.
    pub fn wait_all_cosigned(&self, secs: u64) -> Result<Duration> {
        let t = Instant::now();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.child.is_some() {
                self.wait_cosigned(i, n.peers.len(), 0, secs)?;
            }
        }
        Ok(t.elapsed())
    }

    pub fn size(&self, i: usize) -> Option<u64> {
        self.cosignatures(i).map(|(_, s)| s)
    }

    /// `GET /v1/equivocations` on node `i`: the evidence texts.
    pub fn equivocations(&self, i: usize) -> Vec<String> {
        match http_get(&format!("{}/v1/equivocations", self.url(i))) {
            Ok((200, body)) => serde_json::from_str::<Vec<String>>(&body).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub fn q(&self, args: &[&str]) -> Result<Output> {
        run(&self.bins.cli, args)
    }

    /// Signs a review with institute `i`'s reviewer key (or `key`); returns the file.
    pub fn review(
        &self,
        key: &Path,
        pkg: &str,
        version: &str,
        digest: &str,
        notes: &str,
        out: &Path,
    ) -> Result<PathBuf> {
        let file = out.join(format!(
            "{}-{pkg}-{version}-{}.att",
            key.file_stem().unwrap().to_string_lossy(),
            &digest[..digest.len().min(8)]
        ));
        ok(
            self.q(&[
                "review",
                "--key",
                key.to_str().unwrap(),
                "--package",
                &format!("cargo/{pkg}@{version}"),
                "--digest",
                digest,
                "--criteria",
                "safe-to-deploy",
                "--notes",
                notes,
                "--out",
                file.to_str().unwrap(),
            ])?,
            "quorate review",
        )?;
        Ok(file)
    }

    /// Signs a review of `purl` (any ecosystem) at `digest` (its ecosystem's notation).
    pub fn review_purl(
        &self,
        key: &Path,
        purl: &str,
        digest: &str,
        notes: &str,
        out: &Path,
    ) -> Result<PathBuf> {
        let tag: String = digest
            .chars()
            .rev()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let file = out.join(format!(
            "{}-{}-{tag}.att",
            key.file_stem().unwrap_or_default().to_string_lossy(),
            purl.replace(['/', '@', ':', '%'], "_")
        ));
        ok(
            self.q(&[
                "review",
                "--key",
                key.to_str().unwrap_or_default(),
                "--package",
                purl,
                "--digest",
                digest,
                "--criteria",
                "safe-to-deploy",
                "--notes",
                notes,
                "--out",
                file.to_str().unwrap_or_default(),
            ])?,
            "quorate review",
        )?;
        Ok(file)
    }

    /// `quorate check LOCK --policy POLICY --cache CACHE EXTRA...`.
    pub fn check(
        &self,
        lock: &Path,
        policy: &Path,
        cache: &Path,
        extra: &[&str],
    ) -> Result<Output> {
        let mut a = vec![
            "check",
            lock.to_str().unwrap_or_default(),
            "--policy",
            policy.to_str().unwrap_or_default(),
            "--cache",
            cache.to_str().unwrap_or_default(),
        ];
        a.extend_from_slice(extra);
        self.q(&a)
    }

    /// `quorate submit` to node `i`, verifying the proofs under its log key.
    pub fn submit(&self, i: usize, files: &[PathBuf]) -> Result<Output> {
        let url = self.url(i);
        let mut args = vec![
            "submit".to_string(),
            "--node".into(),
            url,
            "--log".into(),
            self.nodes[i].inst.log_vkey.clone(),
        ];
        args.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        self.q(&a)
    }

    /// `quorate policy new` over `members` (indices), written to `path`.
    pub fn policy(
        &self,
        members: &[usize],
        quorum: usize,
        min_witnesses: usize,
        path: &Path,
    ) -> Result<()> {
        let mut args = vec!["policy".to_string(), "new".into()];
        for &i in members {
            let inst = &self.nodes[i].inst;
            args.push("--log".into());
            args.push(format!(
                "{}={}@{}",
                inst.jurisdiction,
                inst.log_vkey,
                inst.url()
            ));
            args.push("--witness".into());
            args.push(format!("{}={}", inst.jurisdiction, inst.witness_vkey));
        }
        args.push("--min-witnesses".into());
        args.push(min_witnesses.to_string());
        args.push("--quorum".into());
        args.push(quorum.to_string());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = ok(self.q(&a)?, "quorate policy new")?;
        std::fs::write(path, text)?;
        Ok(())
    }
}

/// SIGTERM, wait up to 10 s, then SIGKILL.
pub fn terminate(c: &mut Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}

impl Drop for Fed {
    fn drop(&mut self) {
        if !self.detach {
            self.stop_all();
            if let Some(net) = &mut self.net {
                net.remove();
            }
        }
    }
}

/// A lockfile of crates.io packages `(name, version, checksum)`.
pub fn lockfile(pkgs: &[(String, String, String)]) -> String {
    let mut s = String::from("version = 4\n");
    for (n, v, c) in pkgs {
        s.push_str(&format!(
            "\n[[package]]\nname = \"{n}\"\nversion = \"{v}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{c}\"\n"
        ));
    }
    s
}

/// The crates.io packages (with checksums) of a Cargo.lock text.
pub fn parse_lock(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let (mut name, mut ver) = (String::new(), String::new());
    for line in text.lines() {
        let val = |l: &str| l.split('"').nth(1).unwrap_or("").to_string();
        if line == "[[package]]" {
            name.clear();
            ver.clear();
        } else if line.starts_with("name = ") {
            name = val(line);
        } else if line.starts_with("version = ") {
            ver = val(line);
        } else if line.starts_with("checksum = ") {
            out.push((name.clone(), ver.clone(), val(line)));
        }
    }
    out
}
