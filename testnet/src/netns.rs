//! `--netns`: every node in its own Linux network namespace, joined to a bridge in the
//! root namespace by a veth pair, so traffic really crosses interfaces. Addresses come
//! from a private test subnet 10.213.K.0/24 that exists only on this bridge and inside
//! those namespaces (bridge .1, node i .(i+10)); no default route, no NAT, no forwarding.
//! Everything is named with a run id (`qrt-ID-J`, `qrtbrID`, `qrtIDhN`) so leftovers are
//! identifiable, and removed on drop, on SIGINT/SIGTERM/SIGHUP, and by `down`.

use anyhow::{Context, Result, bail};
use std::ffi::CString;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// Set by `--netns`: every `Fed` created afterwards uses namespaces.
pub static ENABLED: AtomicBool = AtomicBool::new(false);

/// Root, and `ip` on PATH; `--netns` refuses otherwise.
pub fn check_usable() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("?");
    if euid != "0" {
        bail!(
            "--netns needs root (effective uid is {euid}): it creates network namespaces, veth pairs and a bridge"
        );
    }
    let ok = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("--netns needs the `ip` command (iproute2) on PATH");
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    let o = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ip")?;
    if !o.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(())
}

/// Cleanup shell commands the signal handler runs (leaked C strings, one per run).
static CLEANUP: [AtomicPtr<libc::c_char>; 16] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; 16];

/// Runs every registered cleanup command (async-signal-safe: fork, execv, waitpid).
pub fn cleanup_from_signal() {
    for slot in &CLEANUP {
        let p = slot.load(Ordering::SeqCst);
        if p.is_null() {
            continue;
        }
        // SAFETY: fork/execv/waitpid/_exit are async-signal-safe; argv points to leaked,
        // NUL-terminated strings.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                let argv = [
                    c"sh".as_ptr(),
                    c"-c".as_ptr(),
                    p as *const libc::c_char,
                    std::ptr::null(),
                ];
                libc::execv(c"/bin/sh".as_ptr(), argv.as_ptr());
                libc::_exit(127);
            } else if pid > 0 {
                let mut st = 0;
                libc::waitpid(pid, &mut st, 0);
            }
        }
    }
}

/// One run's bridge and namespaces.
pub struct Netns {
    pub id: String,
    pub bridge: String,
    pub subnet: u8,
    /// (namespace, host-side veth) per node, in order of `add`.
    pub members: Vec<(String, String)>,
    slot: Option<usize>,
}

impl Netns {
    /// Creates the bridge `qrtbrID` with 10.213.K.1/24 (K unused on this machine).
    pub fn create() -> Result<Netns> {
        check_usable()?;
        let seed = std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
        let id = format!("{:05x}", seed & 0xfffff);
        let addrs = String::from_utf8_lossy(
            &Command::new("ip")
                .args(["-o", "-4", "addr"])
                .output()
                .context("ip addr")?
                .stdout,
        )
        .into_owned();
        let subnet = (0..250u32)
            .map(|k| ((seed.wrapping_add(k)) % 250 + 1) as u8)
            .find(|k| !addrs.contains(&format!(" 10.213.{k}.")))
            .context("no free 10.213.K.0/24 subnet")?;
        let bridge = format!("qrtbr{id}");
        let mut n = Netns {
            id,
            bridge,
            subnet,
            members: Vec::new(),
            slot: None,
        };
        n.register();
        ip(&["link", "add", &n.bridge, "type", "bridge"])?;
        // Bridged frames must not be dropped by the host's iptables FORWARD policy
        // (br_netfilter); best effort, older kernels lack the option.
        let _ = ip(&[
            "link",
            "set",
            &n.bridge,
            "type",
            "bridge",
            "nf_call_iptables",
            "0",
        ]);
        ip(&[
            "addr",
            "add",
            &format!("10.213.{subnet}.1/24"),
            "dev",
            &n.bridge,
        ])?;
        ip(&["link", "set", &n.bridge, "up"])?;
        Ok(n)
    }

