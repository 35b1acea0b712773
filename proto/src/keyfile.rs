//! The rule every Quorate tool applies before it reads a secret key file.
//!
//! Like ssh, a secret key file that its group or other users can access is refused rather
//! than used: a key another account could have read must be treated as stolen, and an
//! operator who is told so at start-up fixes the mode before the key leaks further. The
//! check is pure (the caller passes the mode it got from `fstat` on the opened file), so
//! the node, the witness and the CLI share one rule and one message. Reading goes through
//! a caller-opened reader, so this module still performs no I/O of its own.

use std::io::Read as _;

use zeroize::Zeroizing;

/// Largest secret key file any tool reads: an skey line is under 200 bytes, so a larger
/// file is the wrong file, and the bound lets readers allocate once (no reallocation
/// leaves copies of key bytes behind in freed memory).
pub const MAX_SECRET_KEY_FILE: usize = 4096;

/// A secret key file that group or others can access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "secret key file {path} has mode {mode:04o}: it must not be accessible by group or others \
     (a key others could read must be treated as stolen); fix it with `chmod 600 {path}`"
)]
pub struct InsecureKeyFile {
    /// The file, as the user named it.
    pub path: String,
    /// Its permission bits (`mode & 0o7777`).
    pub mode: u32,
}

/// Accepts `mode` (from the opened file's metadata) only if no group or other bit is set.
pub fn check_secret_key_mode(path: &str, mode: u32) -> Result<(), InsecureKeyFile> {
    if mode & 0o077 != 0 {
        return Err(InsecureKeyFile {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Why a secret key file was not read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read secret key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Insecure(#[from] InsecureKeyFile),
    #[error("secret key file {path} is larger than {MAX_SECRET_KEY_FILE} bytes: not a key")]
    TooLarge { path: String },
    #[error("secret key file {path} is not UTF-8 text")]
    NotUtf8 { path: String },
}

/// Reads a secret key from `file`, already opened by the caller, whose permission bits are
/// `mode` (from `fstat` on that same open file, so a file swapped between the check and
/// the read is still the one checked; `None` where the platform has no such bits).
/// `path` names the file in errors. The text is read in one allocation and returned in
/// memory zeroed on drop; trailing whitespace is the caller's to trim.
pub fn read_secret_key(
    file: impl std::io::Read,
    mode: Option<u32>,
    path: &str,
) -> Result<Zeroizing<String>, KeyFileError> {
    if let Some(mode) = mode {
        check_secret_key_mode(path, mode)?;
    }
    // Sized once: a growing buffer would leave copies of the key in freed memory.
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET_KEY_FILE + 1));
    file.take(MAX_SECRET_KEY_FILE as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|source| KeyFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    if buf.len() > MAX_SECRET_KEY_FILE {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    match String::from_utf8(std::mem::take(&mut *buf)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(KeyFileError::NotUtf8 {
                path: path.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_bits_pass() {
        for ok in [0o600, 0o400, 0o100600, 0o700] {
            assert!(check_secret_key_mode("k", ok).is_ok(), "{ok:o}");
        }
        for bad in [0o644, 0o640, 0o604, 0o660, 0o100644, 0o602] {
            let e = check_secret_key_mode("/d/log.key", bad).unwrap_err();
            let m = e.to_string();
            assert!(
                m.contains("/d/log.key") && m.contains("chmod 600 /d/log.key"),
                "{m}"
            );
            assert!(m.contains(&format!("{:04o}", bad & 0o7777)), "{m}");
        }
    }

    #[test]
    fn reads_are_bounded_and_checked() {
        let k = read_secret_key(&b"PRIVATE+KEY+x\n"[..], Some(0o600), "k").unwrap();
        assert_eq!(k.as_str(), "PRIVATE+KEY+x\n");
        let e = read_secret_key(&b"x"[..], Some(0o644), "k").unwrap_err();
        assert!(matches!(e, KeyFileError::Insecure(_)), "{e}");
        let big = vec![b'a'; MAX_SECRET_KEY_FILE + 1];
        let e = read_secret_key(&big[..], None, "k").unwrap_err();
        assert!(matches!(e, KeyFileError::TooLarge { .. }), "{e}");
        let e = read_secret_key(&[0xff, 0xfe][..], None, "k").unwrap_err();
        assert!(matches!(e, KeyFileError::NotUtf8 { .. }), "{e}");
    }
}
