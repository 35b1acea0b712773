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
    eprintln!(
        "SKIP: shared test data not found at {} (set QUORATE_SHARED_DIR or place shared/ beside the repository)",
        dir.display()
    );
    None
}

/// A file under `shared/`, or `None` (after printing SKIP) when `shared/` is absent.
/// Panics if `shared/` exists but the file does not: that is a broken checkout, not a skip.
pub fn shared_file(rel: &str) -> Option<PathBuf> {
    let p = shared_dir()?.join(rel);
    assert!(p.exists(), "shared test file {} is missing", p.display());
    Some(p)
}
