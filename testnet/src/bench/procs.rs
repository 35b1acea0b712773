//! Measurements that need a process of their own: a `serve` started on a data directory
//! (restart time, memory soak under load) and a child's peak memory.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use quorate_proto::attestation::{
    self, Attestation, Digest, Evidence, Reviewer, ReviewerKind, Scope, Verdict,
};
use quorate_proto::note::Signer;

use crate::fed::{ok, run};

/// A `quorate-node serve` child on 127.0.0.1; SIGKILLed and reaped on drop.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Spawn to its first 200 on `/checkpoint`.
    pub ready_after: Duration,
}

impl Serve {
    /// Starts `node serve --data DIR --listen 127.0.0.1:0` (standalone, no config) and
    /// waits until `/checkpoint` answers 200.
    pub fn start(node: &Path, data: &Path, log: &Path) -> Result<Serve> {
        let mut cmd = Command::new(node);
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"]);
        Serve::spawn(cmd, log, "checkpoint")
    }

    /// Starts `cmd` (a server that prints `listening on ADDR` first on stdout, stderr to
    /// `log`) and waits until GET `ready` answers 200.
    pub fn spawn(mut cmd: Command, log: &Path, ready: &str) -> Result<Serve> {
        let err = std::fs::File::create(log)?;
        let t = Instant::now();
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .context("spawning a server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let mut s = Serve {
            child,
            url: String::new(),
            ready_after: Duration::ZERO,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            bail!(
                "server did not start ({line:?}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        };
        s.url = format!("http://{addr}");
        let agent = agent();
        loop {
            if let Ok(r) = agent.get(format!("{}/{ready}", s.url)).call()
                && r.status() == 200
            {
                break;
            }
            if t.elapsed() > Duration::from_secs(120) {
                bail!("{} never served /{ready}", s.url);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        s.ready_after = t.elapsed();
        Ok(s)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn proc_status_kb(pid: u32, field: &str) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

pub(super) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Creates a standalone log in `data` with one registered reviewer whose key has `seed`.
pub fn init_log(node: &Path, data: &Path, seed: [u8; 32]) -> Result<SigningKey> {
    let d = data.to_str().context("non-UTF-8 path")?;
    ok(
        run(
            node,
            &["init", "--data", d, "--origin", "bench.example/soak"],
        )?,
        "quorate-node init",
    )?;
    let vkey = Signer::generate("soak-reviewer", seed)?.vkey();
    ok(
        run(node, &["reviewers", "add", "--data", d, &vkey])?,
        "quorate-node reviewers add",
    )?;
    Ok(SigningKey::from_bytes(&seed))
}

pub(super) fn envelope(key: &SigningKey, i: u64) -> Result<Vec<u8>> {
    let att = Attestation {
        artifacts: vec![],
        scope: Some(Scope::Full),
        evidence: Some(Evidence::SourceReview),
        reveal: None,
        ecosystem: "cargo".into(),
        package: format!("soak{}", i % 5000),
        version: format!("1.0.{i}"),
        digest: Digest::Sha256([0x5a; 32]),
        delta_from: None,
        criteria: vec!["safe-to-deploy".into()],
        verdict: Verdict::Certify,
        reviewer: Reviewer {
            kind: ReviewerKind::Human,
            name: "Soak Reviewer".into(),
            public_key: key.verifying_key().to_bytes(),
        },
        organisation: "Bench Institute".into(),
        time: 1_760_000_000,
        notes: "Reviewed the full source; no unsafe code, no build script.".into(),
        links: vec![],
        supersedes: None,
    };
    Ok(attestation::sign(&att, key)?)
}

/// Runs `cmd` to completion; returns its wall time, peak RSS (bytes, from `wait4`'s
/// rusage, so the child's own high-water mark) and stdout.
pub fn timed_child(cmd: Command) -> Result<(Duration, u64, String)> {
    timed_child_cpu(cmd).map(|(w, r, _, o)| (w, r, o))
}

/// CPU time (user + system) a process has used so far (`/proc/PID/stat`, clock ticks of
/// 10 ms).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = s.rsplit_once(')').map(|x| x.1).context("malformed stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no field {i} in /proc/{pid}/stat"))
    };
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// [`timed_child`] plus the child's CPU time (user + system, from the same rusage).
pub fn timed_child_cpu(mut cmd: Command) -> Result<(Duration, u64, Duration, String)> {
    let t = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning child")?;
    let pid = child.id() as libc::pid_t;
    // Read the pipes on threads so a chatty child cannot block; wait4 reaps it.
    let (mut out, mut err) = (child.stdout, child.stderr);
    let ho = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = std::io::Read::read_to_string(o, &mut s);
        }
        s
    });
    let he = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut s);
        }
        s
    });
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for a child we spawned; pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = t.elapsed();
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let stdout = ho.join().unwrap_or_default();
    let stderr = he.join().unwrap_or_default();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("child failed (status {status}): {stdout}{stderr}");
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    // ru_maxrss is in KiB on Linux.
    Ok((
        wall,
        ru.ru_maxrss as u64 * 1024,
        tv(ru.ru_utime) + tv(ru.ru_stime),
        stdout,
    ))
}
