//! Entries on disk: packed rows of consecutive entries (the tlog-tiles entry-bundle
//! encoding: each a big-endian `u16` length, then its bytes), keyed by the index of the
//! first, each at most [`ROW_BYTES`]; and single rows for the entries after the last
//! packed row (the tail), until they would fill one.
//!
//! Why bytes, not 256 entries per row: redb gives a value that does not fit a page a
//! page of 4 KiB * 2^k, so a 256-entry bundle of ~330-byte envelopes (85 KB) took a
//! 128 KiB page, a quarter to a half of it slack (measured: 110 B/entry). Rows filled
//! up to just under 64 KiB waste at most one entry's worth of their page.

use redb::ReadableTable;

use super::StoreError;
use super::layout::name;

/// Most bytes in a packed row: a 64 KiB page less room for its leaf header, key and
/// value offset.
pub(crate) const ROW_BYTES: usize = 64 * 1024 - 64;

/// Encoded size of one entry in a row.
fn encoded(len: usize) -> usize {
    2 + len
}

/// Decodes packed row `key`: at least one entry, each length-prefixed, nothing left over.
pub(crate) fn decode_row(key: u64, bytes: &[u8]) -> Result<Vec<&[u8]>, StoreError> {
    let bad = |reason: String| super::corrupt(name::BUNDLES, key, reason);
    if bytes.is_empty() {
        return Err(bad("empty row".into()));
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(bad(format!("truncated at byte {offset}")));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if len == 0 || tail.len() < len {
            return Err(bad(format!(
                "truncated or empty entry at byte {offset} (length {len})"
            )));
        }
        let (e, tail) = tail.split_at(len);
        out.push(e);
        rest = tail;
    }
    Ok(out)
}

/// Index of the first entry not in a packed row: the tail's first key, or `size` when
/// the tail is empty (only the empty tree: every append leaves its entry in the tail).
pub(crate) fn packed_end<T>(tail: &T, size: u64) -> Result<u64, StoreError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    Ok(tail.first()?.map_or(size, |(k, _)| k.value()))
}

/// Entry bytes from the tables of a tree of `size` entries.
pub(crate) struct EntryReader<'a, B, T> {
    pub(crate) bundles: &'a B,
    pub(crate) tail: &'a T,
    pub(crate) size: u64,
}

impl<B, T> EntryReader<'_, B, T>
where
    B: ReadableTable<u64, &'static [u8]>,
    T: ReadableTable<u64, &'static [u8]>,
{
    /// Entry `i < size`.
    pub(crate) fn entry(&self, i: u64) -> Result<Vec<u8>, StoreError> {
        let mut out = None;
        self.each(i, i + 1, |_, e| {
            out = Some(e.to_vec());
            Ok(())
        })?;
        out.ok_or_else(|| super::corrupt(name::TAIL, i, "missing"))
    }

    /// Calls `f(index, bytes)` for entries `start..end` (`end <= size`), in order,
    /// reading each packed row once.
    pub(crate) fn each(
        &self,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut i = start;
        let packed = packed_end(self.tail, self.size)?.min(end);
        if i < packed {
            let first = match self.bundles.range(..=i)?.next_back() {
                Some(row) => row?.0.value(),
                None => return Err(super::corrupt(name::BUNDLES, i, "missing")),
            };
            let mut key = first;
            for row in self.bundles.range(first..)? {
                let (k, v) = row?;
                if k.value() != key {
                    return Err(super::corrupt(name::BUNDLES, key, "missing"));
                }
                let entries = decode_row(key, v.value())?;
                let next = key + entries.len() as u64;
                let stop = packed.min(next);
                for j in i..stop {
                    f(j, entries[(j - key) as usize])?;
                }
                i = stop.max(i);
                key = next;
                if i >= packed {
                    break;
                }
            }
            if i < packed {
                return Err(super::corrupt(name::BUNDLES, key, "missing"));
            }
        }
        if i < end {
            let mut expect = i;
            for row in self.tail.range(i..end)? {
                let (k, v) = row?;
                if k.value() != expect {
                    return Err(super::corrupt(name::TAIL, expect, "missing"));
                }
                f(expect, v.value())?;
                expect += 1;
            }
            if expect != end {
                return Err(super::corrupt(name::TAIL, expect, "missing"));
            }
        }
        Ok(())
    }
}

/// Encoded bytes of the tail's entries (what a packed row of them would hold).
pub(crate) fn tail_bytes<T>(tail: &T) -> Result<usize, StoreError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    let mut total = 0;
    for row in tail.iter()? {
        total += encoded(row?.1.value().len());
    }
    Ok(total)
}

/// Appends entry `n`. If it would not fit in a row with the tail's entries
/// (`*tail_len` encoded bytes), the tail is first packed into one row and its single
/// rows removed (all in the caller's transaction).
pub(crate) fn append(
    bundles: &mut redb::Table<'_, u64, &'static [u8]>,
    tail: &mut redb::Table<'_, u64, &'static [u8]>,
    tail_len: &mut usize,
    n: u64,
    data: &[u8],
) -> Result<(), StoreError> {
    if *tail_len > 0 && *tail_len + encoded(data.len()) > ROW_BYTES {
        pack(bundles, tail, n)?;
        *tail_len = 0;
    }
    if tail.insert(n, data)?.is_some() {
        return Err(super::corrupt(name::TAIL, n, "row exists beyond the tree"));
    }
    *tail_len += encoded(data.len());
    Ok(())
}

