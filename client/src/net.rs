//! A small blocking HTTP client for talking to nodes. Nothing it returns is trusted:
//! callers verify every byte with proto before using it.

use std::io::Read;
use std::time::Duration;

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
}

impl Response {
    /// The node's JSON error (`{"error", "message", "item"}`) as one line, or the body
    /// text when it is not such JSON.
    pub fn error_text(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body)
            && let Some(code) = v.get("error").and_then(|c| c.as_str())
        {
            let msg = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
            let item = v
                .get("item")
                .and_then(|i| i.as_u64())
                .map(|i| format!(" (batch item {i})"))
                .unwrap_or_default();
            return format!("HTTP {}: {code}: {msg}{item}", self.status);
        }
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(300).collect();
        format!("HTTP {}: {}", self.status, text.trim())
    }
}

/// A node's base URL plus an agent.
#[derive(Clone)]
pub struct Node {
    base: String,
    agent: ureq::Agent,
}

impl Node {
    pub fn new(base: &str) -> Node {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .into();
        Node {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn read(url: &str, mut resp: ureq::http::Response<ureq::Body>) -> Result<Response, NetError> {
        let status = resp.status().as_u16();
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
        Ok(Response { status, body })
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
