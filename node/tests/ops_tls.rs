//! HTTPS on the node, between real processes and sockets: `serve --tls-cert/--tls-key`
//! read by an HTTPS client that trusts the test CA (made at test time), and the node
//! reaching an external C2SP witness over HTTPS with `--ca-file`.

mod common;
#[path = "../../witness/tests/common/test_ca.rs"]
mod test_ca;

use std::io::Read as _;
use std::time::{Duration, Instant};

use common::*;
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::cosignature::CosignatureSigner;
use quorate_witness::{SystemClock, Witness};
use test_ca::TestCa;

/// GET over HTTPS with ureq, trusting only `ca`.
fn https_get(ca: &TestCa, url: &str) -> Result<(u16, Vec<u8>), String> {
    let pem = std::fs::read(&ca.ca_pem).unwrap();
    let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                .build(),
        )
        .build()
        .into();
    let mut r = agent.get(url).call().map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    r.body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    Ok((r.status().as_u16(), body))
}

#[test]
fn node_serves_https_and_asks_an_https_witness() {
    let log = Log::init();
    let k = reviewer_key(3);
    log.add_reviewer(&k);
    let ca = TestCa::new(&log.tmp.path().join("pki"));

    // A standalone C2SP witness (the witness crate's own server loop) serving HTTPS on
    // loopback with a certificate of the test CA.
    let signer = CosignatureSigner::generate("witness.example/tls", [6; 32]).unwrap();
    let wv = signer.verifier();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let w = Witness::open(
        signer,
        vec![log.verifier()],
        &log.tmp.path().join("w.redb"),
        SystemClock,
    )
    .unwrap();
    let app = quorate_witness::router(std::sync::Arc::new(w));
    let tls = quorate_witness::tls::server_config(&ca.cert_pem, &ca.key_pem).unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let wport = listener.local_addr().unwrap().port();
    rt.spawn(quorate_witness::server::serve_tls(
        listener,
        app,
        Default::default(),
        Some(tls),
        std::future::pending(),
    ));

    let config = log.write_config(&format!(
        "batch_delay_ms = 5\nrecosign_interval_ms = 500\n[[external_witness]]\nurl = \"https://localhost:{wport}\"\nvkey = {:?}\n",
        wv.vkey()
    ));
    let mut args = ca.server_args();
    args.extend(["--ca-file".into(), ca.ca_pem.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = Node::start_args(&log, Some(&config), &args);
    let base = format!("https://localhost:{}", node.addr.port());

    let (status, body) = https_get(&ca, &format!("{base}/healthz")).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // Submitting over HTTPS is the client's business (client tests); here one entry goes
    // in through the node's HTTPS port and the witness's cosignature comes back over HTTPS.
    let env = envelope(&k, "tls-crate", "1.0.0", "over tls");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_pem(&std::fs::read(&ca.ca_pem).unwrap()).unwrap(),
                ]))
                .build(),
        )
        .build()
        .into();
    let r = agent
        .post(&format!("{base}/v1/attestations"))
        .header("Content-Type", "application/x-protobuf")
        .send(&env[..])
        .unwrap();
    assert!(
        r.status().as_u16() == 200 || r.status().as_u16() == 201,
        "{}",
        r.status()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = https_get(&ca, &format!("{base}/checkpoint")).unwrap();
        if status == 200
            && verify_checkpoint(&body, &log.verifier(), std::slice::from_ref(&wv))
                .is_ok_and(|v| v.checkpoint().size() == 1 && v.cosignatures().len() == 1)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no cosignature over HTTPS; node log:\n{}",
            std::fs::read_to_string(log.tmp.path().join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A client that does not trust the test CA is refused in the handshake.
    let untrusted: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::WebPki)
                .build(),
        )
        .build()
        .into();
    let e = untrusted
        .get(&format!("{base}/healthz"))
        .call()
        .unwrap_err();
    assert!(
        e.to_string().to_lowercase().contains("certificate")
            || e.to_string().to_lowercase().contains("issuer"),
        "{e}"
    );
}

#[test]
fn tls_flags_must_come_together_and_name_bad_files() {
    let log = Log::init();
    let out = run(&[
        "serve",
        "--data",
        log.data(),
        "--tls-cert",
        "/nonexistent.pem",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    let missing = log.tmp.path().join("missing.pem");
    let out = run(&[
        "serve",
        "--data",
        log.data(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        missing.to_str().unwrap(),
        "--tls-key",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.pem"), "{err}");
}
