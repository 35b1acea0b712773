//! Package identity as lockfiles name it: ecosystem, name normalised the way that
//! ecosystem's registry compares names, and version, with its Package URL (purl).
//!
//! This is the lockfile readers' own thin identity type. The attestation schema carries the
//! authoritative purl and name rules (specs/formats.md); readers build a [`PackageId`] only
//! through [`PackageId::new`] or [`PackageId::from_purl`], so every identity they report is
//! normalised and within the schema's size limits.

use std::fmt;

use quorate_proto::attestation::{MAX_PACKAGE_BYTES, MAX_VERSION_BYTES};

/// The package ecosystems Quorate knows, by their purl type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    Cargo,
    Npm,
    Pypi,
    Golang,
    Maven,
    /// A release archive named by its project (e.g. xz 5.6.1).
    Generic,
}

impl Ecosystem {
    pub const ALL: [Ecosystem; 6] = [
        Ecosystem::Cargo,
        Ecosystem::Npm,
        Ecosystem::Pypi,
        Ecosystem::Golang,
        Ecosystem::Maven,
        Ecosystem::Generic,
    ];

    /// The purl type (`pkg:<type>/...`).
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::Cargo => "cargo",
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Golang => "golang",
            Ecosystem::Maven => "maven",
            Ecosystem::Generic => "generic",
        }
    }

    /// The `ecosystem` string attestations carry: the purl type (formats.md, "Package
    /// identity").
    pub fn attestation_name(self) -> &'static str {
        self.purl_type()
    }

    /// From a purl type or an attestation ecosystem name.
    pub fn from_name(s: &str) -> Option<Ecosystem> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "crates.io" => Some(Ecosystem::Cargo),
            "go" => Some(Ecosystem::Golang),
            _ => Ecosystem::ALL.into_iter().find(|e| e.purl_type() == lower),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.purl_type())
    }
}

/// Why a name, version or purl is not a valid package identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("empty package name")]
    EmptyName,
    #[error("empty version of {0}")]
    EmptyVersion(String),
    #[error("package name is {0} bytes, over the {MAX_PACKAGE_BYTES}-byte limit")]
    NameTooLong(usize),
    #[error("version is {0} bytes, over the {MAX_VERSION_BYTES}-byte limit")]
    VersionTooLong(usize),
    #[error("{ecosystem} name {name:?}: {reason}")]
    BadName {
        ecosystem: Ecosystem,
        name: String,
        reason: &'static str,
    },
    #[error("version {0:?} contains whitespace or control characters")]
    BadVersion(String),
    #[error("purl {purl:?}: {reason}")]
    BadPurl { purl: String, reason: String },
}

/// A normalised package identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId {
    ecosystem: Ecosystem,
    name: String,
    version: String,
}

impl PackageId {
    /// Validates and normalises `name` by `ecosystem`'s rules:
    /// - pypi: PEP 503 (lowercase, each run of `-`, `_`, `.` becomes one `-`);
    /// - npm: lowercase, `@scope/name` (npm refuses names differing only in case, so
    ///   lowercasing keeps identity; attestations carry the lowercase form);
    /// - golang: the module path as written (the proxy's `!`-case-encoding is a transport
    ///   detail), so `github.com/Azure/x` and `github.com/azure/x` stay distinct;
    /// - maven: `group:artifact`;
    /// - cargo, generic: as written.
    pub fn new(ecosystem: Ecosystem, name: &str, version: &str) -> Result<PackageId, IdentError> {
        if name.is_empty() {
            return Err(IdentError::EmptyName);
        }
        if name.len() > MAX_PACKAGE_BYTES {
            return Err(IdentError::NameTooLong(name.len()));
        }
        if version.is_empty() {
            return Err(IdentError::EmptyVersion(name.to_owned()));
        }
        if version.len() > MAX_VERSION_BYTES {
            return Err(IdentError::VersionTooLong(version.len()));
        }
        if version.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(IdentError::BadVersion(version.to_owned()));
        }
        let bad = |reason| IdentError::BadName {
            ecosystem,
            name: name.to_owned(),
            reason,
        };
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        let name = match ecosystem {
            Ecosystem::Pypi => pep503(name).ok_or_else(|| bad("not a PEP 508 project name"))?,
            Ecosystem::Npm => {
                let bare = match name.strip_prefix('@') {
                    Some(rest) => {
                        let (scope, n) = rest
                            .split_once('/')
                            .ok_or_else(|| bad("scoped name without `/`"))?;
                        if scope.is_empty() || n.is_empty() || n.contains('/') {
                            return Err(bad("scope and name must both be one non-empty segment"));
                        }
                        n
                    }
                    None => name,
                };
                if bare.contains('/') || bare.starts_with('.') || bare.starts_with('_') {
                    return Err(bad("not an npm package name"));
                }
                name.to_ascii_lowercase()
            }
            Ecosystem::Golang => {
                if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
                    return Err(bad("not a module path"));
                }
                name.to_owned()
            }
            Ecosystem::Maven => {
                let (g, a) = name
                    .split_once(':')
                    .ok_or_else(|| bad("must be group:artifact"))?;
                if g.is_empty() || a.is_empty() || a.contains(':') || name.contains('/') {
                    return Err(bad("must be group:artifact"));
                }
                name.to_owned()
            }
            Ecosystem::Cargo | Ecosystem::Generic => {
                if name.contains('/') {
                    return Err(bad("contains `/`"));
                }
                name.to_owned()
            }
        };
        Ok(PackageId {
            ecosystem,
            name,
            version: version.to_owned(),
        })
    }

    pub fn ecosystem(&self) -> Ecosystem {
        self.ecosystem
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `pkg:type/namespace/name@version`, percent-encoding what purl requires.
    pub fn purl(&self) -> String {
        let path = match self.ecosystem {
            Ecosystem::Maven => self.name.replacen(':', "/", 1),
            _ => self.name.clone(),
        };
        let segments: Vec<String> = path.split('/').map(purl_escape).collect();
        format!(
            "pkg:{}/{}@{}",
            self.ecosystem.purl_type(),
            segments.join("/"),
            purl_escape(&self.version)
        )
    }

    /// Reads `pkg:type/namespace/name@version` (qualifiers and subpath are accepted and
    /// ignored: they select among a release's files, which lockfiles list by digest).
    pub fn from_purl(purl: &str) -> Result<PackageId, IdentError> {
        let bad = |reason: &str| IdentError::BadPurl {
            purl: purl.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = purl
            .strip_prefix("pkg:")
            .ok_or_else(|| bad("does not start with `pkg:`"))?;
        let rest = rest.split('#').next().unwrap_or_default();
        let rest = rest.split('?').next().unwrap_or_default();
        let rest = rest.trim_start_matches('/');
        let (ty, path) = rest.split_once('/').ok_or_else(|| bad("no name"))?;
        let eco = Ecosystem::from_name(ty)
            .filter(|e| e.purl_type() == ty.to_ascii_lowercase())
            .ok_or_else(|| bad(&format!("unsupported type {ty:?}")))?;
        let (path, version) = path.rsplit_once('@').ok_or_else(|| bad("no @version"))?;
        let version = purl_unescape(version).ok_or_else(|| bad("bad percent-encoding"))?;
        let segments: Vec<String> = path
            .trim_end_matches('/')
            .split('/')
            .map(purl_unescape)
            .collect::<Option<_>>()
            .ok_or_else(|| bad("bad percent-encoding"))?;
        let name = match eco {
            Ecosystem::Maven => match segments.as_slice() {
                [g, a] => format!("{g}:{a}"),
                _ => return Err(bad("maven purls are pkg:maven/group/artifact@version")),
            },
            Ecosystem::Npm | Ecosystem::Golang => segments.join("/"),
            _ => match segments.as_slice() {
                [n] => n.clone(),
                // pkg:generic/namespace/name: the namespace is informative only.
                [_, n] if eco == Ecosystem::Generic => n.clone(),
                _ => return Err(bad("unexpected namespace")),
            },
        };
        PackageId::new(eco, &name, &version).map_err(|e| bad(&e.to_string()))
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.purl())
    }
}

