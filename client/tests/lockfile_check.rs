//! `check`'s decision per lockfile entry over a real (in-memory) federation: an entry
//! passes only when every file it allows is covered; partial coverage, a wrong digest, a
//! name reviewed under another normalisation, and a Gradle entry without digest are
//! refused with their reason; `accept-unknown-digests` lets the Gradle entry through and
//! the output says so. Also the SARIF rendering of the same report.

mod fed;

use fed::*;
use quorate_client::check::{self, Queries, Report};
use quorate_client::lockfile::{Format, ParsedLockfile};
use quorate_proto::attestation::{Attestation, Digest};

fn hex(d: Digest) -> String {
    let Digest::Sha256(b) = d else { panic!() };
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pypi(name: &str, version: &str, d: Digest, by: &Person) -> Attestation {
    let mut a = full(name, version, d, by);
    a.ecosystem = "pypi".into();
    a
}

/// A uv.lock with one release of `attrs`: an sdist and two wheels.
fn uv_lock() -> String {
    format!(
        "version = 1\nrevision = 3\n\n[[package]]\nname = \"attrs\"\nversion = \"25.1.0\"\n\
         source = {{ registry = \"https://pypi.org/simple\" }}\n\
         sdist = {{ url = \"https://files.example/attrs-25.1.0.tar.gz\", hash = \"sha256:{}\" }}\n\
         wheels = [\n  {{ url = \"https://files.example/attrs-25.1.0-py3-none-any.whl\", hash = \"sha256:{}\" }},\n  \
         {{ url = \"https://files.example/attrs-25.1.0-cp313-win_amd64.whl\", hash = \"sha256:{}\" }},\n]\n\n\
         [[package]]\nname = \"Typing_Extensions\"\nversion = \"4.16.0\"\n\
         source = {{ registry = \"https://pypi.org/simple\" }}\n\
         wheels = [{{ url = \"https://files.example/typing_extensions-4.16.0-py3-none-any.whl\", hash = \"sha256:{}\" }}]\n",
        hex(digest(1)),
        hex(digest(2)),
        hex(digest(3)),
        hex(digest(4)),
    )
}

fn report(f: &Fed, lock: &ParsedLockfile, extra: &str) -> (Report, quorate_client::policy::Policy) {
    let policy = f.policy(2, 2, extra);
    let r = {
        let ev = f.load(&policy, 3, NOW - 60);
        Report::evaluate(&ev, &Queries::from_parsed(lock), NOW, vec![])
    };
    (r, policy)
}

#[test]
fn every_file_of_an_entry_must_be_covered() {
    let mut f = Fed::new(&["DE", "FR", "JP"], 3);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    for d in [digest(1), digest(2)] {
        f.publish("DE", &pypi("attrs", "25.1.0", d, &a), &a);
        f.publish("FR", &pypi("attrs", "25.1.0", d, &b), &b);
    }
    // typing-extensions under its unnormalised name cannot even be signed: the schema
    // refuses names that are not in the ecosystem's normal form, so no log entry can
    // carry a second identity for the same package.
    let err = quorate_proto::attestation::sign(
        &pypi("Typing_Extensions", "4.16.0", digest(4), &a),
        &a.key,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not PEP 503 normalised"), "{err}");
    let lock = ParsedLockfile::parse(Format::UvLock, &uv_lock(), None).unwrap();
    let (r, policy) = report(&f, &lock, "");
    assert!(!r.all_pass());
    let attrs = &r.entries[0];
    assert!(!attrs.pass);
    assert_eq!(attrs.covered(), 2);
    let reason = attrs.reason.as_deref().unwrap();
    assert!(
        reason.starts_with(
            "partial coverage: 2 of 3 files covered; not covered: attrs-25.1.0-cp313-win_amd64.whl"
        ),
        "{reason}"
    );
    let te = &r.entries[1];
    assert_eq!(te.entry.id.purl(), "pkg:pypi/typing-extensions@4.16.0");
    assert!(
        !te.pass,
        "a review of `Typing_Extensions` is not one of `typing-extensions`"
    );
    assert!(
        te.reason.as_deref().unwrap().contains("no review"),
        "{:?}",
        te.reason
    );

    let table = check::render_table(&r, &policy, check::Detail::Normal);
    assert!(table.contains("FAIL attrs 25.1.0"), "{table}");
    assert!(table.contains("2/3 files covered"), "{table}");
    assert!(
        table.contains(
            "attrs-25.1.0-cp313-win_amd64.whl: not covered: 0 jurisdictions certify (2 needed)"
        ),
        "{table}"
    );
    assert!(
        table.contains("Failed 2 of 2 PyPI packages lack a quorum (0 pass;"),
        "{table}"
    );
    let json = check::render_json(&r, &policy);
    assert_eq!(json["packages"][0]["purl"], "pkg:pypi/attrs@25.1.0");
    assert_eq!(json["packages"][0]["files"].as_array().unwrap().len(), 3);
    assert_eq!(json["packages"][0]["files"][2]["pass"], false);

    // Reviewing the last wheel (and the normalised name) completes both entries.
    f.publish("DE", &pypi("attrs", "25.1.0", digest(3), &a), &a);
    f.publish("FR", &pypi("attrs", "25.1.0", digest(3), &b), &b);
    f.publish(
        "DE",
        &pypi("typing-extensions", "4.16.0", digest(4), &a),
        &a,
    );
    f.publish(
        "JP",
        &pypi("typing-extensions", "4.16.0", digest(4), &b),
        &b,
    );
    let (r, policy) = report(&f, &lock, "");
    assert!(
        r.all_pass(),
        "{}",
        check::render_table(&r, &policy, check::Detail::Verbose)
    );
}

#[test]
fn wrong_digest_is_refused_with_its_reason() {
    let mut f = Fed::new(&["DE", "FR"], 3);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    let text = format!("attrs==25.1.0 --hash=sha256:{}\n", hex(digest(9)));
    f.publish("DE", &pypi("attrs", "25.1.0", digest(1), &a), &a);
    f.publish("FR", &pypi("attrs", "25.1.0", digest(1), &b), &b);
    let lock = ParsedLockfile::parse(Format::Requirements, &text, None).unwrap();
    let (r, policy) = report(&f, &lock, "");
    let reason = r.entries[0].reason.clone().unwrap();
    assert!(reason.contains("reviewed a different artifact"), "{reason}");
    let sarif = check::sarif::render_sarif(&r, &policy, "requirements.txt", &text);
    let res = &sarif["runs"][0]["results"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(res["ruleId"], check::sarif::NO_QUORUM);
    assert_eq!(res["level"], "error");
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "requirements.txt"
    );
    assert_eq!(
        res["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    assert!(
        res["message"]["text"]
            .as_str()
            .unwrap()
            .contains("pkg:pypi/attrs@25.1.0")
    );
    assert!(
        res["message"]["text"]
            .as_str()
            .unwrap()
            .contains("reviewed a different artifact")
    );
}

#[test]
fn gradle_entries_pass_only_with_accept_unknown_digests() {
    let mut f = Fed::new(&["DE", "FR"], 3);
    let (a, b) = (Person::new("anna"), Person::new("bernd"));
    for (j, p) in [("DE", &a), ("FR", &b)] {
        let mut att = full("org.opentest4j:opentest4j", "1.3.0", digest(5), p);
        att.ecosystem = "maven".into();
        f.publish(j, &att, p);
    }
    let text = "# gradle\norg.opentest4j:opentest4j:1.3.0=testRuntimeClasspath\nempty=\n";
    let lock = ParsedLockfile::parse(Format::GradleLock, text, None).unwrap();
    let (r, policy) = report(&f, &lock, "");
    assert!(!r.all_pass());
    assert!(
        r.entries[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("accept-unknown-digests")
    );
    let sarif = check::sarif::render_sarif(&r, &policy, "gradle.lockfile", text);
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );

    let (r, policy) = report(&f, &lock, "accept-unknown-digests yes\n");
    assert!(r.all_pass());
    let table = check::render_table(&r, &policy, check::Detail::Normal);
    assert!(
        table.contains("no digest in the lockfile: accepted by accept-unknown-digests"),
        "{table}"
    );
    assert!(
        table.contains("1 passed without a digest (accept-unknown-digests)"),
        "{table}"
    );
}
