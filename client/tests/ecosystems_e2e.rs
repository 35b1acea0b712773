//! End to end per ecosystem with real `quorate-node` processes on 127.0.0.1: reviews made
//! with `quorate review --package PURL --digest <the ecosystem's notation>`, submitted to
//! two institutes (two jurisdictions), decide entries of the real lockfiles in
//! shared/locks through `quorate check` (mirror sync, quorum 2): a Cargo.lock crate, a
//! uv.lock release whose sdist and wheel must both be covered (partial coverage refused
//! first, with its reason), and a gradle.lockfile entry that passes only under
//! `accept-unknown-digests`. Also the SARIF output of the same check. And the crev and
//! OpenSSF importers submitting through a node, deciding the releases they imported.

#[path = "../../proto/tests/common/mod.rs"]
mod common;
mod nodes;

use std::path::{Path, PathBuf};

use nodes::*;

struct Fed {
    _t: Tmp,
    dir: PathBuf,
    keys: Vec<PathBuf>,
    nodes: Vec<Institute>,
}

impl Fed {
    fn new(tag: &str) -> Fed {
        let t = Tmp::new(tag);
        let dir = t.path().to_owned();
        let mut keys = Vec::new();
        let mut nodes = Vec::new();
        for (j, who) in [("DE", "anna"), ("FR", "bernd")] {
            let (k, p) = reviewer(&dir, who);
            nodes.push(Institute::start(&dir, j, &[&p]));
            keys.push(k);
        }
        Fed {
            _t: t,
            dir,
            keys,
            nodes,
        }
    }

    /// Reviews `purl` at `digest` by each institute's reviewer and submits it there.
    fn review_everywhere(&self, purl: &str, digest: &str) {
        for (i, (k, n)) in self.keys.iter().zip(&self.nodes).enumerate() {
            let out = self.dir.join(format!(
                "{}-{i}-{}.att",
                purl.replace(['/', '@', ':', '%'], "_"),
                &digest.replace(['/', ':', '+', '='], "_")[..20.min(digest.len())]
            ));
            let mut args = vec!["review", "--key", s(k), "--package", purl];
            if digest == "unknown" {
                args.push("--no-digest");
            } else {
                args.extend(["--digest", digest]);
            }
            args.extend(["--criteria", "safe-to-deploy", "--out", s(&out)]);
            ok(&q(&args));
            ok(&q(&["submit", "--node", &n.url, "--log", &n.vkey, s(&out)]));
        }
    }

    fn policy(&self, extra: &str) -> PathBuf {
        let p = self.dir.join(format!("p{}.policy", extra.len()));
        let mut text = String::from("quorum none\n");
        for n in &self.nodes {
            text.push_str(&n.policy_line());
        }
        text.push_str("review-quorum 2\n");
        text.push_str(extra);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn check(&self, lock: &Path, policy: &Path, format: &str) -> std::process::Output {
        q(&[
            "check",
            s(lock),
            "--policy",
            s(policy),
            "--cache",
            s(&self.dir.join("cache")),
            "--format",
            format,
        ])
    }
}

fn entry<'a>(v: &'a serde_json::Value, purl: &str) -> &'a serde_json::Value {
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purl"] == purl)
        .unwrap_or_else(|| panic!("{purl} not in the check output"))
}