/// PEP 503 normalisation of a PEP 508 project name, or `None` when it is not one.
pub fn pep503(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    if !b.first().is_some_and(alnum) || !b.last().is_some_and(alnum) {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        match c {
            '-' | '_' | '.' => sep = true,
            c if c.is_ascii_alphanumeric() => {
                if sep {
                    out.push('-');
                    sep = false;
                }
                out.push(c.to_ascii_lowercase());
            }
            _ => return None,
        }
    }
    Some(out)
}

fn purl_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~+:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn purl_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pypi_names_normalise_by_pep503() {
        let id = PackageId::new(Ecosystem::Pypi, "Typing_Extensions", "4.16.0").unwrap();
        assert_eq!(id.name(), "typing-extensions");
        assert_eq!(id.purl(), "pkg:pypi/typing-extensions@4.16.0");
        assert_eq!(pep503("zope.interface").unwrap(), "zope-interface");
        assert_eq!(pep503("a__-.b").unwrap(), "a-b");
        assert!(pep503("-lead").is_none());
        assert!(pep503("sp ace").is_none());
    }

    #[test]
    fn purls_round_trip() {
        for (eco, name, ver, purl) in [
            (
                Ecosystem::Npm,
                "@actions/core",
                "3.0.1",
                "pkg:npm/%40actions/core@3.0.1",
            ),
            (
                Ecosystem::Cargo,
                "memchr",
                "2.7.1",
                "pkg:cargo/memchr@2.7.1",
            ),
            (
                Ecosystem::Golang,
                "github.com/blang/semver",
                "v3.5.1+incompatible",
                "pkg:golang/github.com/blang/semver@v3.5.1+incompatible",
            ),
            (
                Ecosystem::Maven,
                "org.opentest4j:opentest4j",
                "1.3.0",
                "pkg:maven/org.opentest4j/opentest4j@1.3.0",
            ),
            (Ecosystem::Generic, "xz", "5.6.1", "pkg:generic/xz@5.6.1"),
        ] {
            let id = PackageId::new(eco, name, ver).unwrap();
            assert_eq!(id.purl(), purl);
            assert_eq!(PackageId::from_purl(purl).unwrap(), id);
        }
        // A non-normalised PyPI purl reads as the normalised identity.
        let id = PackageId::from_purl("pkg:pypi/Django_Rest.Framework@3.15.0").unwrap();
        assert_eq!(id.name(), "django-rest-framework");
    }

    #[test]
    fn bad_identities_are_refused() {
        assert!(PackageId::new(Ecosystem::Npm, "@scope", "1.0.0").is_err());
        assert!(PackageId::new(Ecosystem::Maven, "noartifact", "1").is_err());
        assert!(PackageId::new(Ecosystem::Cargo, "x", "1 0").is_err());
        assert!(PackageId::new(Ecosystem::Cargo, &"a".repeat(300), "1").is_err());
        assert!(PackageId::from_purl("npm/foo@1").is_err());
        assert!(PackageId::from_purl("pkg:nuget/foo@1").is_err());
        assert!(PackageId::from_purl("pkg:npm/foo").is_err());
        assert!(PackageId::from_purl("pkg:cargo/foo@%zz").is_err());
    }
}
