//! A minimal C2SP `tlog-witness` client, for logs and nodes asking any witness to cosign.
//!
//! HTTP/1.1 (hyper's connection API) over plain TCP or TLS (rustls, [`crate::tls`]):
//! `http[s]://host[:port][/prefix]`. [`WitnessClient`] keeps one keep-alive connection,
//! as the spec recommends.

use std::time::Duration;

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header;
use hyper_util::rt::TokioIo;
use quorate_proto::merkle::Hash;
use quorate_proto::note::NoteSignature;

use crate::AddCheckpointRequest;
use crate::http::{EQUIVOCATING_CONTENT_TYPE, EQUIVOCATING_PREFIX, SIZE_CONTENT_TYPE};
use crate::request::parse_decimal;

/// Largest response body read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Default bound on one whole request (connect, send, read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a witness answered to `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CosignOutcome {
    /// 200: the witness's signature lines, parsed but not verified. Verify them by adding
    /// them to the checkpoint ([`quorate_proto::note::add_signatures`]) and calling
    /// [`quorate_proto::checkpoint::verify_checkpoint`] with the witness's verifier; ignore
    /// lines from unknown keys.
    Cosigned(Vec<NoteSignature>),
    /// 409 with `text/x.tlog.size`: the witness's latest cosigned size for this log.
    /// Retry with that `old` size and a proof from it.
    Conflict { size: u64 },
}

/// Why a cosignature request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("witness URL {0:?}: only http[s]://host[:port][/prefix] is supported")]
    Url(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("connecting to the witness: {0}")]
    Connect(std::io::Error),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// 403 with [`EQUIVOCATING_CONTENT_TYPE`]: the witness holds evidence that the log
    /// `origin` signed two histories and refuses it for good (a Quorate extension; not a
    /// bad signature, and retrying will not help).
    #[error(
        "the witness refuses to cosign log {origin:?}: it holds evidence that this log equivocated"
    )]
    Equivocating { origin: String },
    /// Any status other than 200, a 409 with a size body and a 403 naming an
    /// equivocating log.
    #[error("witness answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("malformed witness response: {0}")]
    MalformedResponse(String),
}