#[test]
fn reviews_of_each_ecosystem_decide_real_lockfile_entries() {
    let (Some(cargo), Some(uv), Some(gradle)) = (
        common::shared_file("locks/ripgrep-14.1.0.Cargo.lock"),
        common::shared_file("locks/sigstore-python-27db13d.uv.lock"),
        common::shared_file("locks/kotlin-bip39-1.0.9.gradle.lockfile"),
    ) else {
        return;
    };
    let f = Fed::new("eco");
    let policy = f.policy("");

    // Cargo: the checksum as Cargo.lock writes it (bare hex).
    f.review_everywhere(
        "pkg:cargo/memchr@2.7.1",
        "523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149",
    );
    let o = f.check(&cargo, &policy, "json");
    exits(&o, 1, "");
    let v = json(&o);
    let memchr = entry(&v, "pkg:cargo/memchr@2.7.1");
    assert_eq!(memchr["pass"], true, "{memchr}");
    assert_eq!(memchr["certified_by"], serde_json::json!(["DE", "FR"]));
    assert_eq!(entry(&v, "pkg:cargo/regex@1.10.2")["pass"], false);
    assert_eq!(
        v["not_checked"].as_array().unwrap().len(),
        10,
        "the path members"
    );

    // PyPI: annotated-types 0.7.0 is an sdist and one wheel. The sdist alone is partial.
    let sdist = "sha256:aff07c09a53a08bc8cfccb9c85b05f1aa9a2a6f23728d790723543408344ce89";
    let wheel = "sha256:1f02e8b43a8fbbc3f3e0d4f0f4bfc8131bcb4eebe8849b8e5c773f3a1c582a53";
    // The purl's name is normalised as PyPI compares names.
    f.review_everywhere("pkg:pypi/Annotated_Types@0.7.0", sdist);
    let v = json(&f.check(&uv, &policy, "json"));
    let at = entry(&v, "pkg:pypi/annotated-types@0.7.0");
    assert_eq!(at["pass"], false);
    let reason = at["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("partial coverage: 1 of 2 files covered; not covered: annotated_types-0.7.0-py3-none-any.whl"),
        "{reason}"
    );
    // SARIF for the same: the failing release at its [[package]] line of uv.lock.
    let o = f.check(&uv, &policy, "sarif");
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let res = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partialFingerprints"]["purl"] == "pkg:pypi/annotated-types@0.7.0")
        .unwrap();
    assert_eq!(res["ruleId"], "quorate/no-quorum");
    assert_eq!(
        res["locations"][0]["physicalLocation"]["region"]["startLine"],
        13
    );
    assert!(
        res["message"]["text"]
            .as_str()
            .unwrap()
            .contains("partial coverage")
    );
    let editable = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "quorate/not-reviewable")
        .unwrap();
    assert!(
        editable["message"]["text"]
            .as_str()
            .unwrap()
            .contains("editable install")
    );
    // The wheel too: every file covered, the release passes.
    f.review_everywhere("pkg:pypi/annotated-types@0.7.0", wheel);
    let v = json(&f.check(&uv, &policy, "json"));
    assert_eq!(entry(&v, "pkg:pypi/annotated-types@0.7.0")["pass"], true);

    // Maven (Gradle): no digest in the lockfile. A review without digest passes the entry
    // only under accept-unknown-digests, and the output says so.
    f.review_everywhere("pkg:maven/org.opentest4j/opentest4j@1.3.0", "unknown");
    let o = f.check(&gradle, &policy, "table");
    let table = stdout(&o);
    assert!(
        table.contains("FAIL opentest4j") || table.contains("FAIL org.opentest4j:opentest4j 1.3.0"),
        "{table}"
    );
    assert!(table.contains("accept-unknown-digests"), "{table}");
    let lenient = f.policy("accept-unknown-digests yes\n");
    let o = f.check(&gradle, &lenient, "table");
    let table = stdout(&o);
    let line = table
        .lines()
        .find(|l| l.contains("org.opentest4j:opentest4j 1.3.0"))
        .unwrap();
    assert!(line.trim_start().starts_with("ok"), "{line}");
    assert!(
        line.contains("no digest in the lockfile: accepted by accept-unknown-digests"),
        "{line}"
    );
}

/// Go and npm, the two ecosystems with their own digest notations: a go.sum entry decided
/// by reviews made with its `h1:` hash (the module path given in the proxy's case encoding,
/// which names the same module), and a package-lock.json entry decided by reviews made
/// with its `integrity` (`sha512-…`), its name typed unnormalised. Refused with their
/// reasons: a review of the same module path in the wrong case (Go paths are
/// case-sensitive: another module) and a review of another digest.
#[test]
fn go_and_npm_reviews_decide_real_lockfile_entries() {
    let (Some(gosum), Some(npm)) = (
        common::shared_file("locks/rekor-tiles-74e3eb0.go.sum"),
        common::shared_file("locks/actions-checkout-7.0.1.package-lock.json"),
    ) else {
        return;
    };
    let f = Fed::new("gonpm");
    let policy = f.policy("");

    // Go: github.com/Azure/azure-sdk-for-go/sdk/azcore v1.21.1, pinned by go.sum's h1:.
    let azcore = "pkg:golang/github.com/Azure/azure-sdk-for-go/sdk/azcore@v1.21.1";
    let h1 = "h1:jHb/wfvRikGdxMXYV3QG/SzUOPYN9KEUUuC0Yd0/vC0=";
    // The lowercase path is a different module: its reviews do not count.
    f.review_everywhere(
        "pkg:golang/github.com/azure/azure-sdk-for-go/sdk/azcore@v1.21.1",
        h1,
    );
    // A review of the right module at another digest does not count either.
    f.review_everywhere(
        "pkg:golang/cloud.google.com/go/storage@v1.64.0",
        "h1:AHhDsFaSax1/4k+qlIDX/SDGe6hggnfXJ9dkgD9qBPY=",
    );
    let v = json(&f.check(&gosum, &policy, "json"));
    let e = entry(&v, azcore);
    assert_eq!(e["pass"], false, "{e}");
    let reason = e["reason"].as_str().unwrap();
    assert!(reason.contains("no review of this package"), "{reason}");
    let storage = entry(&v, "pkg:golang/cloud.google.com/go/storage@v1.64.0");
    assert_eq!(storage["pass"], false, "{storage}");
    let reason = storage["reason"].as_str().unwrap();
    assert!(
        reason.contains("reviewed a different artifact") && reason.contains("h1:KLpxI"),
        "{reason}"
    );
    // In the module proxy's case encoding the path names the module go.sum pins.
    f.review_everywhere(
        "pkg:golang/github.com/!azure/azure-sdk-for-go/sdk/azcore@v1.21.1",
        h1,
    );
    let v = json(&f.check(&gosum, &policy, "json"));
    let e = entry(&v, azcore);
    assert_eq!(e["pass"], true, "{e}");
    assert_eq!(e["certified_by"], serde_json::json!(["DE", "FR"]));

    // npm: @actions/exec 3.0.0, pinned by its integrity.
    let integrity = "sha512-6xH/puSoNBXb72VPlZVm7vQ+svQpFyA96qdDBvhB8eNZOE8LtPf9L4oAsfzK/crCL8YZ+19fKYVnM63Sl+Xzlw==";
    // As typed by a user the name is normalised the way purl and npm compare names
    // (lowercase); signed data must already be normalised (proto refuses it otherwise).
    f.review_everywhere("pkg:npm/%40Actions/Exec@3.0.0", integrity);
    let v = json(&f.check(&npm, &policy, "json"));
    let e = entry(&v, "pkg:npm/%40actions/exec@3.0.0");
    assert_eq!(e["pass"], true, "{e}");
    let other = entry(&v, "pkg:npm/%40actions/github@9.1.1");
    assert_eq!(other["pass"], false, "{other}");
}

