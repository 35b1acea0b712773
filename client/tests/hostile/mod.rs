//! A hostile HTTP front for one real log: a std::net proxy on 127.0.0.1 that forwards
//! every request to a real `quorate-node`, except `/checkpoint`, which it answers as the
//! current [`Mode`] says (an absurd size, garbage, a stall, an endless body, a forged
//! witness line...). Whatever the operator of a log, a CDN or anyone on the path could do.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How `/checkpoint` is answered.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Forward to the real node.
    Pass,
    /// Serve these bytes with status 200.
    Fixed(Vec<u8>),
    /// The real node's checkpoint with this signature line appended.
    AppendLine(String),
    /// The real node's checkpoint with only the signature lines named `keep`.
    OnlySignedBy(String),
    /// Read the request, then send nothing until the client gives up.
    Stall,
    /// Status 200 and an endless body (up to 2 GB).
    Endless,
}

pub struct HostileProxy {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
}

impl HostileProxy {
    /// A proxy in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str) -> HostileProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let stop = Arc::new(AtomicBool::new(false));
        let up = upstream.trim_start_matches("http://").to_owned();
        let (m, st) = (mode.clone(), stop.clone());
        l.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let (m, st, up) = (m.clone(), st.clone(), up.clone());
                        std::thread::spawn(move || handle(c, &up, &m, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HostileProxy { url, mode, stop }
    }

    pub fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
}

impl Drop for HostileProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_head(c: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = c.read(&mut b).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// GET `path` from the upstream node; the raw response bytes.
fn forward_raw(up: &str, path: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(up).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {up}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The upstream node's checkpoint body.
fn upstream_checkpoint(up: &str) -> String {
    let mut r = ureq::get(&format!("http://{up}/checkpoint"))
        .call()
        .unwrap();
    r.body_mut().read_to_string().unwrap()
}

fn respond(c: &mut TcpStream, body: &[u8]) {
    let _ = write!(
        c,
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = c.write_all(body);
}

fn handle(mut c: TcpStream, up: &str, mode: &Mutex<Mode>, stop: &AtomicBool) {
    let Some(head) = read_head(&mut c) else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if path != "/checkpoint" {
        let _ = c.write_all(&forward_raw(up, &path));
        return;
    }
    let m = mode.lock().unwrap().clone();
    match m {
        Mode::Pass => {
            let _ = c.write_all(&forward_raw(up, &path));
        }
        Mode::Fixed(b) => respond(&mut c, &b),
        Mode::AppendLine(line) => {
            let cp = upstream_checkpoint(up);
            respond(&mut c, format!("{cp}{line}").as_bytes());
        }
        Mode::OnlySignedBy(name) => {
            let cp = upstream_checkpoint(up);
            let (text, sigs) = cp.split_once("\n\n").unwrap();
            let kept: String = sigs
                .lines()
                .filter(|l| l.starts_with(&format!("\u{2014} {name} ")))
                .map(|l| format!("{l}\n"))
                .collect();
            respond(&mut c, format!("{text}\n\n{kept}").as_bytes());
        }
        Mode::Stall => {
            // Hold the connection open, saying nothing, until the test ends.
            for _ in 0..1200 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Mode::Endless => {
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n",
            );
            let chunk = vec![b'A'; 64 * 1024];
            let mut sent = 0u64;
            while sent < 2 << 30 && !stop.load(Ordering::Relaxed) {
                if c.write_all(&chunk).is_err() {
                    break; // the client hung up
                }
                sent += chunk.len() as u64;
            }
        }
    }
}
