//! A real headless Chromium, driven through its command line, for the web page tests
//! (`tests/web_pages.rs`) and the README screenshots (`quorate-testnet screenshots`).
//!
//! `--dump-dom` prints the DOM after the page's scripts ran; `--screenshot` writes a PNG.
//! Each run gets its own profile directory, is bounded by a timeout, and runs in its own
//! process group, which is killed (with every renderer and helper process in it) when the
//! run ends or times out, so nothing is left running.

use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the browser binary (default: the first of
/// [`CANDIDATES`] on `PATH`).
pub const ENV_BINARY: &str = "QUORATE_CHROMIUM";
/// Binaries looked for on `PATH`, in order.
pub const CANDIDATES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// What can go wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("starting {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("{binary} did not finish within {secs} s loading {url}")]
    Timeout {
        binary: String,
        url: String,
        secs: u64,
    },
    #[error("{binary} failed loading {url} ({status}): {stderr}")]
    Failed {
        binary: String,
        url: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A headless Chromium binary.
#[derive(Debug, Clone)]
pub struct Chromium {
    binary: PathBuf,
    timeout: Duration,
}

/// Kills the whole process group of a run when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = self.0.id();
        // The browser forks renderers and helpers into its group (it was started with
        // process_group(0), so its pid is the group id): kill them all, then reap ours.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Chromium {
    /// The browser named by [`ENV_BINARY`], else the first of [`CANDIDATES`] on `PATH`;
    /// `None` when there is none.
    pub fn find() -> Option<Chromium> {
        let binary = match std::env::var_os(ENV_BINARY) {
            Some(b) => PathBuf::from(b),
            None => {
                let path = std::env::var_os("PATH")?;
                CANDIDATES.iter().find_map(|c| {
                    std::env::split_paths(&path)
                        .map(|d| d.join(c))
                        .find(|p| p.is_file())
                })?
            }
        };
        Some(Chromium {
            binary,
            timeout: Duration::from_secs(60),
        })
    }

    /// Each run's time limit (default 60 s).
    pub fn with_timeout(mut self, t: Duration) -> Chromium {
        self.timeout = t;
        self
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    fn run(&self, url: &str, extra: &[String]) -> Result<Vec<u8>, BrowserError> {
        let profile = tempfile::tempdir()?;
        let name = self.binary.display().to_string();
        let mut cmd = Command::new(&self.binary);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
        let mut child = cmd.spawn().map_err(|source| BrowserError::Spawn {
            binary: name.clone(),
            source,
        })?;
        // Read both pipes on threads so a full pipe never stalls the browser.
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let group = Group(child);
        let out_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut b);
            }
            b
        });
        let err_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut b);
            }
            b
        });
        let mut group = group;
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(s) = group.0.try_wait()? {
                break s;
            }
            if Instant::now() >= deadline {
                drop(group);
                return Err(BrowserError::Timeout {
                    binary: name,
                    url: url.to_owned(),
                    secs: self.timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The main process has exited: end its helpers so the pipes close.
        drop(group);
        let stdout = out_t.join().unwrap_or_default();
        let stderr = err_t.join().unwrap_or_default();
        if !status.success() {
            return Err(BrowserError::Failed {
                binary: name,
                url: url.to_owned(),
                status: status.to_string(),
                stderr: String::from_utf8_lossy(&stderr)
                    .lines()
                    .rev()
                    .take(10)
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        Ok(stdout)
    }

    /// The DOM of `url` after its scripts ran, serialised as HTML.
    pub fn dump_dom(&self, url: &str) -> Result<String, BrowserError> {
        let out = self.run(url, &["--dump-dom".into()])?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// A PNG screenshot of `url` in a `width` x `height` window, written to `file`.
    pub fn screenshot(
        &self,
        url: &str,
        file: &Path,
        width: u32,
        height: u32,
    ) -> Result<(), BrowserError> {
        let file = std::path::absolute(file)?;
        let _ = std::fs::remove_file(&file);
        self.run(
            url,
            &[
                format!("--window-size={width},{height}"),
                format!("--screenshot={}", file.display()),
                "--run-all-compositor-stages-before-draw".into(),
            ],
        )?;
        if !file.is_file() {
            return Err(BrowserError::Failed {
                binary: self.binary.display().to_string(),
                url: url.to_owned(),
                status: "exit 0".into(),
                stderr: format!("no screenshot written to {}", file.display()),
            });
        }
        Ok(())
    }
}
