//! Directory names for things named by outside data (log origins, package names), shared
//! by the mirror cache and bundles. Each encoding is injective (two different names never
//! share a directory) and path-safe (never empty, `.`, `..`, a hidden name, or a name with
//! a separator), so a hostile origin or package name cannot climb out of its directory or
//! land in another log's.

use quorate_proto::merkle;

/// Percent-encodes a path component: bytes outside `[A-Za-z0-9._+-]` become `%XX`, and so
/// does a leading `.`; the empty string is `%00`. `%` itself is always encoded, so the
/// encoding is injective. Used for ecosystem, package and version components.
pub fn encode_component(s: &str) -> String {
    encode(s, |b| b.is_ascii_alphanumeric())
}

fn encode(s: &str, plain: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if plain(b) || matches!(b, b'-' | b'_' | b'+') || (b == b'.' && !out.is_empty()) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// Names of fixed entries beside the log directories (in the cache and in bundles).
pub const RESERVED: [&str; 2] = ["equivocations", "quorate-bundle"];

/// Longest directory name [`origin_dir`] produces (well under the usual 255-byte limit).
pub const MAX_ORIGIN_DIR: usize = 120;

/// The directory (one path component) of a log's data, in the mirror cache and in bundles.
///
/// Like [`encode_component`], but upper-case letters are encoded too, so that origins
/// differing only in case stay apart on case-insensitive file systems
/// (`example.org/Log` is `example.org%2F%4Cog`). An encoding longer than
/// [`MAX_ORIGIN_DIR`] is cut to 80 bytes (never inside a `%XX`) and followed by `~` and 32
/// hex digits of the origin's SHA-256 leaf hash: `~` never appears in a short encoding, so
/// long and short names cannot collide, and two long origins collide only if the hash does.
pub fn origin_dir(origin: &str) -> String {
    let mut enc = encode(origin, |b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if RESERVED.contains(&enc.as_str()) {
        // Still decodable (so still injective), but never the name of a fixed entry.
        enc = format!("%{:02X}{}", enc.as_bytes()[0], &enc[1..]);
    }
    if enc.len() <= MAX_ORIGIN_DIR {
        return enc;
    }
    let mut cut = 80;
    // Every byte of the encoding is ASCII; step back over a partial `%XX`.
    while enc.as_bytes()[..cut]
        .iter()
        .rev()
        .take(2)
        .any(|&b| b == b'%')
    {
        cut -= 1;
    }
    let h = merkle::leaf_hash(origin.as_bytes());
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}~{hex}", &enc[..cut])
}

/// The name earlier versions gave a log's directory (`/` and other characters as `_`):
/// not injective (`a/b` and `a_b` shared one), so it is only read to migrate a cache.
pub fn legacy_origin_dir(origin: &str) -> String {
    crate::keys::file_stem_for(origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn path_components_are_safe() {
        assert_eq!(encode_component("serde"), "serde");
        assert_eq!(encode_component("1.0.0+build"), "1.0.0+build");
        assert_eq!(encode_component(".."), "%2E.");
        assert_eq!(encode_component("@scope/pkg"), "%40scope%2Fpkg");
        assert_eq!(encode_component(""), "%00");
        assert_eq!(encode_component("."), "%2E");
    }

    #[test]
    fn origin_dirs_are_injective_and_safe() {
        let origins = [
            "a/b",
            "a_b",
            "a%2Fb",
            "A/b",
            "a/B",
            "..",
            ".",
            "../../etc",
            "",
            "de.test/quorate/log",
            "de.test_quorate_log",
            "x~y",
            "equivocations",
            "quorate-bundle",
            "%65quivocations",
        ];
        let dirs: HashSet<String> = origins.iter().map(|o| origin_dir(o)).collect();
        assert_eq!(dirs.len(), origins.len(), "{dirs:?}");
        for d in &dirs {
            assert!(
                !d.is_empty() && !d.starts_with('.') && !d.contains('/'),
                "{d}"
            );
            assert!(!d.contains('\\') && d.len() <= MAX_ORIGIN_DIR + 33, "{d}");
        }
        assert_eq!(origin_dir("de.test/quorate/log"), "de.test%2Fquorate%2Flog");
        assert!(!dirs.iter().any(|d| RESERVED.contains(&d.as_str())));
    }

    #[test]
    fn long_origins_are_short_distinct_and_never_split_an_escape() {
        let a = format!("{}/a", "x".repeat(500));
        let b = format!("{}/b", "x".repeat(500));
        let slashes = "/".repeat(300);
        for o in [&a, &b, &slashes] {
            let d = origin_dir(o);
            assert!(d.len() <= 80 + 1 + 32, "{d}");
            let (head, hash) = d.split_once('~').unwrap();
            assert_eq!(hash.len(), 32);
            assert!(
                !head.ends_with('%') && !head[..head.len() - 1].ends_with('%'),
                "{d}"
            );
        }
        assert_ne!(origin_dir(&a), origin_dir(&b));
    }
}
