//! Artifact digests from the crates.io index, for attestations whose source (a cargo-vet
//! audit) names a version but no checksum.
//!
//! The crates.io sparse index serves one file per crate, one JSON object per line and
//! version; each has `vers` and `cksum` (SHA-256 of the `.crate` archive, the same value
//! as Cargo.lock's `checksum`). Files are cached under the cache directory so a second run
//! needs no network, and a crate absent from the index is cached as absent too.
//!
//! The index is not a trust anchor here: a wrong digest only makes an attestation fail to
//! match the artifact the client checks (its own Cargo.lock), never pass for another one.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use quorate_proto::attestation::Digest;

/// The public crates.io sparse index.
pub const CRATES_IO_SPARSE: &str = "https://index.crates.io";
/// An index file larger than this is refused (the largest crates have a few MiB).
pub const MAX_INDEX_FILE: u64 = 32 << 20;

/// Why a digest could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("crate name {0:?} is not a valid crates.io name")]
    BadName(String),
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("index file for {name} line {line}: {reason}")]
    Parse {
        name: String,
        line: usize,
        reason: String,
    },
    #[error("cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The relative path of a crate's file in a cargo index (`se/rd/serde`, `3/s/syn`).
pub fn index_path(name: &str) -> Result<String, IndexError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(IndexError::BadName(name.to_string()));
    }
    let lower = name.to_ascii_lowercase();
    Ok(match lower.len() {
        1 => format!("1/{lower}"),
        2 => format!("2/{lower}"),
        3 => format!("3/{}/{lower}", &lower[..1]),
        _ => format!("{}/{}/{lower}", &lower[..2], &lower[2..4]),
    })
}

#[derive(serde::Deserialize)]
struct IndexLine {
    vers: String,
    cksum: String,
}

/// Parses an index file into version -> SHA-256 digest.
pub fn parse_index_file(name: &str, text: &str) -> Result<HashMap<String, [u8; 32]>, IndexError> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: IndexLine = serde_json::from_str(line).map_err(|e| IndexError::Parse {
            name: name.to_string(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        let digest = match Digest::from_hex(&parsed.cksum) {
            Ok(Digest::Sha256(d)) => Some(d),
            _ => None,
        }
        .ok_or_else(|| IndexError::Parse {
            name: name.to_string(),
            line: i + 1,
            reason: format!("cksum {:?} is not 64 hex digits", parsed.cksum),
        })?;
        out.insert(parsed.vers, digest);
    }
    Ok(out)
}

/// A crates.io digest source: the sparse index over HTTPS with an on-disk cache.
pub struct CratesIndex {
    base: String,
    cache: Option<PathBuf>,
    offline: bool,
    memo: HashMap<String, Option<HashMap<String, [u8; 32]>>>,
}

impl CratesIndex {
    /// The public index, cached under `cache` (e.g. `~/.cache/quorate/crates-index`).
    pub fn new(cache: Option<PathBuf>) -> CratesIndex {
        CratesIndex::with_base(CRATES_IO_SPARSE, cache)
    }

    /// Another sparse index (a mirror, or a test server).
    pub fn with_base(base: &str, cache: Option<PathBuf>) -> CratesIndex {
        CratesIndex {
            base: base.trim_end_matches('/').to_string(),
            cache,
            offline: false,
            memo: HashMap::new(),
        }
    }

    /// Answer from the cache only; a crate not cached is reported as unknown.
    pub fn offline(mut self, offline: bool) -> CratesIndex {
        self.offline = offline;
        self
    }

    /// The default cache directory: `$XDG_CACHE_HOME/quorate/crates-index` or
    /// `$HOME/.cache/quorate/crates-index`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("quorate").join("crates-index"))
    }

    /// The SHA-256 of `name`'s `.crate` archive at `version`, or `None` when the index
    /// has no such version (or, offline, nothing cached for the crate).
    pub fn digest(&mut self, name: &str, version: &str) -> Result<Option<[u8; 32]>, IndexError> {
        let path = index_path(name)?;
        if !self.memo.contains_key(&path) {
            let versions = self.load(name, &path)?;
            self.memo.insert(path.clone(), versions);
        }
        Ok(self
            .memo
            .get(&path)
            .and_then(|v| v.as_ref())
            .and_then(|v| v.get(version).copied()))
    }

    fn load(
        &self,
        name: &str,
        path: &str,
    ) -> Result<Option<HashMap<String, [u8; 32]>>, IndexError> {
        let cached = self.cache.as_ref().map(|c| c.join(path));
        if let Some(file) = &cached {
            if let Ok(text) = fs::read_to_string(file) {
                return parse_index_file(name, &text).map(Some);
            }
            if file.with_extension("absent").exists() {
                return Ok(None);
            }
        }
        if self.offline {
            return Ok(None);
        }
        let url = format!("{}/{path}", self.base);
        let fetch_err = |reason: String| IndexError::Fetch {
            url: url.clone(),
            reason,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .http_status_as_error(false)
            // The operating system's roots: on machines behind an inspecting proxy only
            // the system store knows its CA, and that is the store an operator manages.
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(crate::net::root_certs())
                    .build(),
            )
            .build()
            .into();
        let mut resp = agent
            .get(&url)
            .call()
            .map_err(|e| fetch_err(e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 404 || status == 410 {
            if let Some(file) = &cached {
                write_cache(&file.with_extension("absent"), b"")?;
            }
            return Ok(None);
        }
        if status != 200 {
            return Err(fetch_err(format!("HTTP status {status}")));
        }
        let mut body = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_INDEX_FILE + 1)
            .read_to_end(&mut body)
            .map_err(|e| fetch_err(e.to_string()))?;
        if body.len() as u64 > MAX_INDEX_FILE {
            return Err(fetch_err(format!("index file over {MAX_INDEX_FILE} bytes")));
        }
        let text = String::from_utf8(body).map_err(|_| fetch_err("not UTF-8".into()))?;
        let parsed = parse_index_file(name, &text)?;
        if let Some(file) = &cached {
            write_cache(file, text.as_bytes())?;
        }
        Ok(Some(parsed))
    }
}

/// A lockfile digest the index contradicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Crate name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 the lockfile records.
    pub lockfile: [u8; 32],
    /// SHA-256 the index records.
    pub index: [u8; 32],
}

