//! The package index of layout 3: one plain row per release, its entry indexes packed.
//!
//! A release `"ecosystem\0package\0version"` has a head row in [`RELEASES`] holding its
//! entry count and the indexes of its first [`CHUNK`] entries; entries `CHUNK * c ..
//! CHUNK * (c + 1)` (c >= 1) are in a [`RELEASE_CHUNKS`] row keyed by the release key, a
//! NUL (never inside a key, so no key is a prefix of another's chunk key) and `c`
//! big-endian. Indexes are ascending (a release's entries are appended in log order), so
//! they are stored as LEB128 varints of the first index and then of each difference.
//!
//! Why: the layout-2 multimap spent 68 B/entry on per-value bookkeeping; a release with
//! one entry is now one row of its name and ~4 bytes. Why chunks: an append rewrites the
//! head (count) and at most one chunk, each at most ~`CHUNK * 10` bytes, so a release
//! flooded with entries never makes an append rewrite a growing row; a page of a flooded
//! release is found by binary search over its chunks' first indexes, O(log) rows.
//!
//! [`RELEASES`]: super::layout::RELEASES
//! [`RELEASE_CHUNKS`]: super::layout::RELEASE_CHUNKS

use prost::encoding::{decode_varint, encode_varint};
use redb::ReadableTable;

use super::layout::name;
use super::{StoreError, corrupt};

/// Entry indexes per row (the head row's and each chunk row's).
pub(crate) const CHUNK: u64 = 64;

/// The key of chunk `c` (>= 1) of the release keyed `key`.
pub(crate) fn chunk_key(key: &[u8], c: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 9);
    k.extend_from_slice(key);
    k.push(0);
    k.extend_from_slice(&c.to_be_bytes());
    k
}

fn lossy(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "\\0")
}

/// Appends the delta-coded `indexes` (ascending) to `out`.
fn encode_indexes(indexes: &[u64], out: &mut Vec<u8>) {
    let mut prev = None;
    for &i in indexes {
        encode_varint(prev.map_or(i, |p| i - p), out);
        prev = Some(i);
    }
}

/// Decodes delta-coded indexes; each must be above the one before.
fn decode_indexes(
    mut bytes: &[u8],
    table: &'static str,
    key: &[u8],
) -> Result<Vec<u64>, StoreError> {
    let bad = |why: &str| corrupt(table, lossy(key), why.to_owned());
    let mut out: Vec<u64> = Vec::new();
    while !bytes.is_empty() {
        let d = decode_varint(&mut bytes).map_err(|_| bad("malformed varint"))?;
        let i = match out.last() {
            None => d,
            Some(&p) if d > 0 => p.checked_add(d).ok_or_else(|| bad("index overflows"))?,
            Some(_) => return Err(bad("indexes not ascending")),
        };
        if out.len() as u64 == CHUNK {
            return Err(bad("more indexes than a row holds"));
        }
        out.push(i);
    }
    Ok(out)
}

/// A release's head row: its entry count and its first indexes.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) count: u64,
    pub(crate) first: Vec<u64>,
}

impl Head {
    fn decode(mut bytes: &[u8], key: &[u8]) -> Result<Head, StoreError> {
        let count = decode_varint(&mut bytes)
            .map_err(|_| corrupt(name::RELEASES, lossy(key), "malformed count"))?;
        let first = decode_indexes(bytes, name::RELEASES, key)?;
        if first.len() as u64 != count.min(CHUNK) || count == 0 {
            return Err(corrupt(
                name::RELEASES,
                lossy(key),
                format!("count {count} but {} indexes in the head", first.len()),
            ));
        }
        Ok(Head { count, first })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + self.first.len() * 4);
        encode_varint(self.count, &mut out);
        encode_indexes(&self.first, &mut out);
        out
    }

    /// Rows holding the release's indexes: the head and `rows() - 1` chunks.
    pub(crate) fn rows(&self) -> u64 {
        self.count.div_ceil(CHUNK)
    }
}

/// The entry count stored at the start of a head row.
pub(crate) fn head_count(mut bytes: &[u8], key: &[u8]) -> Result<u64, StoreError> {
    decode_varint(&mut bytes).map_err(|_| corrupt(name::RELEASES, lossy(key), "malformed count"))
}

