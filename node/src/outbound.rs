//! Outbound HTTPS of the node (external witnesses, peers' read paths): the platform's
//! roots, plus the CA certificates of `ca_file` (`--ca-file`) when one is configured.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

/// The rustls config for witness clients: `None` (the client's default, platform roots)
/// without a CA file.
pub fn witness_tls(ca_file: Option<&Path>) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    ca_file
        .map(|p| {
            quorate_witness::tls::client_config(Some(p))
                .with_context(|| format!("ca_file {}", p.display()))
        })
        .transpose()
}

/// The roots for ureq agents: the platform verifier without a CA file; with one, the
/// platform's roots plus the file's certificates.
pub fn ureq_roots(ca_file: Option<&Path>) -> anyhow::Result<ureq::tls::RootCerts> {
    let Some(p) = ca_file else {
        return Ok(ureq::tls::RootCerts::PlatformVerifier);
    };
    let certs = quorate_witness::tls::root_certs(Some(p))
        .with_context(|| format!("ca_file {}", p.display()))?;
    Ok(ureq::tls::RootCerts::new_with_certs(
        &certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect::<Vec<_>>(),
    ))
}
