//! HTTPS between real processes: `quorate-witness serve --tls-cert/--tls-key` with a
//! certificate from a CA made at test time, and the witness client (what nodes use for
//! their external witnesses) reaching it over rustls only when it trusts that CA.

mod common;
#[path = "common/test_ca.rs"]
mod test_ca;

use common::proc::{init, serve};
use common::{TempDir, TestLog};
use quorate_proto::checkpoint::verify_checkpoint;
use quorate_proto::note;
use quorate_witness::{ClientError, CosignOutcome, WitnessClient};
use test_ca::TestCa;

#[test]
fn witness_serves_https_and_the_client_trusts_only_the_configured_ca() {
    let dir = TempDir::new("tls");
    let ca = TestCa::new(&dir.path().join("pki"));
    let mut log = TestLog::new("example.org/tls-log", 7);
    log.grow(5, "tls");
    let data = dir.path().join("w");
    let wv = init(&data, "witness.example/tls");
    let vkey = log.vkey();
    let mut args = vec!["--log".to_owned(), vkey];
    args.extend(ca.server_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = serve(&data, &args);
    let port = p.addr.port();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cp = log.checkpoint();
    // Trusting the test CA: cosigned over HTTPS, by name and by IP address.
    for host in ["localhost", "127.0.0.1"] {
        let cfg = quorate_witness::tls::client_config(Some(&ca.ca_pem)).unwrap();
        let c = WitnessClient::with_tls(&format!("https://{host}:{port}"), Some(cfg)).unwrap();
        let out = rt.block_on(c.add_checkpoint(0, &[], &cp));
        let sigs = match out {
            Ok(CosignOutcome::Cosigned(s)) => s,
            // The second host finds the witness at size 5 already: the same checkpoint
            // with old size 5 is cosigned again.
            Ok(CosignOutcome::Conflict { size: 5 }) => {
                match rt.block_on(c.add_checkpoint(5, &[], &cp)).unwrap() {
                    CosignOutcome::Cosigned(s) => s,
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{host}: {other:?}"),
        };
        let cosigned = note::add_signatures(std::str::from_utf8(&cp).unwrap(), &sigs).unwrap();
        verify_checkpoint(
            cosigned.as_bytes(),
            &log.signer.verifier(),
            std::slice::from_ref(&wv),
        )
        .unwrap()
        .require_witnesses(1)
        .unwrap();
    }
    // Platform roots only (no test CA): the handshake fails, naming the certificate.
    if let Ok(cfg) = quorate_witness::tls::client_config(None) {
        let c = WitnessClient::with_tls(&format!("https://localhost:{port}"), Some(cfg)).unwrap();
        match rt.block_on(c.add_checkpoint(5, &[], &cp)) {
            Err(ClientError::Tls(e)) => assert!(e.contains("certificate"), "{e}"),
            other => panic!("untrusted certificate accepted: {other:?}"),
        }
    }
    // Plain HTTP to the TLS port gets no HTTP answer.
    let c = WitnessClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    assert!(rt.block_on(c.add_checkpoint(5, &[], &cp)).is_err());
}