/// Reads a release's rows from the two tables.
pub(crate) struct ReleaseReader<'a, H, C> {
    pub(crate) heads: &'a H,
    pub(crate) chunks: &'a C,
}

impl<H, C> ReleaseReader<'_, H, C>
where
    H: ReadableTable<&'static [u8], &'static [u8]>,
    C: ReadableTable<&'static [u8], &'static [u8]>,
{
    pub(crate) fn head(&self, key: &[u8]) -> Result<Option<Head>, StoreError> {
        match self.heads.get(key)? {
            Some(v) => Ok(Some(Head::decode(v.value(), key)?)),
            None => Ok(None),
        }
    }

    /// The indexes of row `r` (0 is the head's) of a release whose head is `head`.
    pub(crate) fn row(&self, key: &[u8], head: &Head, r: u64) -> Result<Vec<u64>, StoreError> {
        if r == 0 {
            return Ok(head.first.clone());
        }
        let ck = chunk_key(key, r);
        let got = match self.chunks.get(ck.as_slice())? {
            Some(v) => decode_indexes(v.value(), name::RELEASE_CHUNKS, &ck)?,
            None => Vec::new(),
        };
        let want = (head.count - r * CHUNK).min(CHUNK);
        if got.len() as u64 != want {
            return Err(corrupt(
                name::RELEASE_CHUNKS,
                lossy(&ck),
                format!(
                    "{} indexes, the head's count {} needs {want}",
                    got.len(),
                    head.count
                ),
            ));
        }
        Ok(got)
    }

    /// The index of the release's last entry.
    fn last(&self, key: &[u8], head: &Head) -> Result<u64, StoreError> {
        let row = self.row(key, head, head.rows() - 1)?;
        row.last()
            .copied()
            .ok_or_else(|| corrupt(name::RELEASE_CHUNKS, lossy(key), "empty row"))
    }

    /// The first row whose indexes may reach `from`: the last row whose first index is
    /// `<= from` (binary search over the rows' first indexes).
    pub(crate) fn row_for(&self, key: &[u8], head: &Head, from: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, head.rows());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let first = self.row(key, head, mid)?[0];
            if first <= from {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}

/// Adds entry `index` (above every index the release has) to the release keyed `key`:
/// rewrites its head row and at most one chunk row.
pub(crate) fn add(
    heads: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    chunks: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    key: &[u8],
    index: u64,
) -> Result<(), StoreError> {
    let reader = ReleaseReader {
        heads: &*heads,
        chunks: &*chunks,
    };
    let Some(mut head) = reader.head(key)? else {
        let head = Head {
            count: 1,
            first: vec![index],
        };
        heads.insert(key, head.encode().as_slice())?;
        return Ok(());
    };
    let last = reader.last(key, &head)?;
    if index <= last {
        return Err(corrupt(
            name::RELEASES,
            lossy(key),
            format!("entry {index} is not after the release's last entry {last}"),
        ));
    }
    if head.count < CHUNK {
        head.first.push(index);
    } else {
        let r = head.count / CHUNK;
        let mut row = if head.count.is_multiple_of(CHUNK) {
            Vec::new()
        } else {
            reader.row(key, &head, r)?
        };
        row.push(index);
        let mut bytes = Vec::with_capacity(row.len() * 4);
        encode_indexes(&row, &mut bytes);
        chunks.insert(chunk_key(key, r).as_slice(), bytes.as_slice())?;
    }
    head.count += 1;
    heads.insert(key, head.encode().as_slice())?;
    Ok(())
}

/// Writes a whole release (`indexes` ascending, not empty) at once: for the migration.
pub(crate) fn write_all(
    heads: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    chunks: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    key: &[u8],
    indexes: &[u64],
) -> Result<(), StoreError> {
    let mut rows = indexes.chunks(CHUNK as usize);
    let Some(first) = rows.next() else {
        return Ok(());
    };
    let head = Head {
        count: indexes.len() as u64,
        first: first.to_vec(),
    };
    heads.insert(key, head.encode().as_slice())?;
    for (r, row) in rows.enumerate() {
        let mut bytes = Vec::with_capacity(row.len() * 4);
        encode_indexes(row, &mut bytes);
        chunks.insert(chunk_key(key, r as u64 + 1).as_slice(), bytes.as_slice())?;
    }
    Ok(())
}
