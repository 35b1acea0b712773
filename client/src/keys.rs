//! Keys as the CLI takes them: a vkey given literally or as a path to a `.pub` file, and
//! secret keys read from files.

use std::path::Path;

use quorate_proto::cosignature::{CosignatureSigner, CosignatureVerifier};
use quorate_proto::note::{
    self, ED25519_TYPE, Ed25519Verifier, KeyError, NoteVerifier, Signer, VerifierKey,
};

use zeroize::Zeroizing;

use crate::files::{self, FileError};

/// Signature type byte of C2SP cosignature/v1 witness keys.
pub const WITNESS_TYPE: u8 = 0x04;

/// Errors loading keys; each names where the key came from.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{source_name}: {err}")]
    Key { source_name: String, err: KeyError },
    #[error(
        "{source_name} is a secret key (PRIVATE+KEY+...), given where a public verifier key \
         belongs: pass the NAME.pub file `quorate key generate` wrote beside it"
    )]
    SecretKey { source_name: String },
    #[error("{source_name}: a key of signature type 0x{found:02x} cannot be used here ({wanted})")]
    WrongKind {
        source_name: String,
        found: u8,
        wanted: &'static str,
    },
}

/// A verifier key of one of the two kinds Quorate uses.
#[derive(Debug, Clone)]
pub enum AnyVerifier {
    /// An Ed25519 signed-note key (logs, reviewers).
    Ed25519(Ed25519Verifier),
    /// A cosignature/v1 witness key.
    Witness(CosignatureVerifier),
}

impl AnyVerifier {
    /// The verifier as the note opener sees it.
    pub fn as_note_verifier(&self) -> &dyn NoteVerifier {
        match self {
            AnyVerifier::Ed25519(v) => v,
            AnyVerifier::Witness(v) => v,
        }
    }
}

/// Reads a vkey argument: an existing file holding one vkey line, else the literal text.
/// A vkey never contains `/`-free path confusion in practice, but a path is tried first
/// so that `--key alice.pub` works while `--key name+1234abcd+AQ...` also does.
pub fn read_vkey_arg(arg: &str) -> Result<(String, VerifierKey), KeyLoadError> {
    let path = Path::new(arg);
    let (source_name, text) = if path.is_file() {
        (arg.to_string(), files::read_text(path)?.trim().to_string())
    } else {
        (format!("key {arg:?}"), arg.trim().to_string())
    };
    if text.starts_with("PRIVATE+KEY+") {
        // Named without echoing it: the secret must not end up in a terminal log.
        let source_name = if path.is_file() {
            arg.to_string()
        } else {
            "the key given".to_string()
        };
        return Err(KeyLoadError::SecretKey { source_name });
    }
    let key = note::parse_vkey(&text).map_err(|err| KeyLoadError::Key {
        source_name: source_name.clone(),
        err,
    })?;
    Ok((source_name, key))
}

/// A verifier of either kind, chosen by the vkey's signature type byte.
pub fn load_any_verifier(arg: &str) -> Result<AnyVerifier, KeyLoadError> {
    let (source_name, key) = read_vkey_arg(arg)?;
    let wrap = |err| KeyLoadError::Key {
        source_name: source_name.clone(),
        err,
    };
    match key.key_type {
        ED25519_TYPE => Ok(AnyVerifier::Ed25519(
            Ed25519Verifier::from_parsed(&key).map_err(wrap)?,
        )),
        WITNESS_TYPE => Ok(AnyVerifier::Witness(
            CosignatureVerifier::from_parsed(&key).map_err(wrap)?,
        )),
        found => Err(KeyLoadError::WrongKind {
            source_name,
            found,
            wanted: "expected an Ed25519 (0x01) or cosignature/v1 (0x04) vkey",
        }),
    }
}

/// An Ed25519 signed-note verifier (a log or reviewer key).
pub fn load_ed25519_verifier(arg: &str) -> Result<Ed25519Verifier, KeyLoadError> {
    match load_any_verifier(arg)? {
        AnyVerifier::Ed25519(v) => Ok(v),
        AnyVerifier::Witness(_) => Err(KeyLoadError::WrongKind {
            source_name: arg.to_string(),
            found: WITNESS_TYPE,
            wanted: "expected an Ed25519 (0x01) signed-note key, got a witness key",
        }),
    }
}