/// What [`CratesIndex::cross_check`] found.
#[derive(Debug, Default)]
pub struct CrossCheck {
    /// Digests the index confirmed.
    pub agreed: usize,
    /// (name, version) pairs the index does not list (or, offline, has nothing cached for).
    pub absent: Vec<(String, String)>,
    /// Digests the index contradicts.
    pub mismatches: Vec<Mismatch>,
    /// Set when the index could not be read: checking stopped at the first failure, so
    /// the remaining digests are unchecked.
    pub unreachable: Option<IndexError>,
}

impl CratesIndex {
    /// The index base URL (for messages).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Compares each `(name, version, sha256)` with the index. A lockfile can be edited by
    /// anyone who touches the repository, so before its digests are signed into
    /// attestations they are held against the registry's own record. Stops at the first
    /// lookup that fails (an unreachable index would otherwise cost a timeout per crate).
    pub fn cross_check<'a>(
        &mut self,
        digests: impl IntoIterator<Item = (&'a str, &'a str, &'a [u8; 32])>,
    ) -> CrossCheck {
        let mut out = CrossCheck::default();
        for (name, version, lock) in digests {
            match self.digest(name, version) {
                Ok(Some(d)) if d == *lock => out.agreed += 1,
                Ok(Some(d)) => out.mismatches.push(Mismatch {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    lockfile: *lock,
                    index: d,
                }),
                Ok(None) => out.absent.push((name.to_owned(), version.to_owned())),
                Err(IndexError::BadName(_)) => {
                    out.absent.push((name.to_owned(), version.to_owned()))
                }
                Err(e) => {
                    out.unreachable = Some(e);
                    break;
                }
            }
        }
        out
    }
}

fn write_cache(path: &Path, data: &[u8]) -> Result<(), IndexError> {
    let err = |source| IndexError::Cache {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    // Write then rename, so a killed run never leaves a truncated cache file behind.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, data).map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_cargo() {
        assert_eq!(index_path("a").unwrap(), "1/a");
        assert_eq!(index_path("cc").unwrap(), "2/cc");
        assert_eq!(index_path("syn").unwrap(), "3/s/syn");
        assert_eq!(index_path("serde").unwrap(), "se/rd/serde");
        assert_eq!(index_path("Inflector").unwrap(), "in/fl/inflector");
        for bad in ["", "../etc", "a/b", "x y", &"a".repeat(65)] {
            assert!(index_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_index_lines_and_rejects_bad_ones() {
        let text = concat!(
            r#"{"name":"itoa","vers":"1.0.0","deps":[],"cksum":"0000000000000000000000000000000000000000000000000000000000000001","features":{},"yanked":false}"#,
            "\n",
            r#"{"name":"itoa","vers":"1.0.1","deps":[],"cksum":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff","features":{},"yanked":true}"#,
            "\n"
        );
        let m = parse_index_file("itoa", text).unwrap();
        assert_eq!(m["1.0.0"][31], 1);
        assert_eq!(m["1.0.1"], [0xff; 32]);
        assert!(parse_index_file("itoa", "{").is_err());
        let bad = r#"{"vers":"1.0.0","cksum":"xyz"}"#;
        let err = parse_index_file("itoa", bad).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("hex"), "{err}");
    }

    #[test]
    fn cache_answers_offline() {
        let dir = std::env::temp_dir().join(format!("quorate-index-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let line = r#"{"name":"serde","vers":"1.0.0","cksum":"0101010101010101010101010101010101010101010101010101010101010101"}"#;
        write_cache(&dir.join("se/rd/serde"), line.as_bytes()).unwrap();
        // An unreachable base proves the answer came from the cache.
        let mut idx = CratesIndex::with_base("http://127.0.0.1:9", Some(dir.clone()));
        assert_eq!(idx.digest("serde", "1.0.0").unwrap(), Some([1; 32]));
        assert_eq!(idx.digest("serde", "9.9.9").unwrap(), None);
        let mut off = CratesIndex::new(Some(dir.clone())).offline(true);
        assert_eq!(off.digest("not-cached", "1.0.0").unwrap(), None);
        // Online with an unreachable index: a clear error naming the URL.
        let err = idx.digest("itoa", "1.0.0").unwrap_err().to_string();
        assert!(
            err.contains("127.0.0.1:9/2/it") || err.contains("127.0.0.1:9/it"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
