//! npm `package-lock.json` / `npm-shrinkwrap.json`, lockfileVersion 2 and 3: the
//! `packages` map from install path (`node_modules/a/node_modules/@s/b`) to what is
//! installed there. Each installed copy is one entry (the same release nested at two paths
//! is two entries, as npm installs it twice); its one file is the registry tarball pinned
//! by `integrity` (SRI, normally `sha512-`).

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::{
    Collector, Ecosystem, FileDigest, Format, LockEntry, LockedFile, NotReviewable, PackageId,
    ParseError, ParsedLockfile, Resolution,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLock {
    lockfile_version: Option<i64>,
    packages: Option<Packages>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPackage {
    name: Option<String>,
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    in_bundle: bool,
}

/// The `packages` object in file order, refusing a key that appears twice (serde_json's
/// maps would silently keep the last one, hiding a tampered or badly merged entry).
struct Packages(Vec<(String, RawPackage)>);

impl<'de> Deserialize<'de> for Packages {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Packages, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Packages;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of install paths")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Packages, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    if !seen.insert(k.clone()) {
                        return Err(de::Error::custom(format!(
                            "duplicate entry {k:?} in `packages`"
                        )));
                    }
                    if out.len() >= super::MAX_ENTRIES {
                        return Err(de::Error::custom("too many entries in `packages`"));
                    }
                    out.push((k, m.next_value::<RawPackage>()?));
                }
                Ok(Packages(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The package name installed at `path`: the part after the last `node_modules/`.
fn name_from_path(path: &str) -> Option<&str> {
    path.rsplit_once("node_modules/").map(|(_, n)| n)
}

pub(crate) fn parse(text: &str) -> Result<ParsedLockfile, ParseError> {
    let doc = |reason: String| ParseError::Document {
        format: Format::NpmLock,
        reason,
    };
    let raw: RawLock = serde_json::from_str(text).map_err(|e| ParseError::Syntax {
        format: Format::NpmLock,
        syntax: "JSON",
        reason: e.to_string(),
    })?;
    match raw.lockfile_version {
        Some(2 | 3) => {}
        Some(1) => {
            return Err(doc(
                "lockfileVersion 1 has no `packages` map; regenerate it with npm 7 or later".into(),
            ));
        }
        Some(v) => {
            return Err(doc(format!(
                "unsupported lockfileVersion {v} (supported: 2, 3)"
            )));
        }
        None => return Err(doc("no lockfileVersion".into())),
    }
    let packages = raw
        .packages
        .ok_or_else(|| doc("no `packages` map".into()))?
        .0;
    let versions: std::collections::HashMap<&str, &str> = packages
        .iter()
        .filter_map(|(k, p)| Some((k.as_str(), p.version.as_deref()?)))
        .collect();
    let mut c = Collector::new(Format::NpmLock);
    for (key, p) in &packages {
        // "" is the project itself; keys outside node_modules are its workspace folders,
        // reached through the `link` entries that point at them.
        let Some(installed_as) = name_from_path(key) else {
            continue;
        };
        let at = format!("packages[{key:?}]");
        let name = p.name.as_deref().unwrap_or(installed_as);
        let resolution;
        let version;
        if p.link {
            let target = p
                .resolved
                .as_deref()
                .ok_or_else(|| c.err(&at, "link without `resolved`"))?;
            version = versions.get(target).copied().unwrap_or("0.0.0-link");
            resolution = Resolution::NotReviewable(if name_from_path(target).is_none() {
                NotReviewable::Workspace(target.to_owned())
            } else {
                NotReviewable::Link(target.to_owned())
            });
        } else {
            version = p
                .version
                .as_deref()
                .ok_or_else(|| c.err(&at, "no `version`"))?;
            resolution = if p.in_bundle {
                Resolution::NotReviewable(NotReviewable::Bundled)
            } else {
                match p.resolved.as_deref() {
                    Some(r) if is_git(r) => Resolution::NotReviewable(NotReviewable::Git(r.into())),
                    Some(r) if r.starts_with("file:") => {
                        Resolution::NotReviewable(NotReviewable::Path(r.into()))
                    }
                    Some(r) if !(r.starts_with("https://") || r.starts_with("http://")) => {
                        Resolution::NotReviewable(NotReviewable::OtherSource(r.into()))
                    }
                    _ => match p.integrity.as_deref() {
                        Some(i) => Resolution::Files(vec![LockedFile {
                            name: None,
                            digests: FileDigest::parse_sri(i).map_err(|e| c.err(&at, e))?,
                        }]),
                        None => Resolution::UnknownDigest,
                    },
                }
            };
        }
        let id = PackageId::new(Ecosystem::Npm, name, version).map_err(|e| c.err(&at, e))?;
        c.push(
            key.clone(),
            LockEntry {
                id,
                resolution,
                locator: at,
                relation: None,
            },
        )?;
    }
    Ok(c.finish(Vec::new()))
}

fn is_git(r: &str) -> bool {
    r.starts_with("git+") || r.starts_with("git:") || r.starts_with("github:")
}
