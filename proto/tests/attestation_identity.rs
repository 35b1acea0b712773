//! Package identity (purl types, normalised names, versions, purls) and digest notations.

use quorate_proto::attestation::identity::{go_case_decode, go_case_encode};
use quorate_proto::attestation::{AttestationError, Digest, DigestAlgorithm, Ecosystem, PackageId};

fn norm(e: Ecosystem, s: &str) -> String {
    e.normalise_name(s).unwrap()
}

#[test]
fn names_are_normalised_per_ecosystem() {
    use Ecosystem::*;
    // PEP 503: lowercase, runs of -_. become one '-'.
    assert_eq!(norm(Pypi, "Django"), "django");
    assert_eq!(norm(Pypi, "zope.interface"), "zope-interface");
    assert_eq!(norm(Pypi, "Foo__Bar-.baz"), "foo-bar-baz");
    // npm: lowercase, scopes kept.
    assert_eq!(norm(Npm, "@Types/Node"), "@types/node");
    assert_eq!(norm(Npm, "JSONStream"), "jsonstream");
    // Go: real case kept; the proxy's case encoding is decoded.
    assert_eq!(
        norm(Golang, "github.com/BurntSushi/toml"),
        "github.com/BurntSushi/toml"
    );
    assert_eq!(
        norm(Golang, "github.com/!burnt!sushi/toml"),
        "github.com/BurntSushi/toml"
    );
    assert_eq!(
        norm(Maven, "org.apache.logging.log4j:log4j-core"),
        "org.apache.logging.log4j:log4j-core"
    );
    assert_eq!(norm(Cargo, " serde_json "), "serde_json");
    assert_eq!(norm(Generic, "xz"), "xz");
}

#[test]
fn unnormalised_or_invalid_names_refused() {
    use Ecosystem::*;
    for (e, bad) in [
        (Pypi, "Django"),
        (Pypi, "zope.interface"),
        (Pypi, "a--b"),
        (Pypi, "-a"),
        (Npm, "Left-Pad"),
        (Npm, "@scope"),
        (Npm, "@scope/"),
        (Npm, "a/b"),
        (Npm, ".hidden"),
        (Npm, "@a/b/c"),
        (Golang, "github.com//x"),
        (Golang, "localhost/x"),
        (Golang, "GitHub.com/x"),
        (Golang, "github.com/x/.y"),
        (Maven, "log4j-core"),
        (Maven, "a:b:c"),
        (Maven, ":b"),
        (Cargo, "9lives"),
        (Cargo, "has.dot"),
        (Cargo, &"a".repeat(65)),
        (Generic, "-xz"),
        (Generic, "x z"),
    ] {
        let err = e
            .validate_name(bad)
            .expect_err(&format!("{e} {bad:?} accepted"));
        assert!(err.to_string().contains("package"), "{err}");
    }
}

#[test]
fn go_case_encoding_round_trips() {
    let p = "github.com/BurntSushi/toml";
    assert_eq!(go_case_encode(p), "github.com/!burnt!sushi/toml");
    assert_eq!(go_case_decode(&go_case_encode(p)).unwrap(), p);
    assert!(go_case_decode("github.com/!Burnt").is_err());
    assert!(go_case_decode("github.com/x!").is_err());
    assert!(go_case_decode("github.com/Upper").is_err());
}

#[test]
fn versions_per_ecosystem() {
    use Ecosystem::*;
    let ok = [
        (Cargo, "1.0.210"),
        (Cargo, "4.0.3@git:f6488e35beccb26eb6e85847b02aa78a42cd3d0e"),
        (Npm, "2.0.0-rc.1"),
        (Golang, "v1.2.3"),
        (Golang, "v2.0.0+incompatible"),
        (Golang, "v0.0.0-20240101120000-abcdef123456"),
        (Pypi, "2.31.0"),
        (Pypi, "1!2.0rc1.post2.dev3+local.1"),
        (Maven, "2.14.1"),
        (Generic, "5.6.1"),
    ];
    for (e, v) in ok {
        e.validate_version("version", v)
            .unwrap_or_else(|err| panic!("{e} {v}: {err}"));
    }
    let bad = [
        (Cargo, "latest"),
        (Npm, "LATEST"),
        (Cargo, "1.0"),
        (Cargo, "1.0.0@git:main"),
        (Npm, "^1.0.0"),
        (Golang, "1.2.3"),
        (Golang, "v1.2.3+incompatible"),
        (Golang, "v2.0.0+meta"),
        (Pypi, "v1.0"),
        (Pypi, "one"),
        (Maven, "1.0-SNAPSHOT"),
        (Maven, "RELEASE"),
        (Generic, "latest"),
        (Generic, "1.0/x"),
    ];
    for (e, v) in bad {
        let err = e
            .validate_version("version", v)
            .expect_err(&format!("{e} {v} accepted"));
        assert!(err.to_string().contains("version"), "{err}");
    }
    assert_eq!(Pypi.normalise_version("V1.0RC1").unwrap(), "1.0rc1");
    assert_eq!(Golang.normalise_version("1.2.3").unwrap(), "v1.2.3");
}

