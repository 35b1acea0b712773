//! A hostile HTTP front for one real node (what its operator, a CDN or anyone on an
//! `http://` path controls): forwards every request to the node, except `/checkpoint`,
//! which it answers as told. Used by `hostile-size` and `forged-witness-line`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

/// How `/checkpoint` is answered.
#[derive(Clone)]
pub enum Mode {
    /// These bytes, status 200.
    Fixed(Vec<u8>),
    /// The node's own checkpoint with this line appended.
    AppendLine(String),
}

pub struct Proxy {
    pub url: String,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on 127.0.0.1 in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str, mode: Mode) -> Result<Proxy> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.set_nonblocking(true)?;
        let url = format!("http://{}", l.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let up = upstream.trim_start_matches("http://").to_owned();
        let (st, mode) = (stop.clone(), Arc::new(Mutex::new(mode)));
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        let (up, mode) = (up.clone(), mode.clone());
                        std::thread::spawn(move || {
                            let _ = c.set_nonblocking(false);
                            let m = mode.lock().map(|m| m.clone());
                            if let Ok(m) = m {
                                let _ = handle(c, &up, &m);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Proxy { url, stop })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn get_raw(up: &str, path: &str) -> Result<Vec<u8>> {
    let mut s = TcpStream::connect(up)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {up}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

fn handle(mut c: TcpStream, up: &str, mode: &Mode) -> Result<()> {
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let n = c.read(&mut b)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&b[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if path != "/checkpoint" {
        c.write_all(&get_raw(up, &path)?)?;
        return Ok(());
    }
    let body = match mode {
        Mode::Fixed(b) => b.clone(),
        Mode::AppendLine(line) => {
            let (status, cp) = crate::fed::http_get(&format!("http://{up}/checkpoint"))?;
            anyhow::ensure!(status == 200, "upstream /checkpoint: HTTP {status}");
            format!("{cp}{line}").into_bytes()
        }
    };
    write!(
        c,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    c.write_all(&body)?;
    Ok(())
}

/// Standard base64 with padding (for a forged signature line; nothing here decodes).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A federation of DE, FR, JP (all checkpoints cosigned by every peer) in which
/// `reviewers(i)` (indices) certify the i-th of 8 real packages; the lockfile of those 8.
pub fn reviewed_federation(
    bins: &crate::fed::Bins,
    reviewers: impl Fn(usize) -> Vec<usize>,
) -> Result<(crate::fed::Fed, usize, std::path::PathBuf)> {
    let fed = super::federation(bins, &["DE", "FR", "JP"])?;
    let pkgs: Vec<_> = super::own_packages().into_iter().take(8).collect();
    let dir = super::files_dir(&fed, "att")?;
    let mut per_node = [0u64; 3];
    for (k, (name, ver, sum)) in pkgs.iter().enumerate() {
        for i in reviewers(k) {
            let key = fed.nodes[i].inst.reviewer_key.clone();
            let f = fed.review(&key, name, ver, sum, super::NOTE, &dir)?;
            crate::fed::ok(fed.submit(i, &[f])?, "quorate submit")?;
            per_node[i] += 1;
        }
    }
    for (i, n) in per_node.iter().enumerate() {
        fed.wait_cosigned(i, 2, *n, 30)?;
    }
    let lock = fed.root.join("Cargo.lock");
    std::fs::write(&lock, crate::fed::lockfile(&pkgs))?;
    Ok((fed, pkgs.len(), lock))
}

/// `quorate check LOCK --policy P --cache C EXTRA...`: the output and the seconds it took.
pub fn check(
    fed: &crate::fed::Fed,
    lock: &std::path::Path,
    policy: &std::path::Path,
    extra: &[&str],
) -> Result<(std::process::Output, f64)> {
    let cache = fed.root.join("cache");
    let mut a = vec![
        "check",
        lock.to_str().unwrap_or_default(),
        "--policy",
        policy.to_str().unwrap_or_default(),
        "--cache",
        cache.to_str().unwrap_or_default(),
    ];
    a.extend_from_slice(extra);
    let t = std::time::Instant::now();
    let o = fed.q(&a)?;
    Ok((o, t.elapsed().as_secs_f64()))
}

/// A policy (2 of 3 jurisdictions, 2 witnesses) in which node `i` is reached at `url`.
pub fn policy_via(fed: &crate::fed::Fed, i: usize, url: &str) -> Result<std::path::PathBuf> {
    let p = fed.root.join("via-proxy.policy");
    fed.policy(&[0, 1, 2], 2, 2, &p)?;
    let text = std::fs::read_to_string(&p)?;
    let real = format!(" {}\n", fed.url(i));
    anyhow::ensure!(
        text.contains(&real),
        "policy has no line for {}",
        fed.url(i)
    );
    std::fs::write(&p, text.replace(&real, &format!(" {url}\n")))?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
