//! Locating `../shared` (test vectors kept beside the repository, never copied into it).
//!
//! A fresh clone elsewhere has no `../shared`: tests that need it print a visible SKIP line
//! and return, unless `QUORATE_REQUIRE_SHARED=1` (set by `.ci/run`), in which case they fail.
#![allow(dead_code)]

use std::path::PathBuf;

/// The `shared/` directory: `$QUORATE_SHARED_DIR` if set, else `<workspace root>/../shared`.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("QUORATE_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("QUORATE_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!(
            "QUORATE_REQUIRE_SHARED=1 but the shared test data directory {} is missing",
            dir.display()
        );
    }
    skip(&format!(
        "shared test data not found at {} (set QUORATE_SHARED_DIR or place shared/ beside the repository)",
        dir.display()
    ));
    None
}

/// Prints `SKIP: <test>: <why>` where a default `cargo test` run shows it: written to the
/// stderr file descriptor directly, since libtest captures only the print macros. A skip
/// that only `--nocapture` reveals reads as a pass.
pub fn skip(why: &str) {
    use std::io::Write as _;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
}

/// A file under `shared/`, or `None` (after printing SKIP) when `shared/` is absent.
/// Panics if `shared/` exists but the file does not: that is a broken checkout, not a skip.
pub fn shared_file(rel: &str) -> Option<PathBuf> {
    let p = shared_dir()?.join(rel);
    assert!(p.exists(), "shared test file {} is missing", p.display());
    Some(p)
}

/// Debian's golang-* packages install Go libraries here (GOPATH mode).
pub const GOPATH: &str = "/usr/share/gocode";

/// Builds the Go program `src` (GOPATH mode, against Debian's golang.org/x/mod) into
/// `dir`, for interop tests against Go's reference implementations. Returns `None` after
/// a visible SKIP when `go` or the package `golang.org/x/mod/<needs>` is missing, unless
/// `QUORATE_REQUIRE_GO=1` (set by `.ci/run`, which installs both) makes that a failure.
pub fn build_go(src: &std::path::Path, dir: &std::path::Path, needs: &str) -> Option<PathBuf> {
    use std::process::Command;
    let have_go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let pkg = std::path::Path::new(GOPATH)
        .join("src/golang.org/x/mod")
        .join(needs);
    let have_pkg = pkg.is_dir();
    if !(have_go && have_pkg) {
        if std::env::var("QUORATE_REQUIRE_GO").as_deref() == Ok("1") {
            panic!(
                "QUORATE_REQUIRE_GO=1 but go (present: {have_go}) or {} (present: {have_pkg}) is missing",
                pkg.display()
            );
        }
        skip(&format!(
            "Go interop test needs `go` and {} (apt-get install golang-go golang-golang-x-mod-dev)",
            pkg.display()
        ));
        return None;
    }
    let stem = src.file_stem().unwrap_or_default();
    let out = dir.join(stem);
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(src)
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env("GOCACHE", dir.join("gocache"))
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of {} failed", src.display());
    Some(out)
}

/// `python3` with the `cryptography` package, for independent verification of signatures
/// (DSSE envelopes). Returns `None` after a visible SKIP when either is missing, unless
/// `QUORATE_REQUIRE_PYTHON_CRYPTOGRAPHY=1` (set by `.ci/run`, which installs it) makes
/// that a failure.
pub fn python_with_cryptography() -> Option<PathBuf> {
    use std::process::Command;
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("QUORATE_REQUIRE_PYTHON_CRYPTOGRAPHY").as_deref() == Ok("1") {
            panic!(
                "QUORATE_REQUIRE_PYTHON_CRYPTOGRAPHY=1 but python3 with the cryptography package is missing"
            );
        }
        skip(
            "independent DSSE verification needs python3 with `cryptography` (python3 -m pip install cryptography)",
        );
        return None;
    }
    Some(PathBuf::from("python3"))
}
