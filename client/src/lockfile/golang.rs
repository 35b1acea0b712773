//! `go.sum` with its `go.mod`. Each `module version h1:...` line (not the `/go.mod` ones,
//! which pin only a dependency's go.mod file) is one module zip the build may download,
//! pinned by Go's `h1:` dirhash. go.mod says which modules the main module requires
//! directly and which `// indirect`, and which are `replace`d by local directories (those
//! have no go.sum line and are reported as not reviewable).
//!
//! Written by hand: go.sum is three fields a line, and the go.mod subset read here
//! (`require`, `replace`) is a few dozen lines; no maintained crate parses go.mod.

use std::collections::HashMap;

use super::{
    Collector, Ecosystem, FileDigest, Format, LockEntry, LockedFile, NotReviewable, PackageId,
    ParseError, ParsedLockfile, Relation, Resolution,
};

/// What go.mod says about the modules it names.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GoMod {
    pub module: Option<String>,
    /// Required module path -> (version, indirect?).
    pub require: HashMap<String, (String, bool)>,
    /// Module path -> local directory it is replaced by.
    pub local_replace: HashMap<String, String>,
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('`').and_then(|s| s.strip_suffix('`')))
        .unwrap_or(s)
}

/// Reads the `module`, `require` and `replace` directives of go.mod.
pub fn parse_gomod(text: &str) -> Result<GoMod, String> {
    let mut m = GoMod::default();
    let mut block: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let at = i + 1;
        let (code, comment) = match raw.split_once("//") {
            Some((c, k)) => (c.trim(), k.trim()),
            None => (raw.trim(), ""),
        };
        if code.is_empty() {
            continue;
        }
        let (verb, args) = match &block {
            Some(_) if code == ")" => {
                block = None;
                continue;
            }
            Some(b) => (b.clone(), code),
            None => {
                let (verb, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
                let rest = rest.trim();
                if rest == "(" {
                    block = Some(verb.to_owned());
                    continue;
                }
                (verb.to_owned(), rest)
            }
        };
        let f: Vec<&str> = args.split_whitespace().map(unquote).collect();
        match verb.as_str() {
            "module" => m.module = f.first().map(|s| (*s).to_owned()),
            "require" => {
                let [path, version] = f.as_slice() else {
                    return Err(format!("go.mod line {at}: require needs `path version`"));
                };
                let indirect = comment.split([';', ' ']).any(|w| w.trim() == "indirect");
                if m.require
                    .insert((*path).to_owned(), ((*version).to_owned(), indirect))
                    .is_some()
                {
                    return Err(format!("go.mod line {at}: {path} required twice"));
                }
            }
            "replace" => {
                let arrow = f
                    .iter()
                    .position(|w| *w == "=>")
                    .ok_or_else(|| format!("go.mod line {at}: replace without `=>`"))?;
                let (Some(from), Some(to)) = (f.first(), f.get(arrow + 1)) else {
                    return Err(format!("go.mod line {at}: incomplete replace"));
                };
                if to.starts_with("./") || to.starts_with("../") || to.starts_with('/') {
                    m.local_replace.insert((*from).to_owned(), (*to).to_owned());
                }
            }
            _ => {} // go, toolchain, exclude, retract, godebug, tool, ignore
        }
    }
    if block.is_some() {
        return Err("go.mod ends inside a ( block".into());
    }
    Ok(m)
}

pub(crate) fn parse(text: &str, gomod: Option<&str>) -> Result<ParsedLockfile, ParseError> {
    let gomod = gomod
        .map(parse_gomod)
        .transpose()
        .map_err(|reason| ParseError::Document {
            format: Format::GoSum,
            reason,
        })?;
    let mut c = Collector::new(Format::GoSum);
    let mut notes = Vec::new();
    let mut gomod_lines: HashMap<(String, String), usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("line {}", i + 1);
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [module, version, hash] = f.as_slice() else {
            return Err(c.err(&at, "expected `module version h1:hash`"));
        };
        if !hash.starts_with("h1:") {
            return Err(c.err(&at, format!("unsupported hash {hash:?} (go.sum uses h1:)")));
        }
        let d = FileDigest::parse(hash).map_err(|e| c.err(&at, e))?;
        if let Some(v) = version.strip_suffix("/go.mod") {
            // Only the dependency's go.mod; still refuse a repeated line.
            if gomod_lines
                .insert(((*module).to_owned(), v.to_owned()), i + 1)
                .is_some()
            {
                return Err(ParseError::Duplicate {
                    format: Format::GoSum,
                    at,
                    what: format!("{module} {version}"),
                });
            }
            continue;
        }
        if !version.starts_with('v') {
            return Err(c.err(&at, format!("version {version:?} does not start with `v`")));
        }
        let id = PackageId::new(Ecosystem::Golang, module, version).map_err(|e| c.err(&at, e))?;
        let relation = gomod.as_ref().map(|g| match g.require.get(*module) {
            Some((_, true)) => Relation::Indirect,
            Some((_, false)) => Relation::Direct,
            None => Relation::GraphOnly,
        });
        c.push(
            format!("{module} {version}"),
            LockEntry {
                id,
                resolution: Resolution::Files(vec![LockedFile {
                    name: None,
                    digests: vec![d],
                }]),
                locator: at,
                relation,
            },
        )?;
    }
    match &gomod {
        None => notes.push(
            "no go.mod beside go.sum: direct and indirect requirements are not told apart".into(),
        ),
        Some(g) => {
            let mut replaced: Vec<_> = g.local_replace.iter().collect();
            replaced.sort();
            for (module, dir) in replaced {
                let (version, indirect) = g
                    .require
                    .get(module)
                    .map_or(("v0.0.0", false), |(v, ind)| (v.as_str(), *ind));
                let id = PackageId::new(Ecosystem::Golang, module, version)
                    .map_err(|e| c.err("go.mod replace", e))?;
                c.push(
                    format!("replace {module}"),
                    LockEntry {
                        id,
                        resolution: Resolution::NotReviewable(NotReviewable::Path(dir.clone())),
                        locator: format!("go.mod replace {module}"),
                        relation: Some(if indirect {
                            Relation::Indirect
                        } else {
                            Relation::Direct
                        }),
                    },
                )?;
            }
        }
    }
    Ok(c.finish(notes))
}
