//! The package index: entries by `(ecosystem, package, version)` and release search.

use super::layout::name;
use super::releases::{ReleaseReader, head_count};
use super::{ReleaseRow, Snapshot, StoreError, corrupt, package_key};

type Reader<'a> = ReleaseReader<
    'a,
    redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
>;

impl Snapshot {
    fn release_reader(&self) -> Reader<'_> {
        ReleaseReader {
            heads: &self.releases,
            chunks: &self.release_chunks,
        }
    }

    /// Indexes of entries for `(ecosystem, package, version)`, ascending.
    pub fn lookup_package(&self, eco: &str, pkg: &str, ver: &str) -> Result<Vec<u64>, StoreError> {
        let Ok(key) = package_key(eco, pkg, ver) else {
            return Ok(Vec::new());
        };
        let reader = self.release_reader();
        let Some(head) = reader.head(&key)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in 0..head.rows() {
            out.extend(reader.row(&key, &head, r)?);
        }
        Ok(out)
    }

    /// Up to `limit` indexes of entries for `(ecosystem, package, version)` that are
    /// `>= from`, ascending, and the next such index when more follow. Finds the row
    /// holding `from` by binary search over the release's rows, then reads row by row, so
    /// a page of a release with many entries costs O(log) row reads plus the page.
    pub fn lookup_package_page(
        &self,
        eco: &str,
        pkg: &str,
        ver: &str,
        from: u64,
        limit: usize,
    ) -> Result<(Vec<u64>, Option<u64>), StoreError> {
        let Ok(key) = package_key(eco, pkg, ver) else {
            return Ok((Vec::new(), None));
        };
        let reader = self.release_reader();
        let Some(head) = reader.head(&key)? else {
            return Ok((Vec::new(), None));
        };
        let mut out = Vec::new();
        for r in reader.row_for(&key, &head, from)?..head.rows() {
            for i in reader.row(&key, &head, r)? {
                if i < from {
                    continue;
                }
                if out.len() == limit {
                    return Ok((out, Some(i)));
                }
                out.push(i);
            }
        }
        Ok((out, None))
    }

    /// Releases in the package index of `ecosystem` whose package name starts with
    /// `package_prefix` (equals it when `exact`), in index key order (package, then
    /// version, bytewise), strictly after the release `after` when given: at most
    /// `limit`, and whether more follow. Each comes with its number of entries. A range
    /// scan of the index, so the cost is bounded by `limit`, not by the log.
    pub fn search_releases(
        &self,
        eco: &str,
        package_prefix: &str,
        exact: bool,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<(Vec<ReleaseRow>, bool), StoreError> {
        use std::ops::Bound;
        if [eco, package_prefix].iter().any(|s| s.contains('\0')) {
            return Ok((Vec::new(), false));
        }
        let mut prefix = Vec::with_capacity(eco.len() + package_prefix.len() + 2);
        prefix.extend_from_slice(eco.as_bytes());
        prefix.push(0);
        prefix.extend_from_slice(package_prefix.as_bytes());
        if exact {
            prefix.push(0);
        }
        let after_key = match after {
            Some((pkg, ver)) => match package_key(eco, pkg, ver) {
                Ok(k) => Some(k),
                Err(_) => return Ok((Vec::new(), false)),
            },
            None => None,
        };
        let lower = match &after_key {
            Some(k) if k.as_slice() >= prefix.as_slice() => Bound::Excluded(k.as_slice()),
            _ => Bound::Included(prefix.as_slice()),
        };
        let mut out = Vec::new();
        for row in self.releases.range::<&[u8]>((lower, Bound::Unbounded))? {
            let (k, head) = row?;
            let key = k.value();
            if !key.starts_with(&prefix) {
                break;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            let mut parts = key.splitn(3, |b| *b == 0);
            let (Some(_), Some(p), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt(
                    name::RELEASES,
                    String::from_utf8_lossy(key),
                    "key without two separators",
                ));
            };
            out.push(ReleaseRow {
                ecosystem: eco.to_owned(),
                package: String::from_utf8_lossy(p).into_owned(),
                version: String::from_utf8_lossy(v).into_owned(),
                entries: head_count(head.value(), key)?,
            });
        }
        Ok((out, false))
    }
}
