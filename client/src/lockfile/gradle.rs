//! Gradle `gradle.lockfile`: `group:artifact:version=configuration,...` per line. Gradle's
//! lockfile pins versions only (checksums live in the separate, optional
//! `verification-metadata.xml`), so every entry is [`Resolution::UnknownDigest`]: it can
//! pass only under the policy's `accept-unknown-digests`, and `check` says so.
//!
//! Written by hand: one `split` per line; no crate reads this format.

use super::{
    Collector, Ecosystem, Format, LockEntry, PackageId, ParseError, ParsedLockfile, Resolution,
};

pub(crate) fn parse(text: &str) -> Result<ParsedLockfile, ParseError> {
    let mut c = Collector::new(Format::GradleLock);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = format!("line {}", i + 1);
        if line.is_empty() || line.starts_with('#') || line.starts_with("empty=") {
            continue;
        }
        let (coord, _configurations) = line
            .split_once('=')
            .ok_or_else(|| c.err(&at, "expected `group:artifact:version=configurations`"))?;
        let parts: Vec<&str> = coord.split(':').collect();
        let [group, artifact, version] = parts.as_slice() else {
            return Err(c.err(&at, format!("{coord:?} is not group:artifact:version")));
        };
        let id = PackageId::new(Ecosystem::Maven, &format!("{group}:{artifact}"), version)
            .map_err(|e| c.err(&at, e))?;
        c.push(
            coord.to_owned(),
            LockEntry {
                id,
                resolution: Resolution::UnknownDigest,
                locator: at,
                relation: None,
            },
        )?;
    }
    Ok(c.finish(Vec::new()))
}