/// A client for one witness, reusing one HTTP/1.1 keep-alive connection.
pub struct WitnessClient {
    authority: String,
    path: String,
    /// For `https://`: the connector and the name the certificate must carry.
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    timeout: Duration,
    conn: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for WitnessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessClient")
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl WitnessClient {
    /// A client for the witness whose submission prefix is `base_url`
    /// (`http[s]://host[:port][/prefix]`); `https://` trusts the platform's roots.
    pub fn new(base_url: &str) -> Result<WitnessClient, ClientError> {
        WitnessClient::with_tls(base_url, None)
    }

    /// As [`WitnessClient::new`]; an `https://` URL uses `tls` (e.g. trusting a
    /// `--ca-file`, [`crate::tls::client_config`]) or, when `None`, the platform's roots.
    pub fn with_tls(
        base_url: &str,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<WitnessClient, ClientError> {
        let bad = || ClientError::Url(base_url.to_owned());
        let (rest, https) = match base_url.strip_prefix("https://") {
            Some(r) => (r, true),
            None => (base_url.strip_prefix("http://").ok_or_else(bad)?, false),
        };
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(bad());
        }
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if !authority.ends_with(']') && port.parse::<u16>().is_ok() => h,
            _ => authority,
        };
        let authority = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:{}", if https { 443 } else { 80 })
        } else {
            authority.to_owned()
        };
        let tls = if https {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name =
                rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|_| bad())?;
            let cfg = match tls {
                Some(c) => c,
                None => {
                    crate::tls::client_config(None).map_err(|e| ClientError::Tls(e.to_string()))?
                }
            };
            Some((tokio_rustls::TlsConnector::from(cfg), name))
        } else {
            None
        };
        Ok(WitnessClient {
            authority,
            tls,
            path: format!("{}/add-checkpoint", prefix.trim_end_matches('/')),
            timeout: DEFAULT_TIMEOUT,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// Bounds each request (including connecting) by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> WitnessClient {
        self.timeout = timeout;
        self
    }

    /// Sends `add-checkpoint` with `old_size`, the consistency proof from it, and the
    /// signed checkpoint note.
    pub async fn add_checkpoint(
        &self,
        old_size: u64,
        proof: &[Hash],
        signed_checkpoint: &[u8],
    ) -> Result<CosignOutcome, ClientError> {
        let body = AddCheckpointRequest::new(old_size, proof.to_vec(), signed_checkpoint.to_vec())
            .to_bytes();
        tokio::time::timeout(self.timeout, self.send(body))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    async fn send(&self, body: Vec<u8>) -> Result<CosignOutcome, ClientError> {
        let mut guard = self.conn.lock().await;
        // Reuse the connection only while it is open; a request is never re-sent.
        if guard.as_ref().is_none_or(|s| s.is_closed()) {
            *guard = Some(self.connect().await?);
        }
        let Some(sender) = guard.as_mut() else {
            return Err(ClientError::Http("no connection".into()));
        };
        let http = |e: hyper::Error| ClientError::Http(e.to_string());
        let req = hyper::Request::post(&self.path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let result = async {
            sender.ready().await.map_err(http)?;
            let resp = sender.send_request(req).await.map_err(http)?;
            let (parts, body) = resp.into_parts();
            let bytes = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?
                .to_bytes();
            Ok::<_, ClientError>((parts, bytes))
        }
        .await;
        let (parts, bytes) = match result {
            Ok(r) => r,
            Err(e) => {
                *guard = None;
                return Err(e);
            }
        };
        drop(guard);
        parse_cosign_response(
            parts.status.as_u16(),
            parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            &bytes,
        )
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(ClientError::Connect)?;
        stream.set_nodelay(true).map_err(ClientError::Connect)?;
        let hs = |e: hyper::Error| ClientError::Http(e.to_string());
        let closed = |e: hyper::Error| tracing::debug!(error = %e, "witness connection closed");
        if let Some((connector, name)) = &self.tls {
            let stream = connector
                .connect(name.clone(), stream)
                .await
                .map_err(|e| ClientError::Tls(e.to_string()))?;
            let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(hs)?;
            tokio::spawn(async move { conn.await.unwrap_or_else(closed) });
            return Ok(sender);
        }
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(hs)?;
        tokio::spawn(async move { conn.await.unwrap_or_else(closed) });
        Ok(sender)
    }
}

/// Asks the witness at `base_url` (`http://host[:port][/prefix]`) to cosign
/// `signed_checkpoint`, over a fresh connection. See [`WitnessClient`] to reuse one.
pub async fn request_cosignature(
    base_url: &str,
    old_size: u64,
    proof: &[Hash],
    signed_checkpoint: &[u8],
) -> Result<CosignOutcome, ClientError> {
    WitnessClient::new(base_url)?
        .add_checkpoint(old_size, proof, signed_checkpoint)
        .await
}

/// Reads a witness's answer to `add-checkpoint` (status, `Content-Type`, body) as
/// [`WitnessClient`] does. Public for the fuzz targets in `fuzz/`; clients use
/// [`WitnessClient::add_checkpoint`].
pub fn parse_cosign_response(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<CosignOutcome, ClientError> {
    let bad = |m: &str| ClientError::MalformedResponse(m.to_owned());
    match status {
        200 => {
            let text = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
            let lines = text
                .strip_suffix('\n')
                .ok_or_else(|| bad("body does not end in a newline"))?;
            let mut sigs = Vec::new();
            for line in lines.split('\n') {
                sigs.push(parse_signature_line(line).ok_or_else(|| {
                    ClientError::MalformedResponse(format!("bad signature line {line:?}"))
                })?);
            }
            Ok(CosignOutcome::Cosigned(sigs))
        }
        409 if content_type == Some(SIZE_CONTENT_TYPE) => std::str::from_utf8(body)
            .ok()
            .and_then(|t| t.strip_suffix('\n'))
            .and_then(parse_decimal)
            .map(|size| CosignOutcome::Conflict { size })
            .ok_or_else(|| bad("409 body is not a size line")),
        403 if content_type == Some(EQUIVOCATING_CONTENT_TYPE) => {
            let origin = std::str::from_utf8(body)
                .ok()
                .and_then(|t| t.lines().next())
                .and_then(|l| l.strip_prefix(EQUIVOCATING_PREFIX))
                .filter(|o| !o.is_empty());
            Err(match origin {
                Some(o) => ClientError::Equivocating {
                    origin: o.to_owned(),
                },
                None => bad("403 equivocation body does not name the log"),
            })
        }
        _ => Err(ClientError::Status {
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(512)])
                .trim_end()
                .to_owned(),
        }),
    }
}

/// Parses `— <name> <base64(key ID || signature)>` (proto does not expose its parser).
fn parse_signature_line(line: &str) -> Option<NoteSignature> {
    let rest = line.strip_prefix("\u{2014} ")?;
    let (name, b64) = rest.split_once(' ')?;
    let raw = B64.decode(b64).ok()?;
    let (id, sig) = raw.split_first_chunk::<4>()?;
    NoteSignature::new(name, u32::from_be_bytes(*id), sig.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = WitnessClient::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (c.authority.as_str(), c.path.as_str()),
            ("127.0.0.1:8080", "/add-checkpoint")
        );
        let c = WitnessClient::new("http://w.example/sub/").unwrap();
        assert_eq!(
            (c.authority.as_str(), c.path.as_str()),
            ("w.example:80", "/sub/add-checkpoint")
        );
        let c = WitnessClient::new("http://[::1]").unwrap();
        assert_eq!(c.authority, "[::1]:80");
        assert!(WitnessClient::new("ftp://x").is_err());
        let c = WitnessClient::with_tls(
            "https://w.example/p",
            Some(crate::tls::client_config(None).unwrap_or_else(|_| test_config())),
        )
        .unwrap();
        assert_eq!(
            (c.authority.as_str(), c.path.as_str()),
            ("w.example:443", "/p/add-checkpoint")
        );
        assert!(WitnessClient::new("http:///x").is_err());
    }

    /// A client config with no roots at all, for URL parsing on machines without any.
    fn test_config() -> std::sync::Arc<rustls::ClientConfig> {
        std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(crate::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_cosign_response(409, Some(SIZE_CONTENT_TYPE), b"17\n").unwrap(),
            CosignOutcome::Conflict { size: 17 }
        );
        assert!(parse_cosign_response(409, Some("text/plain"), b"17\n").is_err());
        assert!(parse_cosign_response(409, Some(SIZE_CONTENT_TYPE), b"017\n").is_err());
        let line = NoteSignature::new("w.example/w1", 0x01020304, vec![9; 72])
            .unwrap()
            .to_line();
        match parse_cosign_response(200, None, line.as_bytes()).unwrap() {
            CosignOutcome::Cosigned(s) => assert_eq!(s[0].key_id(), 0x01020304),
            other => panic!("{other:?}"),
        }
        assert!(parse_cosign_response(200, None, b"nope\n").is_err());
        let body = crate::http::equivocating_body("log.example/x");
        assert!(matches!(
            parse_cosign_response(403, Some(EQUIVOCATING_CONTENT_TYPE), body.as_bytes()),
            Err(ClientError::Equivocating { origin }) if origin == "log.example/x"
        ));
        assert!(matches!(
            parse_cosign_response(403, None, body.as_bytes()),
            Err(ClientError::Status { status: 403, .. })
        ));
        assert!(parse_cosign_response(403, Some(EQUIVOCATING_CONTENT_TYPE), b"nope\n").is_err());
        assert!(matches!(
            parse_cosign_response(422, None, b"bad proof\n"),
            Err(ClientError::Status { status: 422, .. })
        ));
    }
}
