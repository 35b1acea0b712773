//! A certificate authority made at test time (rcgen) and a server certificate it signs for
//! `localhost` and 127.0.0.1, written as PEM files: for tests of HTTPS between real
//! processes. Shared by the witness, node and client tests (`#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// PEM files of a test CA and of a server certificate it issued.
pub struct TestCa {
    /// The CA certificate: what `--ca-file` points to.
    pub ca_pem: PathBuf,
    /// The server's certificate chain and key: `--tls-cert`, `--tls-key`.
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

impl TestCa {
    /// Makes a fresh CA and server certificate in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Quorate test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let t = TestCa {
            ca_pem: dir.join("ca.pem"),
            cert_pem: dir.join("server.pem"),
            key_pem: dir.join("server.key"),
        };
        std::fs::write(&t.ca_pem, ca.pem()).unwrap();
        std::fs::write(&t.cert_pem, leaf.pem()).unwrap();
        std::fs::write(&t.key_pem, leaf_key.serialize_pem()).unwrap();
        t
    }

    /// `--tls-cert FILE --tls-key FILE`.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert_pem.display().to_string(),
            "--tls-key".into(),
            self.key_pem.display().to_string(),
        ]
    }
}
