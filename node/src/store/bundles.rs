//! Entries on disk: full entry bundles of 256 (the C2SP tlog-tiles encoding, one row
//! each) and single rows for the last, incomplete bundle.

use quorate_proto::tile;
use redb::ReadableTable;

use super::StoreError;
use super::layout::WIDTH;
use super::layout::name;

/// Entries of a tree of `size` that live in full bundles.
pub(crate) fn bundled(size: u64) -> u64 {
    size / WIDTH * WIDTH
}

/// Decodes full bundle `index`, insisting on exactly [`WIDTH`] entries.
pub(crate) fn decode_bundle(index: u64, bytes: &[u8]) -> Result<Vec<&[u8]>, StoreError> {
    let entries = tile::decode_entry_bundle(bytes)
        .map_err(|e| super::corrupt(name::BUNDLES, index, e.to_string()))?;
    if entries.len() as u64 != WIDTH {
        return Err(super::corrupt(
            name::BUNDLES,
            index,
            format!("{} entries, expected {WIDTH}", entries.len()),
        ));
    }
    Ok(entries)
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
        if i < bundled(self.size) {
            let b = i / WIDTH;
            match self.bundles.get(b)? {
                Some(v) => Ok(decode_bundle(b, v.value())?[(i % WIDTH) as usize].to_vec()),
                None => Err(super::corrupt(name::BUNDLES, b, "missing")),
            }
        } else {
            match self.tail.get(i)? {
                Some(v) => Ok(v.value().to_vec()),
                None => Err(super::corrupt(name::TAIL, i, "missing")),
            }
        }
    }

    /// Calls `f(index, bytes)` for entries `start..end` (`end <= size`), in order,
    /// reading each bundle once.
    pub(crate) fn each(
        &self,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut i = start;
        let full = bundled(self.size).min(end);
        while i < full {
            let b = i / WIDTH;
            let Some(v) = self.bundles.get(b)? else {
                return Err(super::corrupt(name::BUNDLES, b, "missing"));
            };
            let entries = decode_bundle(b, v.value())?;
            let stop = full.min((b + 1) * WIDTH);
            for (j, e) in entries[(i % WIDTH) as usize..(stop - b * WIDTH) as usize]
                .iter()
                .enumerate()
            {
                f(i + j as u64, e)?;
            }
            i = stop;
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

/// Adds entry `n` to the tail; when it completes a bundle, packs the bundle's entries
/// into one row and removes their tail rows (in the same transaction).
pub(crate) fn append(
    bundles: &mut redb::Table<'_, u64, &'static [u8]>,
    tail: &mut redb::Table<'_, u64, &'static [u8]>,
    n: u64,
    data: &[u8],
) -> Result<(), StoreError> {
    if tail.insert(n, data)?.is_some() {
        return Err(super::corrupt(name::TAIL, n, "row exists beyond the tree"));
    }
    if (n + 1) % WIDTH != 0 {
        return Ok(());
    }
    let first = n + 1 - WIDTH;
    let mut rows: Vec<Vec<u8>> = Vec::with_capacity(WIDTH as usize);
    for (expect, row) in (first..=n).zip(tail.range(first..=n)?) {
        let (k, v) = row?;
        if k.value() != expect {
            return Err(super::corrupt(name::TAIL, expect, "missing"));
        }
        rows.push(v.value().to_vec());
    }
    if rows.len() as u64 != WIDTH {
        return Err(super::corrupt(
            name::TAIL,
            first + rows.len() as u64,
            "missing",
        ));
    }
    let refs: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
    let bundle = tile::encode_entry_bundle(&refs)
        .map_err(|e| super::corrupt(name::TAIL, first, e.to_string()))?;
    if bundles.insert(n / WIDTH, bundle.as_slice())?.is_some() {
        return Err(super::corrupt(
            name::BUNDLES,
            n / WIDTH,
            "row exists beyond the tree",
        ));
    }
    for i in first..=n {
        tail.remove(i)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::{BUNDLES, TAIL};
    use redb::{Database, ReadableDatabase};

    fn data(i: u64) -> Vec<u8> {
        let mut d = format!("entry {i}").into_bytes();
        d.resize(10 + (i % 50) as usize, b'x');
        d
    }

    fn build(n: u64) -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("b.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut b = txn.open_table(BUNDLES).unwrap();
            let mut t = txn.open_table(TAIL).unwrap();
            for i in 0..n {
                append(&mut b, &mut t, i, &data(i)).unwrap();
            }
        }
        txn.commit().unwrap();
        (dir, db)
    }

    #[test]
    fn bundles_pack_and_read_back() {
        let n = 600;
        let (_d, db) = build(n);
        let txn = db.begin_read().unwrap();
        let (b, t) = (
            txn.open_table(BUNDLES).unwrap(),
            txn.open_table(TAIL).unwrap(),
        );
        assert_eq!(b.len().unwrap(), 2);
        assert_eq!(t.len().unwrap(), 88);
        let r = EntryReader {
            bundles: &b,
            tail: &t,
            size: n,
        };
        for i in [0, 1, 255, 256, 511, 512, 599] {
            assert_eq!(r.entry(i).unwrap(), data(i));
        }
        let mut seen = Vec::new();
        r.each(250, 600, |i, e| {
            assert_eq!(e, data(i).as_slice());
            seen.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (250..600).collect::<Vec<_>>());
        // The bundle row is the tlog-tiles encoding of its 256 entries.
        let raw = b.get(1).unwrap().unwrap();
        let entries = tile::decode_entry_bundle(raw.value()).unwrap();
        assert_eq!(entries[0], data(256).as_slice());
    }

    use redb::ReadableTableMetadata as _;

    #[test]
    fn hostile_bundles_are_clear_errors() {
        for (bad, want) in [
            (vec![0u8, 5, 1, 2], "truncated"),
            (vec![0u8, 1, 9], "1 entries, expected 256"),
            (Vec::new(), "empty"),
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
                err.contains("table entry_bundles, key 0") && err.to_lowercase().contains(want),
                "{err}"
            );
            assert!(r.each(0, 10, |_, _| Ok(())).is_err());
        }
        // A missing tail row.
        let (_d, db) = build(300);
        let txn = db.begin_write().unwrap();
        txn.open_table(TAIL).unwrap().remove(290).unwrap();
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
        assert!(
            r.entry(290)
                .unwrap_err()
                .to_string()
                .contains("key 290: missing")
        );
        let err = r.each(280, 300, |_, _| Ok(())).unwrap_err().to_string();
        assert!(err.contains("key 290: missing"), "{err}");
    }
}
