//! `check --vsa DIR` on real `quorate-node` processes: one SLSA Verification Summary
//! Attestation per package that passed, naming every counted attestation by log origin,
//! index and leaf hash, signed as a DSSE envelope; checked by `quorate verify-vsa` and by
//! an independent Python verifier (`tests/dsse_verify.py`, the `cryptography` package),
//! both of which refuse a bad signature or an altered payload.

#[path = "../../proto/tests/common/mod.rs"]
mod common;
mod nodes;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nodes::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The one VSA written to `dir`: its DSSE envelope and the statement it carries.
fn only_vsa(dir: &Path) -> (serde_json::Value, serde_json::Value) {
    let mut files = std::fs::read_dir(dir).unwrap();
    let path = files.next().unwrap().unwrap().path();
    assert!(
        files.next().is_none(),
        "more than one VSA in {}",
        dir.display()
    );
    let env: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let st = serde_json::from_slice(&STANDARD.decode(env["payload"].as_str().unwrap()).unwrap())
        .unwrap();
    (env, st)
}

/// Each input attestation of a VSA statement as (origin, index, leaf hash), sorted.
fn input_ids(st: &serde_json::Value) -> Vec<(String, u64, String)> {
    let mut v: Vec<(String, u64, String)> = st["predicate"]["inputAttestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let a = &i["annotations"];
            (
                a["logOrigin"].as_str().unwrap().to_owned(),
                a["logIndex"].as_u64().unwrap(),
                a["leafHash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn python(py: &Path, vsa: &Path, vkey: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dsse_verify.py");
    Command::new(py)
        .arg(&script)
        .arg(vsa)
        .arg(vkey)
        .output()
        .expect("running python3")
}

#[test]
fn passing_packages_get_a_signed_vsa_that_independent_verifiers_accept() {
    let f = Fed::new("vsa", &["DE", "FR", "JP"]);
    // alpha 1.1.0: DE by a full review of 1.0.0 and a delta to 1.1.0, FR by a full
    // review; JP reviewed nothing. beta: DE only.
    let de_full = f.publish(0, "cargo/alpha@1.0.0", &d(1), &[]);
    let de_delta = f.publish(
        0,
        "cargo/alpha@1.1.0",
        &d(2),
        &["--delta-from", "1.0.0", "--delta-digest", &d(1)],
    );
    let fr_full = f.publish(1, "cargo/alpha@1.1.0", &d(2), &[]);
    f.publish(0, "cargo/beta@2.0.0", &d(3), &[]);
    // An unrelated review in FR's log that must not be named.
    f.publish(1, "cargo/alpha@0.9.0", &d(9), &[]);
    // DE's two envelopes replayed into FR's log (its reviewer registered there too): FR
    // certifies with its own key, so the copies are not named (one key, one vote).
    f.insts[1].add_reviewer(&f.keys[0].1);
    for tag in ["DE-cargo_alpha_1.0.0-0.att", "DE-cargo_alpha_1.1.0-4.att"] {
        let o = ok(&q(&[
            "submit",
            "--node",
            &f.insts[1].url,
            "--log",
            &f.insts[1].vkey,
            s(&f.dir.join(tag)),
        ]));
        assert!(o.contains(": logged at index"), "{o}");
    }
    let lock = write(
        &f.dir,
        "Cargo.lock",
        &lockfile(&[("alpha", "1.1.0", &d(2)), ("beta", "2.0.0", &d(3))]),
    );
    let pol = f.policy("quorum none\n", 2, "");
    let (ckey, cpub) = reviewer(&f.dir, "checker.example");
    let out = f.dir.join("vsas");
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--cache",
        s(&f.dir.join("cache")),
        "--vsa",
        s(&out),
        "--vsa-key",
        s(&ckey),
        "--now",
        "1800000000",
    ]);
    // beta fails, so check exits 1; alpha passed and has its VSA.
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("wrote 1 verification summary attestations"),
        "{}",
        stderr(&o)
    );
    let files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let vsa = &files[0];

    let env: serde_json::Value = serde_json::from_slice(&std::fs::read(vsa).unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let st: serde_json::Value =
        serde_json::from_slice(&STANDARD.decode(env["payload"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    assert_eq!(st["subject"][0]["digest"]["sha256"], d(2));
    let p = &st["predicate"];
    assert_eq!(p["resourceUri"], "pkg:cargo/alpha@1.1.0");
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(p["verifier"]["id"], "urn:quorate:checker:checker.example");
    assert_eq!(p["timeVerified"], "2027-01-15T08:00:00Z");
    assert_eq!(p["verifiedLevels"][0], "QUORATE_QUORUM_K2_SAFE_TO_DEPLOY");
    assert!(p["policy"]["uri"].as_str().unwrap().starts_with("file:///"));
    use sha2::Digest as _;
    let pol_sha: String = sha2::Sha256::digest(std::fs::read(&pol).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(p["policy"]["digest"]["sha256"], pol_sha);
    // Exactly the three attestations the decision rests on, by origin, index, leaf hash.
    let inputs: Vec<(String, u64, String)> = p["inputAttestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let a = &i["annotations"];
            assert_eq!(
                i["name"],
                format!("{}#{}", a["logOrigin"].as_str().unwrap(), a["logIndex"])
            );
            (
                a["logOrigin"].as_str().unwrap().to_owned(),
                a["logIndex"].as_u64().unwrap(),
                a["leafHash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut want = vec![
        ("de.test/quorate/log".to_owned(), 0, de_full),
        ("de.test/quorate/log".to_owned(), 1, de_delta),
        ("fr.test/quorate/log".to_owned(), 0, fr_full),
    ];
    want.sort();
    let mut got = inputs.clone();
    got.sort();
    assert_eq!(got, want);

    // From an offline bundle the same inputs are named (their proofs are the bundle's).
    let bundle = f.dir.join("bundle");
    ok(&q(&[
        "bundle",
        s(&lock),
        "--out",
        s(&bundle),
        "--policy",
        s(&pol),
        "--cache",
        s(&f.dir.join("cache")),
    ]));
    let out_b = f.dir.join("vsas-bundle");
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol),
        "--bundle",
        s(&bundle),
        "--vsa",
        s(&out_b),
        "--vsa-key",
        s(&ckey),
        "--now",
        "1800000000",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let (_, sb) = only_vsa(&out_b);
    assert_eq!(sb["predicate"]["inputAttestations"], p["inputAttestations"]);

    // Quorate's own verifier.
    let v = ok(&q(&[
        "verify-vsa",
        "--key",
        s(&cpub),
        "--resource-uri",
        "pkg:cargo/alpha@1.1.0",
        "--digest",
        &d(2),
        s(vsa),
    ]));
    assert!(
        v.contains("signature verified; pkg:cargo/alpha@1.1.0 PASSED"),
        "{v}"
    );
    assert!(v.contains("3 counted attestations"), "{v}");
    exits(
        &q(&["verify-vsa", "--key", s(&cpub), "--digest", &d(3), s(vsa)]),
        1,
        "no subject has the digest",
    );

    // Hostile copies: a flipped signature bit, an altered payload (resourceUri), another
    // checker's key.
    let mut bad_sig = env.clone();
    let mut sig = STANDARD
        .decode(env["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    sig[5] ^= 1;
    bad_sig["signatures"][0]["sig"] = STANDARD.encode(&sig).into();
    let bad_sig_file = write(&f.dir, "bad-sig.json", &bad_sig.to_string());
    let mut altered_st = st.clone();
    altered_st["predicate"]["resourceUri"] = "pkg:cargo/evil@6.6.6".into();
    let mut altered = env.clone();
    altered["payload"] = STANDARD.encode(altered_st.to_string()).into();
    let altered_file = write(&f.dir, "altered.json", &altered.to_string());
    let (_, other_pub) = reviewer(&f.dir, "other-checker");
    for (file, key) in [
        (&bad_sig_file, &cpub),
        (&altered_file, &cpub),
        (vsa, &other_pub),
    ] {
        exits(
            &q(&["verify-vsa", "--key", s(key), s(file)]),
            1,
            "no signature verifies under the key given",
        );
    }

    // Under a policy that also requires fuzzing evidence, JP's fuzzing run of the file
    // is an input too (what a `require` line counted is named like the reviews).
    let jp_fuzz = f.publish(
        2,
        "cargo/alpha@1.1.0",
        &d(2),
        &[
            "--evidence",
            "fuzzing",
            "--harness",
            "parse",
            "--fuzz-duration",
            "2h",
            "--findings",
            "0",
        ],
    );
    let pol_req = f.policy("quorum none\n", 2, "require safe-to-deploy fuzzing any\n");
    let out_r = f.dir.join("vsas-require");
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&pol_req),
        "--cache",
        s(&f.dir.join("cache")),
        "--vsa",
        s(&out_r),
        "--vsa-key",
        s(&ckey),
        "--now",
        "1800000000",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let (_, sr) = only_vsa(&out_r);
    let got = input_ids(&sr);
    let mut want_r = want.clone();
    want_r.push(("jp.test/quorate/log".to_owned(), 0, jp_fuzz));
    want_r.sort();
    assert_eq!(got, want_r);

    // The independent verifier agrees on all four.
    let Some(py) = common::python_with_cryptography() else {
        return;
    };
    let o = python(&py, vsa, &cpub);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        "OK pkg:cargo/alpha@1.1.0 3 inputAttestations"
    );
    for (file, key) in [
        (&bad_sig_file, &cpub),
        (&altered_file, &cpub),
        (vsa, &other_pub),
    ] {
        let o = python(&py, file, key);
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
        assert!(
            stdout(&o).contains("REFUSED: no signature verifies"),
            "{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}