    /// The shell command that removes everything of this run (idempotent).
    fn cleanup_cmd(&self) -> String {
        let mut s = String::new();
        for (ns, veth) in &self.members {
            s.push_str(&format!(
                "ip link del {veth} 2>/dev/null; ip netns del {ns} 2>/dev/null; "
            ));
        }
        s.push_str(&format!("ip link del {} 2>/dev/null; true", self.bridge));
        s
    }

    fn register(&mut self) {
        let c = CString::new(self.cleanup_cmd()).unwrap().into_raw();
        match self.slot {
            Some(i) => CLEANUP[i].store(c, Ordering::SeqCst),
            None => {
                for (i, slot) in CLEANUP.iter().enumerate() {
                    if slot
                        .compare_exchange(
                            std::ptr::null_mut(),
                            c,
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        )
                        .is_ok()
                    {
                        self.slot = Some(i);
                        return;
                    }
                }
            }
        }
    }

    /// Namespace `qrt-ID-J` with veth `qrtIDnN` (inside, 10.213.K.(N+10)/24, plus `lo`),
    /// its peer `qrtIDhN` on the bridge. Returns the node's address.
    pub fn add(&mut self, jurisdiction: &str) -> Result<String> {
        let n = self.members.len();
        if n > 200 {
            bail!("too many nodes for one /24");
        }
        let ns = format!("qrt-{}-{jurisdiction}", self.id);
        let host = format!("qrt{}h{n}", self.id);
        let inner = format!("qrt{}n{n}", self.id);
        let addr = format!("10.213.{}.{}", self.subnet, n + 10);
        self.members.push((ns.clone(), host.clone()));
        self.register();
        ip(&["netns", "add", &ns])?;
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", &inner, "netns", &ns,
        ])?;
        ip(&["link", "set", &host, "master", &self.bridge])?;
        ip(&["link", "set", &host, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &inner,
        ])?;
        ip(&["-n", &ns, "link", "set", &inner, "up"])?;
        Ok(addr)
    }

    /// Removes veths, namespaces and the bridge (processes must be stopped first).
    pub fn remove(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &self.cleanup_cmd()])
            .stdin(Stdio::null())
            .status();
        if let Some(i) = self.slot.take() {
            CLEANUP[i].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }

    /// For `testnet.json`: what `down` must remove.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "bridge": self.bridge,
            "subnet": format!("10.213.{}.0/24", self.subnet),
            "namespaces": self.members.iter().map(|m| &m.0).collect::<Vec<_>>(),
            "veths": self.members.iter().map(|m| &m.1).collect::<Vec<_>>(),
        })
    }

    /// `up` succeeded: the run outlives this process; only `down` removes it.
    pub fn release(&mut self) {
        if let Some(i) = self.slot.take() {
            CLEANUP[i].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }

    /// Opens the namespace file for `setns` in the child.
    pub fn ns_file(ns: &str) -> Result<std::fs::File> {
        std::fs::File::open(format!("/run/netns/{ns}"))
            .with_context(|| format!("opening netns {ns}"))
    }
}

/// `down`: removes what `to_json` recorded.
pub fn remove_recorded(v: &serde_json::Value) -> usize {
    let strs = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let safe = |s: &String| {
        s.starts_with("qrt") && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let mut n = 0;
    for veth in strs("veths").iter().filter(|s| safe(s)) {
        let _ = ip(&["link", "del", veth]);
    }
    for ns in strs("namespaces").iter().filter(|s| safe(s)) {
        if ip(&["netns", "del", ns]).is_ok() {
            n += 1;
        }
    }
    if let Some(b) = v["bridge"].as_str().map(String::from).filter(|b| safe(b)) {
        let _ = ip(&["link", "del", &b]);
    }
    n
}
