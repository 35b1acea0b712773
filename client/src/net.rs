//! A small blocking HTTP client for talking to nodes. Nothing it returns is trusted:
//! callers verify every byte with proto before using it.

use std::io::Read;
use std::time::{Duration, Instant};

/// Largest response body read from a node (a bundle or a batch result).
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// Transport failures (the node was unreachable or sent an unreadable response).
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct NetError {
    pub url: String,
    pub reason: String,
}

/// A response: status and body (any status; callers decide).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The target of a `Link: <...>; rel="next"` header (the next page), as sent.
    pub next: Option<String>,
}

/// The `rel="next"` target of a `Link` header value.
fn next_link(v: &str) -> Option<String> {
    v.split(',').find_map(|part| {
        let (target, params) = part.trim().strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
            .then(|| target.to_owned())
    })
}

fn next_of(resp: &ureq::http::Response<ureq::Body>) -> Option<String> {
    resp.headers()
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(next_link)
}

impl Response {
    /// The node's JSON error (`{"error", "message", "item"}`) as one line, or the body
    /// text when it is not such JSON.
    pub fn error_text(&self) -> String {
        self.error_text_with(true)
    }

    /// [`Self::error_text`] without the node's batch position, for callers that name
    /// the input themselves (a position in a retried sub-batch would mislead).
    pub fn error_text_without_item(&self) -> String {
        self.error_text_with(false)
    }

    fn error_text_with(&self, with_item: bool) -> String {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body)
            && let Some(code) = v.get("error").and_then(|c| c.as_str())
        {
            let mut msg = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
            // The node prefixes `envelope N: ` with N its position in this request; a
            // caller that names the input itself drops both.
            if !with_item && let Some(i) = v.get("item").and_then(|i| i.as_u64()) {
                msg = msg.strip_prefix(&format!("envelope {i}: ")).unwrap_or(msg);
            }
            let item = v
                .get("item")
                .and_then(|i| i.as_u64())
                .filter(|_| with_item)
                .map(|i| format!(" (batch item {i})"))
                .unwrap_or_default();
            return format!("HTTP {}: {code}: {msg}{item}", self.status);
        }
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(300).collect();
        format!("HTTP {}: {}", self.status, text.trim())
    }
}

/// How long fetching from one log may take: per connection attempt, per read (a server
/// that sends nothing for this long is given up on), and in total for everything fetched
/// from that log in one sync (a server that drips bytes slowly, or serves an endless
/// stream of tiles that authenticate, is cut off there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub connect: Duration,
    pub read: Duration,
    pub per_log: Duration,
}

impl Limits {
    /// Limits with a total budget of `per_log`; connect and per-read timeouts never exceed it.
    pub fn with_budget(per_log: Duration) -> Limits {
        Limits {
            connect: per_log.min(Duration::from_secs(10)),
            read: per_log.min(Duration::from_secs(15)),
            per_log,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::with_budget(Duration::from_secs(DEFAULT_LOG_TIMEOUT_SECS))
    }
}

/// Default total time budget for syncing one log (`--log-timeout`).
pub const DEFAULT_LOG_TIMEOUT_SECS: u64 = 120;

/// The end of a time budget shared by every request made for one log.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    budget: Duration,
}

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + budget,
            budget,
        }
    }

    /// Time left, or `None` once the budget is spent.
    pub fn remaining(&self) -> Option<Duration> {
        self.end
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// The error for a spent budget.
    pub fn spent(&self) -> String {
        format!(
            "time budget of {:.0} s for this log used up (--log-timeout)",
            self.budget.as_secs_f64()
        )
    }
}

/// Roots added by [`trust_ca_file`] (with the platform's), for every agent made after.
static CA_ROOTS: std::sync::OnceLock<ureq::tls::RootCerts> = std::sync::OnceLock::new();

/// Why `--ca-file` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("reading CA file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("CA file {path} holds no PEM certificate")]
    Empty { path: String },
}