/// Packs the tail (entries `first..n`) into one row keyed `first`.
fn pack(
    bundles: &mut redb::Table<'_, u64, &'static [u8]>,
    tail: &mut redb::Table<'_, u64, &'static [u8]>,
    n: u64,
) -> Result<(), StoreError> {
    let first = packed_end(tail, n)?;
    let mut row = Vec::with_capacity(ROW_BYTES);
    for (expect, r) in (first..n).zip(tail.range(first..n)?) {
        let (k, v) = r?;
        if k.value() != expect {
            return Err(super::corrupt(name::TAIL, expect, "missing"));
        }
        let e = v.value();
        let len = u16::try_from(e.len())
            .map_err(|_| super::corrupt(name::TAIL, expect, "entry over 65535 bytes"))?;
        row.extend_from_slice(&len.to_be_bytes());
        row.extend_from_slice(e);
    }
    if bundles.insert(first, row.as_slice())?.is_some() {
        return Err(super::corrupt(
            name::BUNDLES,
            first,
            "row exists beyond the tree",
        ));
    }
    for i in first..n {
        tail.remove(i)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::{BUNDLES, TAIL};
    use redb::{Database, ReadableDatabase, ReadableTableMetadata as _};

    fn data(i: u64) -> Vec<u8> {
        let mut d = format!("entry {i}").into_bytes();
        d.resize(300 + (i * 7919 % 900) as usize, b'x');
        d
    }

    fn build(n: u64) -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("b.redb")).unwrap();
        // Several transactions, so the tail is carried across them.
        let mut done = 0;
        for step in [1, 250, 333, 1000] {
            let upto = (done + step).min(n);
            let txn = db.begin_write().unwrap();
            {
                let mut b = txn.open_table(BUNDLES).unwrap();
                let mut t = txn.open_table(TAIL).unwrap();
                let mut len = tail_bytes(&t).unwrap();
                for i in done..upto {
                    append(&mut b, &mut t, &mut len, i, &data(i)).unwrap();
                }
            }
            txn.commit().unwrap();
            done = upto;
        }
        (dir, db)
    }

    #[test]
    fn rows_pack_and_read_back() {
        let n = 600;
        let (_d, db) = build(n);
        let txn = db.begin_read().unwrap();
        let (b, t) = (
            txn.open_table(BUNDLES).unwrap(),
            txn.open_table(TAIL).unwrap(),
        );
        // ~450 KB of entries: several packed rows, each full to within one entry.
        assert!(b.len().unwrap() >= 5, "{}", b.len().unwrap());
        let mut expect = 0;
        for row in b.iter().unwrap() {
            let (k, v) = row.unwrap();
            assert_eq!(k.value(), expect);
            assert!(v.value().len() <= ROW_BYTES);
            assert!(v.value().len() + 2 + 1200 > ROW_BYTES);
            expect += decode_row(k.value(), v.value()).unwrap().len() as u64;
        }
        assert_eq!(packed_end(&t, n).unwrap(), expect);
        assert_eq!(t.len().unwrap(), n - expect);
        let r = EntryReader {
            bundles: &b,
            tail: &t,
            size: n,
        };
        for i in [0, 1, expect - 1, expect, n - 1] {
            assert_eq!(r.entry(i).unwrap(), data(i));
        }
        let mut seen = Vec::new();
        r.each(50, 600, |i, e| {
            assert_eq!(e, data(i).as_slice());
            seen.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (50..600).collect::<Vec<_>>());
    }

    #[test]
    fn hostile_rows_are_clear_errors() {
        for (bad, want) in [
            (vec![0u8, 5, 1, 2], "truncated"),
            (vec![0u8], "truncated at byte 0"),
            (vec![0u8, 0], "empty entry"),
            (Vec::new(), "empty row"),
        ] {
            let (_d, db) = build(300);
            let txn = db.begin_write().unwrap();
            txn.open_table(BUNDLES)
                .unwrap()
                .insert(0, bad.as_slice())
                .unwrap();
            txn.commit().unwrap();
            let txn = db.begin_read().unwrap();
            let (b, t) = (
                txn.open_table(BUNDLES).unwrap(),
                txn.open_table(TAIL).unwrap(),
            );
            let r = EntryReader {
                bundles: &b,
                tail: &t,
                size: 300,
            };
            let err = r.entry(3).unwrap_err().to_string();
            assert!(
                err.contains("table entry_bundles, key 0") && err.contains(want),
                "{err}"
            );
            assert!(r.each(0, 10, |_, _| Ok(())).is_err());
        }
        // A row too short for the entries it should cover, and a missing tail row.
        let (_d, db) = build(300);
        let txn = db.begin_write().unwrap();
        txn.open_table(BUNDLES)
            .unwrap()
            .insert(0, [0u8, 1, 9].as_slice())
            .unwrap();
        txn.open_table(TAIL).unwrap().remove(299).unwrap();
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let (b, t) = (
            txn.open_table(BUNDLES).unwrap(),
            txn.open_table(TAIL).unwrap(),
        );
        let r = EntryReader {
            bundles: &b,
            tail: &t,
            size: 300,
        };
        assert_eq!(r.entry(0).unwrap(), vec![9]);
        let err = r.entry(5).unwrap_err().to_string();
        assert!(err.contains("table entry_bundles, key 1: missing"), "{err}");
        let err = r.entry(299).unwrap_err().to_string();
        assert!(err.contains("key 299: missing"), "{err}");
    }
}