/// A witness cosignature verifier.
pub fn load_witness_verifier(arg: &str) -> Result<CosignatureVerifier, KeyLoadError> {
    match load_any_verifier(arg)? {
        AnyVerifier::Witness(v) => Ok(v),
        AnyVerifier::Ed25519(_) => Err(KeyLoadError::WrongKind {
            source_name: arg.to_string(),
            found: ED25519_TYPE,
            wanted: "expected a cosignature/v1 (0x04) witness key, got a plain Ed25519 key",
        }),
    }
}

/// Reads an Ed25519 signed-note secret key file.
pub fn load_signer(path: &Path) -> Result<Signer, KeyLoadError> {
    let text = files::read_secret(path)?;
    Signer::from_skey(text.trim()).map_err(|err| KeyLoadError::Key {
        source_name: path.display().to_string(),
        err,
    })
}

/// Reads a reviewer's Ed25519 signed-note secret key file as the key name (the reviewer
/// name) and the raw signing key attestations are signed with. The skey is parsed by
/// proto first (format and key ID), then its seed is taken from the last field.
pub fn load_reviewer_key(path: &Path) -> Result<(String, ed25519_dalek::SigningKey), KeyLoadError> {
    use base64::Engine as _;
    let text = files::read_secret(path)?;
    let text = text.trim();
    let wrap = |err| KeyLoadError::Key {
        source_name: path.display().to_string(),
        err,
    };
    let signer = Signer::from_skey(text).map_err(wrap)?;
    // PRIVATE+KEY+<name>+<id>+<base64>: the base64 itself may contain '+'.
    let b64 = text
        .strip_prefix("PRIVATE+KEY+")
        .and_then(|r| r.split_once('+'))
        .and_then(|(_, r)| r.split_once('+'))
        .map(|(_, b)| b)
        .unwrap_or("");
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| wrap(KeyError::Malformed("secret key is not base64")))?,
    );
    let seed: Zeroizing<[u8; 32]> = raw
        .get(1..)
        .and_then(|s| <[u8; 32]>::try_from(s).ok())
        .map(Zeroizing::new)
        .ok_or_else(|| wrap(KeyError::Malformed("secret key has the wrong length")))?;
    // The SigningKey zeroes itself on drop (ed25519-dalek's `zeroize` feature).
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    if key.verifying_key().to_bytes() != signer.public_key_bytes() {
        return Err(wrap(KeyError::Malformed(
            "secret key does not match its public key",
        )));
    }
    Ok((signer.name().to_owned(), key))
}

/// Reads a witness (cosignature/v1) secret key file.
pub fn load_witness_signer(path: &Path) -> Result<CosignatureSigner, KeyLoadError> {
    let text = files::read_secret(path)?;
    CosignatureSigner::from_skey(text.trim()).map_err(|err| KeyLoadError::Key {
        source_name: path.display().to_string(),
        err,
    })
}

/// 32 bytes from the operating system's CSPRNG, for key generation.
pub fn random_seed() -> Result<[u8; 32], getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(seed)
}

/// A file name for a key name: key names are often URL-like (`example.org/log`), so
/// characters that are unsafe or awkward in file names become `_`.
pub fn file_stem_for(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem_for("alice"), "alice");
        assert_eq!(file_stem_for("example.org/log-de"), "example.org_log-de");
        assert_eq!(file_stem_for("../../etc"), ".._.._etc");
    }

    #[test]
    fn literal_vkeys_route_by_type() {
        let s = Signer::generate("log.example", [1; 32]).unwrap();
        assert!(matches!(
            load_any_verifier(&s.vkey()).unwrap(),
            AnyVerifier::Ed25519(_)
        ));
        let w = CosignatureSigner::generate("witness.example", [2; 32]).unwrap();
        assert!(matches!(
            load_any_verifier(&w.vkey()).unwrap(),
            AnyVerifier::Witness(_)
        ));
        assert!(load_witness_verifier(&s.vkey()).is_err());
        assert!(load_ed25519_verifier(&w.vkey()).is_err());
        let err = load_any_verifier("not a key").unwrap_err();
        assert!(err.to_string().contains("not a key"), "{err}");
    }
}