/// Makes every HTTPS connection this process opens from now on trust the PEM CA
/// certificates in `path` besides the platform's roots (`quorate --ca-file`: a private CA,
/// or a test CA). Set once; later calls change nothing.
pub fn trust_ca_file(path: &std::path::Path) -> Result<(), CaFileError> {
    let p = path.display().to_string();
    let pem = std::fs::read(path).map_err(|e| CaFileError::Read {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(CaFileError::Read {
                    path: p,
                    reason: e.to_string(),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(CaFileError::Empty { path: p });
    }
    // The platform's roots too: a CA file adds trust, it never removes any.
    let native = rustls_native_certs::load_native_certs();
    certs.extend(
        native
            .certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()),
    );
    let _ = CA_ROOTS.set(ureq::tls::RootCerts::new_with_certs(&certs));
    Ok(())
}

/// The roots agents trust: the platform verifier, or the platform's roots plus the
/// `--ca-file` certificates once [`trust_ca_file`] ran.
pub fn root_certs() -> ureq::tls::RootCerts {
    CA_ROOTS
        .get()
        .cloned()
        .unwrap_or(ureq::tls::RootCerts::PlatformVerifier)
}

/// A node's base URL plus an agent.
#[derive(Clone)]
pub struct Node {
    base: String,
    agent: ureq::Agent,
}

impl Node {
    pub fn new(base: &str) -> Node {
        Self::build(
            base,
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(60))),
        )
    }

    /// A node whose agent gives up on a connection or a read after `limits`.
    pub fn with_limits(base: &str, limits: &Limits) -> Node {
        Self::build(
            base,
            ureq::Agent::config_builder()
                .timeout_connect(Some(limits.connect))
                .timeout_per_read(Some(limits.read))
                .timeout_global(Some(limits.per_log)),
        )
    }

    fn build(base: &str, cfg: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>) -> Node {
        let agent: ureq::Agent = cfg
            .http_status_as_error(false)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(root_certs())
                    .build(),
            )
            .build()
            .into();
        Node {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// GET `path`, reading at most `max_bytes` of body and finishing before `deadline`
    /// (the request's whole-exchange timeout is the time left). A longer body is an
    /// error, not truncated data.
    pub fn get_bounded(
        &self,
        path: &str,
        max_bytes: u64,
        deadline: &Deadline,
    ) -> Result<Response, NetError> {
        let url = self.url(path);
        let fail = |reason: String| NetError {
            url: url.clone(),
            reason,
        };
        let left = deadline.remaining().ok_or_else(|| fail(deadline.spent()))?;
        let mut resp = self
            .agent
            .get(&url)
            .config()
            .timeout_global(Some(left))
            .build()
            .call()
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status().as_u16();
        let next = next_of(&resp);
        let body = resp
            .body_mut()
            .with_config()
            .limit(max_bytes)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    fail(format!("response longer than {max_bytes} bytes"))
                }
                e => fail(e.to_string()),
            })?;
        Ok(Response { status, body, next })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn read(url: &str, mut resp: ureq::http::Response<ureq::Body>) -> Result<Response, NetError> {
        let status = resp.status().as_u16();
        let next = next_of(&resp);
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| NetError {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        if body.len() as u64 > MAX_RESPONSE_BYTES {
            return Err(NetError {
                url: url.to_owned(),
                reason: format!("response over {MAX_RESPONSE_BYTES} bytes"),
            });
        }
        Ok(Response { status, body, next })
    }

    /// GET `path` (relative to the base URL).
    pub fn get(&self, path: &str) -> Result<Response, NetError> {
        let url = self.url(path);
        let resp = self.agent.get(&url).call().map_err(|e| NetError {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        Self::read(&url, resp)
    }

    /// POST `body` with content type `ctype` to `path`.
    pub fn post(&self, path: &str, ctype: &str, body: &[u8]) -> Result<Response, NetError> {
        let url = self.url(path);
        let resp = self
            .agent
            .post(&url)
            .header("Content-Type", ctype)
            .send(body)
            .map_err(|e| NetError {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Self::read(&url, resp)
    }
}
