//! The decompressed tar stream, watched before the tar reader sees it.
//!
//! [`Bounded`] stops a decompression bomb at the total limit. It also follows the tar
//! framing (a 512-byte header, then the member's data rounded up to 512) to read each
//! header's claimed size *before* the tar reader does: the reader buffers extension
//! members (GNU long names and long links, pax headers) whole in memory, so one claiming
//! gigabytes of cheap, well-compressed zeros would otherwise grow a buffer to that size.
//! Extension members over [`MAX_EXTENSION_BYTES`] are refused here.

use std::io::{self, Read};

/// The message of the total-limit error, recognised by the caller.
pub const TOO_LARGE: &str = "quorate: archive over the decompressed size limit";
/// How the refusal of an oversized extension member starts, recognised by the caller.
pub const EXTENSION_REFUSED: &str = "extension member";
/// Largest extension member (long name, long link, pax header) accepted.
pub const MAX_EXTENSION_BYTES: u64 = 1 << 20;

pub struct Bounded<R> {
    inner: R,
    read: u64,
    limit: u64,
    /// Stream offset of the next header block.
    next_header: u64,
    header: [u8; 512],
    filled: usize,
}

impl<R> Bounded<R> {
    pub fn new(inner: R, limit: u64) -> Bounded<R> {
        Bounded {
            inner,
            read: 0,
            limit,
            next_header: 0,
            header: [0; 512],
            filled: 0,
        }
    }
}

/// A header's size field: octal ASCII, or GNU base-256 (high bit of the first byte).
fn claimed_size(h: &[u8; 512]) -> io::Result<u64> {
    let f = &h[124..136];
    if f[0] & 0x80 != 0 {
        let mut n: u64 = 0;
        for &b in &f[1..] {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(u64::from(b)))
                .ok_or_else(|| io::Error::other("header size field overflows"))?;
        }
        return Ok(n);
    }
    let digits: Vec<u8> = f
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if digits.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(&digits)
        .map_err(|_| io::Error::other("header size field is not octal"))?;
    u64::from_str_radix(s, 8).map_err(|_| io::Error::other("header size field is not octal"))
}

impl<R> Bounded<R> {
    /// Looks at the header just completed and sets where the next one starts.
    fn header_done(&mut self) -> io::Result<()> {
        let size = claimed_size(&self.header)?;
        let kind = self.header[156];
        if matches!(kind, b'L' | b'K' | b'x' | b'g') && size > MAX_EXTENSION_BYTES {
            let name_end = self.header[..100]
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(100);
            return Err(io::Error::other(format!(
                "extension member {:?} (type {}) claims {size} bytes, over the {MAX_EXTENSION_BYTES}-byte limit",
                String::from_utf8_lossy(&self.header[..name_end]),
                kind as char
            )));
        }
        let data = size
            .checked_add(511)
            .map(|s| s / 512 * 512)
            .and_then(|s| s.checked_add(512))
            .ok_or_else(|| io::Error::other("header size field overflows"))?;
        self.next_header = self
            .next_header
            .checked_add(data)
            .ok_or_else(|| io::Error::other("header size field overflows"))?;
        self.filled = 0;
        Ok(())
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.read;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(TOO_LARGE));
        }
        // Copy whatever part of the next header block this read covers.
        let mut off = start;
        while off < self.read {
            let at = self.next_header + self.filled as u64;
            if at >= self.read {
                break;
            }
            if at < off {
                // Cannot happen: headers are consumed in order.
                break;
            }
            let i = (at - start) as usize;
            let take = (512 - self.filled).min(n - i);
            self.header[self.filled..self.filled + take].copy_from_slice(&buf[i..i + take]);
            self.filled += take;
            off = at + take as u64;
            if self.filled == 512 {
                self.header_done()?;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, size: u64) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let s = format!("{size:011o}\0");
        h[124..136].copy_from_slice(s.as_bytes());
        h[156] = kind;
        h
    }

    fn drain(bytes: &[u8], chunk: usize) -> io::Result<()> {
        let mut r = Bounded::new(bytes, u64::MAX);
        let mut buf = vec![0u8; chunk];
        while r.read(&mut buf)? > 0 {}
        Ok(())
    }

    #[test]
    fn huge_extension_members_are_refused_before_the_tar_reader_buffers_them() {
        // A regular file of 700 bytes, then a long name claiming 2 MiB: found at the
        // right offset, whatever the read sizes.
        let mut t = header("x-1/a", b'0', 700).to_vec();
        t.extend(vec![7u8; 1024]);
        t.extend(header("././@LongLink", b'L', 2 << 20));
        t.extend(vec![0u8; 4096]);
        for chunk in [1, 100, 512, 513, 4096, 1 << 16] {
            let e = drain(&t, chunk).unwrap_err().to_string();
            assert!(e.contains("claims 2097152 bytes"), "chunk {chunk}: {e}");
        }
        // A small long name passes.
        let mut ok = header("././@LongLink", b'L', 300).to_vec();
        ok.extend(vec![b'a'; 512]);
        ok.extend(vec![0u8; 1024]);
        drain(&ok, 77).unwrap();
    }

    #[test]
    fn the_total_limit_stops_a_bomb() {
        let zeros = vec![0u8; 10_000];
        let mut r = Bounded::new(zeros.as_slice(), 4096);
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(e.to_string().contains(TOO_LARGE));
    }
}
