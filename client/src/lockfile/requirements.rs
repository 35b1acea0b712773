//! pip `requirements.txt` in hash-checking mode (`pip-compile --generate-hashes`,
//! `uv pip compile --generate-hashes`): `name==version ; marker --hash=sha256:...` with
//! backslash continuations. Each `--hash` is one file pip may accept (the hashes do not
//! name their files), so every one must be covered.
//!
//! Written by hand: no maintained Rust crate reads pip's requirements syntax (options,
//! continuations, hashes) without pulling in a PEP 508 stack much larger than this reader.

use super::{
    Collector, Ecosystem, FileDigest, Format, LockEntry, LockedFile, NotReviewable, PackageId,
    ParseError, ParsedLockfile, Resolution,
};

/// Longest logical line (after joining continuations): large wheels matrices have a few
/// hundred hashes of ~80 bytes.
const MAX_LOGICAL_LINE: usize = 1 << 20;

pub(crate) fn parse(text: &str) -> Result<ParsedLockfile, ParseError> {
    let mut c = Collector::new(Format::Requirements);
    let mut notes = Vec::new();
    let mut logical = String::new();
    let mut start = 0usize;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = i + 1;
        }
        let line = strip_comment(raw);
        if let Some(body) = line.trim_end().strip_suffix('\\') {
            logical.push_str(body);
            logical.push(' ');
            if logical.len() > MAX_LOGICAL_LINE {
                return Err(c.err(format!("line {start}"), "continued line too long"));
            }
            continue;
        }
        logical.push_str(line);
        let l = std::mem::take(&mut logical);
        requirement(&mut c, &mut notes, l.trim(), start)?;
    }
    if !logical.trim().is_empty() {
        // A file ending in a backslash: pip reads what it has.
        let l = std::mem::take(&mut logical);
        requirement(&mut c, &mut notes, l.trim(), start)?;
    }
    Ok(c.finish(notes))
}

/// pip treats `#` as a comment at line start or after whitespace (URLs keep `#egg=`).
fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    for (i, &ch) in b.iter().enumerate() {
        if ch == b'#' && (i == 0 || b[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn requirement(
    c: &mut Collector,
    notes: &mut Vec<String>,
    line: &str,
    n: usize,
) -> Result<(), ParseError> {
    if line.is_empty() {
        return Ok(());
    }
    let at = format!("line {n}");
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    if first.starts_with('-') {
        let rest: Vec<&str> = words.collect();
        let arg = |w: &str| -> String {
            match first.split_once('=') {
                Some((_, v)) => v.to_owned(),
                None => w.to_owned(),
            }
        };
        let opt = first.split('=').next().unwrap_or_default();
        return match opt {
            "-e" | "--editable" => {
                let target = arg(rest.first().copied().unwrap_or_default());
                let name = egg_name(&target).unwrap_or_else(|| target.clone());
                let id = PackageId::new(Ecosystem::Pypi, &name, super::python::UNVERSIONED)
                    .or_else(|_| {
                        PackageId::new(Ecosystem::Pypi, "editable", super::python::UNVERSIONED)
                    })
                    .map_err(|e| c.err(&at, e))?;
                c.push(
                    format!("-e {target}"),
                    LockEntry {
                        id,
                        resolution: Resolution::NotReviewable(NotReviewable::Editable(target)),
                        locator: at,
                        relation: None,
                    },
                )
            }
            "-r" | "--requirement" => Err(c.err(
                &at,
                format!(
                    "includes {} (`-r`): not followed; check that file too",
                    arg(rest.first().copied().unwrap_or_default())
                ),
            )),
            "-c" | "--constraint" => {
                notes.push(format!(
                    "{at}: constraints file {} not read (constraints install nothing)",
                    arg(rest.first().copied().unwrap_or_default())
                ));
                Ok(())
            }
            _ => Ok(()), // index URLs, --no-binary, --require-hashes: install options
        };
    }
    // `spec ; marker --hash=... --hash ...`: the options come after the requirement.
    let (spec, opts) = match line.find(" --") {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let (spec, marker) = match spec.split_once(';') {
        Some((s, m)) => (s.trim(), m.trim()),
        None => (spec.trim(), ""),
    };
    let mut files = Vec::new();
    let mut toks = opts.split_whitespace();
    while let Some(t) = toks.next() {
        let value = if let Some(v) = t.strip_prefix("--hash=") {
            v.to_owned()
        } else if t == "--hash" {
            toks.next()
                .ok_or_else(|| c.err(&at, "--hash without a value"))?
                .to_owned()
        } else {
            continue; // per-requirement install options (--config-settings, ...)
        };
        let d = FileDigest::parse(&value).map_err(|e| c.err(&at, e))?;
        files.push(LockedFile {
            name: None,
            digests: vec![d],
        });
    }
    // Direct references: `name @ url`, or a bare URL / path.
    let (name, version, resolution) = if let Some((name, url)) = spec
        .split_once(" @ ")
        .or_else(|| spec.split_once('@').filter(|(_, u)| u.contains("://")))
    {
        let url = url.trim().to_owned();
        (
            name.trim().to_owned(),
            super::python::UNVERSIONED.to_owned(),
            url_resolution(url),
        )
    } else if spec.contains("://") || spec.starts_with('.') || spec.starts_with('/') {
        let name = egg_name(spec)
            .ok_or_else(|| c.err(&at, "a URL or path requirement without #egg= name"))?;
        (
            name,
            super::python::UNVERSIONED.to_owned(),
            url_resolution(spec.to_owned()),
        )
    } else {
        let (name, version) = spec
            .split_once("===")
            .or_else(|| spec.split_once("=="))
            .ok_or_else(|| c.err(&at, format!("{spec:?} is not pinned with `==`")))?;
        // Extras (`name[a,b]`) install the same files.
        let name = name.split('[').next().unwrap_or(name).trim().to_owned();
        let version = version.trim().to_owned();
        if version.contains('*') || version.contains(',') {
            return Err(c.err(&at, format!("{spec:?} is not pinned to one version")));
        }
        let resolution = if files.is_empty() {
            Resolution::UnknownDigest
        } else {
            Resolution::Files(files)
        };
        (name, version, resolution)
    };
    let id = PackageId::new(Ecosystem::Pypi, &name, &version).map_err(|e| c.err(&at, e))?;
    c.push(
        format!("{} {} {marker}", id.name(), id.version()),
        LockEntry {
            id,
            resolution,
            locator: at,
            relation: None,
        },
    )
}

fn url_resolution(url: String) -> Resolution {
    Resolution::NotReviewable(if url.starts_with("git+") {
        NotReviewable::Git(url)
    } else if url.starts_with("file:") || url.starts_with('.') || url.starts_with('/') {
        NotReviewable::Path(url)
    } else {
        NotReviewable::OtherSource(url)
    })
}

fn egg_name(s: &str) -> Option<String> {
    let frag = s.split_once('#')?.1;
    frag.split('&')
        .find_map(|kv| kv.strip_prefix("egg="))
        .map(str::to_owned)
}
