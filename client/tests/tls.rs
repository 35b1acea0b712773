//! HTTPS from the client to a real `quorate-node` serving TLS (`tls_cert`/`tls_key`, a
//! certificate of a CA made at test time): `submit` and `mirror` succeed only with
//! `--ca-file` naming that CA.

mod nodes;
#[path = "../../witness/tests/common/test_ca.rs"]
mod test_ca;

use nodes::*;
use test_ca::TestCa;

#[test]
fn submit_and_mirror_over_https_with_a_ca_file() {
    let t = Tmp::new("tls");
    let dir = t.path();
    let ca = TestCa::new(&dir.join("pki"));
    let (alice, alice_pub) = reviewer(dir, "alice");
    let de = Institute::init(dir, "DE", &[&alice_pub]).serve(Some(&format!(
        "tls_cert = {:?}\ntls_key = {:?}\n",
        ca.cert_pem.display().to_string(),
        ca.key_pem.display().to_string()
    )));
    let port = de.url.rsplit(':').next().unwrap().to_owned();
    let url = format!("https://localhost:{port}");

    let att = dir.join("a.att");
    ok(&q(&[
        "review",
        "--key",
        s(&alice),
        "--package",
        "cargo/tls-demo@1.0.0",
        "--digest",
        &d(4),
        "--criteria",
        "safe-to-deploy",
        "--org",
        "BSI",
        "--out",
        s(&att),
    ]));
    let submit = |extra: &[&str]| {
        let mut a: Vec<&str> = extra.to_vec();
        a.extend(["submit", "--node", &url, "--log", &de.vkey, s(&att)]);
        q(&a)
    };
    // Without the CA the handshake fails and says why.
    let o = submit(&[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).to_lowercase().contains("certificate") || stderr(&o).contains("issuer"),
        "{}",
        stderr(&o)
    );
    // With it: logged, proof and signature verified.
    let o = ok(&submit(&["--ca-file", s(&ca.ca_pem)]));
    assert!(o.contains("logged at index 0"), "{o}");
    assert!(o.contains("inclusion proof verified"), "{o}");

    // The verified mirror over HTTPS (the flag may also follow the subcommand).
    let pol = dir.join("p.policy");
    std::fs::write(
        &pol,
        format!(
            "quorum none\nreview-log DE {} {url}\nreview-quorum 1\n",
            de.vkey
        ),
    )
    .unwrap();
    let cache = dir.join("cache");
    let o = q(&[
        "mirror",
        "--policy",
        s(&pol),
        "--cache",
        s(&cache),
        "--ca-file",
        s(&ca.ca_pem),
    ]);
    ok(&o);
    assert!(
        stderr(&o).contains("mirror de.test/quorate/log: size 1, 1 entries"),
        "{}",
        stderr(&o)
    );
    // A CA file that holds no certificate is an input error naming the file.
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let o = q(&[
        "--ca-file",
        s(&junk),
        "mirror",
        "--policy",
        s(&pol),
        "--cache",
        s(&cache),
    ]);
    exits(&o, 2, "junk.pem");
}
