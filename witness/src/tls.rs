//! TLS for Quorate's HTTP, with rustls and the *ring* provider (the one ureq already
//! builds): the client side trusts the platform's roots plus, optionally, the CA
//! certificates of a PEM file (`--ca-file`: a private CA, or a test CA); the server side
//! loads a PEM certificate chain and key (`--tls-cert/--tls-key`).
//!
//! The provider is passed explicitly rather than installed process-wide, so linking
//! another rustls provider elsewhere in the tree never makes a config builder panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading PEM file {path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("{path} holds no certificate")]
    NoCertificate { path: PathBuf },
    #[error("no usable root certificate: the platform has none and no --ca-file was given")]
    NoRoots,
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The crypto provider every Quorate TLS config uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of the PEM file `path` (other PEM sections are ignored).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |reason: String| TlsError::Pem {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The roots an outbound connection trusts: the platform's (as `rustls-native-certs`
/// finds them; unreadable ones are skipped) plus every certificate in `ca_file`.
pub fn root_certs(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!("platform root certificates: {e}");
    }
    let mut roots = native.certs;
    if let Some(p) = ca_file {
        roots.extend(load_certs(p)?);
    }
    Ok(roots)
}

/// A client config trusting [`root_certs`]`(ca_file)`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(root_certs(ca_file)?);
    if added == 0 {
        return Err(TlsError::NoRoots);
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A server config presenting the PEM chain `cert` (leaf first) with the PEM key `key`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