#[test]
fn purls_render_and_parse() {
    let cases = [
        (
            Ecosystem::Npm,
            "@scope/name",
            "1.2.3",
            "pkg:npm/%40scope/name@1.2.3",
        ),
        (
            Ecosystem::Npm,
            "left-pad",
            "1.3.0",
            "pkg:npm/left-pad@1.3.0",
        ),
        (
            Ecosystem::Pypi,
            "zope-interface",
            "6.0",
            "pkg:pypi/zope-interface@6.0",
        ),
        (
            Ecosystem::Golang,
            "github.com/BurntSushi/toml",
            "v2.0.0+incompatible",
            "pkg:golang/github.com/BurntSushi/toml@v2.0.0%2Bincompatible",
        ),
        (
            Ecosystem::Maven,
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        ),
        (
            Ecosystem::Cargo,
            "serde",
            "1.0.210",
            "pkg:cargo/serde@1.0.210",
        ),
        (Ecosystem::Generic, "xz", "5.6.1", "pkg:generic/xz@5.6.1"),
    ];
    for (e, n, v, purl) in cases {
        let id = PackageId::new(e, n, v).unwrap();
        assert_eq!(id.to_purl(), purl);
        assert_eq!(PackageId::parse_purl(purl).unwrap(), id);
    }
    // Input forms a user may type normalise to the same identity.
    let id = PackageId::parse_purl("pkg:PyPI/Zope.Interface@6.0").unwrap();
    assert_eq!(id.name, "zope-interface");
    assert_eq!(
        PackageId::parse_purl("pkg:npm/@scope/name@1.2.3")
            .unwrap()
            .name,
        "@scope/name"
    );
    assert_eq!(
        PackageId::parse_spec("crates.io/serde@1.0.210")
            .unwrap()
            .to_purl(),
        "pkg:cargo/serde@1.0.210"
    );
}

#[test]
fn hostile_purls_refused() {
    for bad in [
        "npm/left-pad@1.3.0",
        "pkg:npm/left-pad",
        "pkg:npm/left-pad@1.3.0?repository_url=https://evil.example",
        "pkg:npm/left-pad@1.3.0#lib",
        "pkg:unknown/x@1.0.0",
        "pkg:maven/log4j-core@2.14.1",
        "pkg:cargo/a/b@1.0.0",
        "pkg:npm/a%2Fb@1.0.0",
        "pkg:npm/%ff@1.0.0",
        "pkg:npm/left-pad@latest",
        "pkg:npm/left-pad@",
    ] {
        assert!(PackageId::parse_purl(bad).is_err(), "{bad} accepted");
    }
    let long = format!("pkg:npm/{}@1.0.0", "a".repeat(2000));
    assert!(matches!(
        PackageId::parse_purl(&long),
        Err(AttestationError::Purl { .. })
    ));
}

#[test]
fn digest_notations() {
    let sha256 = [0xab; 32];
    let hex256 = "ab".repeat(32);
    for s in [
        hex256.clone(),
        format!("sha256:{hex256}"),
        format!("sha256:{}", hex256.to_uppercase()),
    ] {
        assert_eq!(Digest::parse(&s).unwrap(), Digest::Sha256(sha256), "{s}");
    }
    // npm integrity (SRI): sha512-BASE64.
    let b64_512 = base64_std(&[0x11; 64]);
    assert_eq!(
        Digest::parse(&format!("sha512-{b64_512}")).unwrap(),
        Digest::Sha512([0x11; 64])
    );
    assert_eq!(
        Digest::parse(&"11".repeat(64)).unwrap(),
        Digest::Sha512([0x11; 64])
    );
    // go.sum h1:
    let h1 = format!("h1:{}", base64_std(&[0x22; 32]));
    let d = Digest::parse(&h1).unwrap();
    assert_eq!(d, Digest::GoH1([0x22; 32]));
    assert_eq!(d.to_string(), h1);
    // SHA-1 (npm shasum, Maven .sha1) is weak.
    let s1 = Digest::parse(&"33".repeat(20)).unwrap();
    assert_eq!(s1, Digest::Sha1([0x33; 20]));
    assert!(s1.is_weak() && !Digest::Sha256(sha256).is_weak());
    assert_eq!(
        Digest::parse(&format!("sha1-{}", base64_std(&[0x33; 20]))).unwrap(),
        s1
    );
    // Display reads back.
    for d in [
        Digest::Sha256(sha256),
        Digest::Sha512([1; 64]),
        Digest::GoH1([2; 32]),
        Digest::Sha1([3; 20]),
    ] {
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
    }
    assert_eq!(Digest::GoH1([0; 32]).algorithm(), DigestAlgorithm::GoH1);
    for bad in [
        String::new(),
        "sha256:".into(),
        format!("sha256:{}", "ab".repeat(31)),
        format!("sha512-{}", base64_std(&[1; 32])),
        format!("h1:{}", base64_std(&[1; 31])),
        // Non-zero trailing bits: a second spelling of the same bytes.
        format!("h1:{}F=", &base64_std(&[1; 32])[..42]),
        format!("md5:{}", "ab".repeat(16)),
        format!("sha512-{b64_512} sha1-{}", base64_std(&[0x33; 20])),
        "ab".repeat(30),
        "x".repeat(10_000),
    ] {
        assert!(
            matches!(
                Digest::parse(&bad),
                Err(AttestationError::DigestNotation { .. })
            ),
            "{bad:?} accepted"
        );
    }
}

/// Standard base64 with padding, written out here so the test does not share the code
/// under test.
fn base64_std(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