#[test]
fn crev_and_ossf_imports_go_through_a_node_and_decide_releases() {
    let (Some(crev), Some(ossf)) = (
        common::shared_file("reviews/crev/dpc-crev-proofs"),
        common::shared_file("reviews/ossf-security-reviews/reviews/npm/left-pad"),
    ) else {
        return;
    };
    let t = Tmp::new("imports");
    let dir = t.path();
    let (k, p) = reviewer(dir, "importer");
    let de = Institute::start(dir, "DE", &[&p]);
    // dpc reviewed `log 0.4.6` (safe-to-run); its archive digest comes from this lockfile
    // (the index is unreachable offline, and the import says so).
    let sum = "523dc4f511e55ab87b694dc30d0f820d60906ef06413f93d4d7a1385599cc149";
    let lock = dir.join("Cargo.lock");
    std::fs::write(&lock, lockfile(&[("log", "0.4.6", sum)])).unwrap();
    let o = q(&[
        "import",
        "crev",
        s(&crev),
        "--key",
        s(&k),
        "--org",
        "crev mirror",
        "--lock",
        s(&lock),
        "--offline",
        "--index-cache",
        s(&dir.join("idx")),
        "--node",
        &de.url,
        "--log",
        &de.vkey,
    ]);
    let out = ok(&o);
    let err = stderr(&o);
    assert!(err.contains("package reviews verified"), "{err}");
    assert!(
        out.contains("every inclusion proof verified under the log key"),
        "{out}"
    );
    let policy = dir.join("p.policy");
    std::fs::write(
        &policy,
        format!(
            "quorum none\n{}review-quorum 1\ncriteria safe-to-run\naccept-unknown-digests yes\n",
            de.policy_line()
        ),
    )
    .unwrap();
    let o = q(&[
        "check",
        s(&lock),
        "--policy",
        s(&policy),
        "--cache",
        s(&dir.join("c")),
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(entry(&v, "pkg:cargo/log@0.4.6")["pass"], true, "{v}");

    // OpenSSF: left-pad 1.3.0 was reviewed (Code-Review, no issues) -> safe-to-deploy, no
    // digest named: it decides an npm lockfile entry under accept-unknown-digests.
    let o = q(&[
        "import",
        "ossf-security-reviews",
        s(&ossf),
        "--key",
        s(&k),
        "--org",
        "OpenSSF",
        "--offline",
        "--index-cache",
        s(&dir.join("idx")),
        "--node",
        &de.url,
        "--log",
        &de.vkey,
    ]);
    ok(&o);
    let npm = dir.join("package-lock.json");
    std::fs::write(
        &npm,
        r#"{"lockfileVersion": 3, "packages": {"": {"name": "app"},
            "node_modules/left-pad": {"version": "1.3.0",
              "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
              "integrity": "sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQEQJ0Enz4ngGObT3FtuDs2ZlSl+jicgD0yCdJJfDKmq9RGA=="}}}"#,
    )
    .unwrap();
    let o = q(&[
        "check",
        s(&npm),
        "--policy",
        s(&policy),
        "--cache",
        s(&dir.join("c")),
        "--json",
    ]);
    let v = json(&o);
    let lp = entry(&v, "pkg:npm/left-pad@1.3.0");
    // The review names the npm tarball by its sha512 (npm's `integrity`), so it decides
    // the lockfile entry.
    assert_eq!(lp["pass"], true, "{lp}");
    assert!(
        lp["digest"].as_str().unwrap().starts_with("sha512:"),
        "{lp}"
    );
}
