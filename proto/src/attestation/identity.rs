//! Package identity: the ecosystems (Package URL types), each one's normalised name and
//! loose version syntax, and Package URL rendering and parsing.
//!
//! An attestation names a package by `ecosystem` (the purl type) and `package` (the
//! ecosystem's own normalised name, not the purl's percent-encoded path). Validation
//! refuses names that are not already normalised, so one package has one spelling in
//! every log; [`Ecosystem::normalise_name`] turns user input into that spelling.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::validation::{check_chars, check_len};
use super::{AttestationError, MAX_PACKAGE_BYTES, MAX_VERSION_BYTES, Result};

/// Longest Package URL [`PackageId::parse_purl`] reads.
pub const MAX_PURL_BYTES: usize = 1024;
/// Cargo package names (crates.io's own limit).
pub const MAX_CARGO_NAME_BYTES: usize = 64;
/// npm names including the scope (npm's own limit).
pub const MAX_NPM_NAME_BYTES: usize = 214;

/// A package ecosystem, named by its Package URL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    /// crates.io: names as published (case kept), `[A-Za-z0-9_-]`, first a letter.
    Cargo,
    /// npm: lowercase, optionally `@scope/name`.
    Npm,
    /// PyPI: PEP 503 normalised (lowercase, runs of `-_.` become one `-`).
    Pypi,
    /// Go modules: the module path, case as written (see [`go_case_encode`]).
    Golang,
    /// Maven: `group:artifact`.
    Maven,
    /// A release archive outside any registry (a distribution's upstream tarball, e.g.
    /// `xz`), named by its project name.
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

    /// The purl type, which is also the attestation's `ecosystem` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Cargo => "cargo",
            Ecosystem::Npm => "npm",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Golang => "golang",
            Ecosystem::Maven => "maven",
            Ecosystem::Generic => "generic",
        }
    }

    /// Exactly a purl type as stored in attestations (`cargo`, `npm`, …).
    pub fn parse(s: &str) -> Result<Ecosystem> {
        check_chars("ecosystem", s, super::MAX_ECOSYSTEM_BYTES, |i, c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && matches!(c, '.' | '-' | '_'))
        })?;
        Ecosystem::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or(AttestationError::Invalid {
                field: "ecosystem".into(),
                reason: "not a supported purl type (cargo, npm, pypi, golang, maven, generic)",
            })
    }

    /// User input: a purl type in any case, or an alias (`crates.io`, `crates` for cargo;
    /// `go` for golang). Never used on signed data.
    pub fn from_input(s: &str) -> Result<Ecosystem> {
        let lower = s.trim().to_ascii_lowercase();
        let canonical = match lower.as_str() {
            "crates.io" | "crates" | "crate" => "cargo",
            "go" => "golang",
            other => other,
        };
        Ecosystem::parse(canonical)
    }

    /// Turns a name as a user or a lockfile may write it into the normalised form, then
    /// validates it: npm and PyPI names are lowercased (PyPI's `-_.` runs become `-`), a
    /// Go path in the module proxy's case encoding (`github.com/!burnt!sushi/toml`) is
    /// decoded, surrounding whitespace is dropped. Nothing else is rewritten.
    pub fn normalise_name(self, input: &str) -> Result<String> {
        let s = input.trim();
        check_len("package", s.len(), MAX_PACKAGE_BYTES)?;
        let out = match self {
            Ecosystem::Npm => s.to_ascii_lowercase(),
            Ecosystem::Pypi => {
                // PEP 508 names: letters, digits, `-_.`, starting and ending alphanumeric.
                check_chars("package", s, MAX_PACKAGE_BYTES, |_, c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
                })?;
                pep503(s)
            }
            Ecosystem::Golang if s.contains('!') => go_case_decode(s)?,
            _ => s.to_owned(),
        };
        self.validate_name(&out)?;
        Ok(out)
    }

    /// Checks that `name` is a valid name in this ecosystem's normalised form; errors
    /// name the field `package`.
    pub fn validate_name(self, name: &str) -> Result<()> {
        self.validate_name_as("package", name)
    }

    pub(super) fn validate_name_as(self, field: &str, name: &str) -> Result<()> {
        check_len(field, name.len(), MAX_PACKAGE_BYTES)?;
        let invalid = |reason| AttestationError::Invalid {
            field: field.into(),
            reason,
        };
        match self {
            Ecosystem::Cargo => {
                check_chars(field, name, MAX_CARGO_NAME_BYTES, |i, c| {
                    c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_'))
                })?;
                if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    return Err(invalid("cargo names start with a letter"));
                }
            }
            Ecosystem::Npm => {
                check_chars(field, name, MAX_NPM_NAME_BYTES, |i, c| {
                    npm_char(c) || (i == 0 && c == '@') || c == '/'
                })?;
                let parts: Vec<&str> = name.split('/').collect();
                let bare = match parts.as_slice() {
                    [n] => *n,
                    [scope, n] => {
                        let s = scope
                            .strip_prefix('@')
                            .ok_or_else(|| invalid("npm names with '/' are @scope/name"))?;
                        npm_part(s).map_err(invalid)?;
                        *n
                    }
                    _ => return Err(invalid("npm names are name or @scope/name")),
                };
                if bare.starts_with('@') {
                    return Err(invalid("npm scope without a name"));
                }
                npm_part(bare).map_err(invalid)?;
            }
            Ecosystem::Pypi => {
                check_chars(field, name, MAX_PACKAGE_BYTES, |_, c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
                })
                .map_err(|e| match e {
                    AttestationError::BadChar { .. } => {
                        invalid("not PEP 503 normalised (lowercase letters, digits, single '-')")
                    }
                    e => e,
                })?;
                if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
                    return Err(invalid(
                        "not PEP 503 normalised (lowercase letters, digits, single '-')",
                    ));
                }
            }
            Ecosystem::Golang => go_module_path(field, name)?,
            Ecosystem::Maven => {
                check_chars(field, name, MAX_PACKAGE_BYTES, |_, c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
                })?;
                let mut parts = name.split(':');
                let (Some(g), Some(a), None) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(invalid("maven names are group:artifact"));
                };
                if g.is_empty() || a.is_empty() {
                    return Err(invalid("maven names are group:artifact"));
                }
            }
            Ecosystem::Generic => {
                check_chars(field, name, MAX_PACKAGE_BYTES, |i, c| {
                    c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '-' | '_' | '.' | '+'))
                })?;
            }
        }
        Ok(())
    }

    /// Loose version syntax: enough to refuse what is not a release (`latest`, ranges,
    /// tags with spaces), not a full implementation of every scheme. Cargo and npm:
    /// SemVer 2.0 (cargo also `VERSION@git:COMMIT`, cargo-vet's name for a git revision). Go: `v` + SemVer, build metadata only `+incompatible` (and only for
    /// major ≥ 2). PyPI: PEP 440 shape (optional `N!` epoch, a digit first, then
    /// `[0-9a-z.+!_-]`). Maven and generic: `[A-Za-z0-9._+~-]`, first alphanumeric; Maven
    /// also refuses `LATEST`, `RELEASE` and `-SNAPSHOT` (mutable, so not reviewable).
    pub fn validate_version(self, field: &str, v: &str) -> Result<()> {
        check_chars(field, v, MAX_VERSION_BYTES, |_, c| {
            c.is_ascii_graphic() && c != '/'
        })?;
        let invalid = |reason| AttestationError::Invalid {
            field: field.into(),
            reason,
        };
        if v.eq_ignore_ascii_case("latest") {
            return Err(invalid("`latest` names no fixed release"));
        }
        match self {
            Ecosystem::Cargo => {
                // cargo-vet names a git revision of a crate `VERSION@git:COMMIT`.
                let (sv, git) = match v.split_once("@git:") {
                    Some((sv, rev)) => (sv, Some(rev)),
                    None => (v, None),
                };
                semver::Version::parse(sv).map_err(|_| invalid("not a SemVer 2.0 version"))?;
                if git.is_some_and(|r| {
                    !(r.len() == 40 || r.len() == 64)
                        || !r
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                }) {
                    return Err(invalid(
                        "@git: must be followed by a 40 or 64 digit commit id",
                    ));
                }
            }
            Ecosystem::Npm => {
                semver::Version::parse(v).map_err(|_| invalid("not a SemVer 2.0 version"))?;
            }
            Ecosystem::Golang => {
                let sv = v
                    .strip_prefix('v')
                    .ok_or_else(|| invalid("Go versions start with 'v'"))?;
                let parsed =
                    semver::Version::parse(sv).map_err(|_| invalid("not a Go semantic version"))?;
                match parsed.build.as_str() {
                    "" => {}
                    "incompatible" if parsed.major >= 2 => {}
                    "incompatible" => {
                        return Err(invalid("+incompatible needs major version >= 2"));
                    }
                    _ => {
                        return Err(invalid(
                            "Go versions carry no build metadata but +incompatible",
                        ));
                    }
                }
            }
            Ecosystem::Pypi => {
                let release = match v.split_once('!') {
                    Some((epoch, rest))
                        if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        rest
                    }
                    Some(_) => return Err(invalid("PEP 440 epoch must be digits")),
                    None => v,
                };
                if !release.starts_with(|c: char| c.is_ascii_digit())
                    || !release.chars().all(|c| {
                        c.is_ascii_lowercase()
                            || c.is_ascii_digit()
                            || matches!(c, '.' | '+' | '_' | '-')
                    })
                {
                    return Err(invalid(
                        "not a PEP 440 version (a digit first; lowercase letters, digits, . + _ -)",
                    ));
                }
            }
            Ecosystem::Maven | Ecosystem::Generic => {
                check_chars(field, v, MAX_VERSION_BYTES, |i, c| {
                    c.is_ascii_alphanumeric() || (i > 0 && matches!(c, '.' | '-' | '_' | '+' | '~'))
                })?;
                if self == Ecosystem::Maven
                    && (v == "LATEST" || v == "RELEASE" || v.ends_with("-SNAPSHOT"))
                {
                    return Err(invalid(
                        "LATEST, RELEASE and -SNAPSHOT are not fixed releases",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Turns a version as a user may write it into the ecosystem's form (PyPI: lowercase,
    /// no leading `v`; Go: a leading `v` added to a bare SemVer), then validates it.
    pub fn normalise_version(self, input: &str) -> Result<String> {
        let s = input.trim();
        let out = match self {
            Ecosystem::Pypi => {
                let l = s.to_ascii_lowercase();
                l.strip_prefix('v').map(str::to_owned).unwrap_or(l)
            }
            Ecosystem::Golang if s.starts_with(|c: char| c.is_ascii_digit()) => format!("v{s}"),
            _ => s.to_owned(),
        };
        self.validate_version("version", &out)?;
        Ok(out)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Ecosystem {
    type Err = AttestationError;
    fn from_str(s: &str) -> Result<Ecosystem> {
        Ecosystem::from_input(s)
    }
}

fn npm_char(c: char) -> bool {
    // URL-safe characters npm has allowed in names (lowercase only for the letters).
    c.is_ascii_lowercase()
        || c.is_ascii_digit()
        || matches!(c, '-' | '.' | '_' | '~' | '!' | '*' | '\'' | '(' | ')')
}

fn npm_part(p: &str) -> std::result::Result<(), &'static str> {
    if p.is_empty() {
        return Err("empty npm scope or name");
    }
    if p.starts_with('.') || p.starts_with('_') {
        return Err("npm names do not start with '.' or '_'");
    }
    if !p.chars().all(npm_char) {
        return Err("npm names are lowercase URL-safe characters");
    }
    Ok(())
}

/// PEP 503: lowercase, and every run of `-`, `_`, `.` becomes one `-`.
fn pep503(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

/// Go module paths (after golang.org/x/mod `CheckPath`, loosely): `/`-separated elements
/// of `[A-Za-z0-9._~-]`, none empty, none starting or ending with `.`; the first element
/// is a lowercase host name containing a dot.
fn go_module_path(field: &str, p: &str) -> Result<()> {
    check_chars(field, p, MAX_PACKAGE_BYTES, |_, c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-' | '/')
    })?;
    let invalid = |reason| AttestationError::Invalid {
        field: field.into(),
        reason,
    };
    for el in p.split('/') {
        if el.is_empty() {
            return Err(invalid("Go module path has an empty element"));
        }
        if el.starts_with('.') || el.ends_with('.') {
            return Err(invalid("Go module path element starts or ends with '.'"));
        }
    }
    let host = p.split('/').next().unwrap_or_default();
    if !host.contains('.')
        || !host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-'))
    {
        return Err(invalid(
            "Go module path must start with a lowercase host name containing a dot",
        ));
    }
    Ok(())
}

/// The Go module proxy's case encoding: each uppercase letter becomes `!` and its
/// lowercase (`github.com/BurntSushi/toml` → `github.com/!burnt!sushi/toml`), so paths
/// stay distinct on case-insensitive file systems. Attestations store the real case;
/// this form is only for proxy URLs and cache paths.
pub fn go_case_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Inverse of [`go_case_encode`]; refuses uppercase letters and a `!` not followed by a
/// lowercase letter (both impossible in the encoding).
pub fn go_case_decode(s: &str) -> Result<String> {
    let invalid = |reason| AttestationError::Invalid {
        field: "package".into(),
        reason,
    };
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '!' => match chars.next() {
                Some(l) if l.is_ascii_lowercase() => out.push(l.to_ascii_uppercase()),
                _ => {
                    return Err(invalid(
                        "'!' in a case-encoded Go path must precede a lowercase letter",
                    ));
                }
            },
            c if c.is_ascii_uppercase() => {
                return Err(invalid("a case-encoded Go path has no uppercase letters"));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A release, by ecosystem, normalised name and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
}

/// Percent-encoded in purl path segments and the version: everything but the purl spec's
/// unreserved characters.
const PURL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

impl PackageId {
    /// Validates each part (the name must already be normalised).
    pub fn new(ecosystem: Ecosystem, name: &str, version: &str) -> Result<PackageId> {
        ecosystem.validate_name(name)?;
        ecosystem.validate_version("version", version)?;
        Ok(PackageId {
            ecosystem,
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }

    /// The name as purl namespace segments and name (npm scope, Go path, Maven group).
    fn purl_segments(&self) -> Vec<&str> {
        match self.ecosystem {
            Ecosystem::Npm | Ecosystem::Golang => self.name.split('/').collect(),
            Ecosystem::Maven => self.name.split(':').collect(),
            _ => vec![self.name.as_str()],
        }
    }

    /// `pkg:TYPE/NAMESPACE/NAME@VERSION`, each segment and the version percent-encoded
    /// (`pkg:npm/%40scope/name@1.2.3`, `pkg:golang/github.com/a/b@v2.0.0%2Bincompatible`,
    /// `pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1`).
    pub fn to_purl(&self) -> String {
        let mut s = format!("pkg:{}", self.ecosystem.as_str());
        for seg in self.purl_segments() {
            s.push('/');
            s.extend(utf8_percent_encode(seg, PURL_ENCODE));
        }
        s.push('@');
        s.extend(utf8_percent_encode(&self.version, PURL_ENCODE));
        s
    }

    /// Parses a Package URL with a version, normalising the name as
    /// [`Ecosystem::normalise_name`] does. Qualifiers (`?repository_url=…` could name a
    /// different registry) and subpaths are refused rather than ignored.
    pub fn parse_purl(purl: &str) -> Result<PackageId> {
        let err = |reason| AttestationError::Purl {
            purl: purl.chars().take(300).collect(),
            reason,
        };
        if purl.len() > MAX_PURL_BYTES {
            return Err(err("longer than 1024 bytes"));
        }
        let rest = purl
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("pkg:"))
            .map(|_| &purl[4..])
            .ok_or_else(|| err("does not start with pkg:"))?;
        let rest = rest.trim_start_matches('/');
        if rest.contains('#') {
            return Err(err("subpaths are not supported"));
        }
        if rest.contains('?') {
            return Err(err("qualifiers are not supported"));
        }
        let (ty, path) = rest.split_once('/').ok_or_else(|| err("no name"))?;
        let ecosystem = Ecosystem::parse(&ty.to_ascii_lowercase())?;
        let (path, version) = path
            .rsplit_once('@')
            .filter(|(_, v)| !v.contains('/'))
            .ok_or_else(|| err("no @VERSION"))?;
        let decode = |s: &str| -> Result<String> {
            let d = percent_decode_str(s)
                .decode_utf8()
                .map_err(|_| err("percent-encoding is not UTF-8"))?;
            if d.is_empty() || d.contains('/') {
                return Err(err("empty segment, or '/' encoded inside a segment"));
            }
            Ok(d.into_owned())
        };
        let segments = path
            .trim_end_matches('/')
            .split('/')
            .map(decode)
            .collect::<Result<Vec<String>>>()?;
        let name = match (ecosystem, segments.as_slice()) {
            (Ecosystem::Npm, [n]) => n.clone(),
            (Ecosystem::Npm, [scope, n]) if scope.starts_with('@') => format!("{scope}/{n}"),
            (Ecosystem::Npm, [scope, n]) => format!("@{scope}/{n}"),
            (Ecosystem::Golang, s) if !s.is_empty() => s.join("/"),
            (Ecosystem::Maven, [g, a]) => format!("{g}:{a}"),
            (Ecosystem::Cargo | Ecosystem::Pypi | Ecosystem::Generic, [n]) => n.clone(),
            _ => return Err(err("wrong number of namespace segments for the type")),
        };
        let version = decode(version)?;
        Ok(PackageId {
            ecosystem,
            name: ecosystem.normalise_name(&name)?,
            version: ecosystem.normalise_version(&version)?,
        })
    }

    /// Reads `--package` input: a purl, or `ECOSYSTEM/NAME@VERSION` with the ecosystem
    /// given as a purl type or alias (`cargo/serde@1.0.210`, `npm/@scope/pkg@2.0.0`);
    /// the name and version are normalised.
    pub fn parse_spec(spec: &str) -> Result<PackageId> {
        if spec
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("pkg:"))
        {
            return PackageId::parse_purl(spec);
        }
        let err = |reason| AttestationError::PackageSpec {
            spec: spec.chars().take(300).collect(),
            reason,
        };
        // Ecosystem names contain no '/', while names may (npm scopes, Go paths).
        let (eco, rest) = spec
            .split_once('/')
            .ok_or_else(|| err("expected a purl or ECOSYSTEM/NAME@VERSION (no '/')"))?;
        // The last '@' separates the version, since npm scoped names start with '@'.
        let (name, version) = rest
            .rsplit_once('@')
            .ok_or_else(|| err("expected a purl or ECOSYSTEM/NAME@VERSION (no '@')"))?;
        if eco.is_empty() {
            return Err(err("empty ecosystem"));
        }
        if name.is_empty() {
            return Err(err("empty package name"));
        }
        if version.is_empty() {
            return Err(err("empty version"));
        }
        let ecosystem = Ecosystem::from_input(eco)?;
        Ok(PackageId {
            ecosystem,
            name: ecosystem.normalise_name(name)?,
            version: ecosystem.normalise_version(version)?,
        })
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_purl())
    }
}
