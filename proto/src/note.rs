//! Signed notes: C2SP `signed-note` v1.0.0 with Ed25519, byte-compatible with Go's
//! `golang.org/x/mod/sumdb/note`.
//!
//! # Format
//!
//! A signed note is UTF-8 text, with no ASCII control characters other than newline
//! (U+000A), made of:
//!
//! 1. the *text*: any bytes ending in a newline (it may contain empty lines),
//! 2. one blank line (a lone newline),
//! 3. one or more *signature lines*, each `— <key name> <base64 signature>\n`, where `—`
//!    is the em dash U+2014 and the separators are single spaces (U+0020).
//!
//! The text is separated from the signatures by the **last** blank line of the note; the
//! signed message is the text including its final newline and excluding the blank line.
//!
//! A signature decodes (standard base64, RFC 4648 §4, padding required, canonical
//! encoding only) to a 4-byte big-endian key ID followed by the algorithm's signature
//! bytes (at least one). For Ed25519 (signature type `0x01`) that is the 64-byte
//! RFC 8032 signature over the text; for witness cosignatures (type `0x04`, see
//! [`crate::cosignature`]) a 72-byte timestamped signature.
//!
//! # Keys
//!
//! A *key name* is non-empty UTF-8 with no Unicode white space, no `+`, and (stricter
//! than Go, which never produces them) no control characters. The key ID is
//!
//! ```text
//! key ID = big-endian u32 of SHA-256(key name || 0x0A || type byte || public key)[:4]
//! ```
//!
//! and is written as exactly 8 lowercase hex digits. Keys are exchanged as text:
//!
//! ```text
//! vkey: <name>+<key ID hex>+base64(type byte || 32-byte Ed25519 public key)
//! skey: PRIVATE+KEY+<name>+<key ID hex>+base64(type byte || 32-byte Ed25519 seed)
//! ```
//!
//! e.g. `PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW`. The skey's
//! key ID is that of the corresponding *public* key, so it must be re-derived and checked.
//! Go writes exactly these forms for type `0x01`; Quorate uses the same skey shape for its
//! type `0x04` witness keys.
//!
//! # Verification rules
//!
//! A signature line is attributed to a known key only when **both** its name and key ID
//! match one; signatures from unknown keys (including ones sharing only the name or only
//! the ID with a known key) are returned unverified and otherwise ignored, with exact
//! duplicate unknown lines collapsed (as Go). A known key's signature that fails to verify
//! rejects the whole note, as does a second signature line from the same known key
//! (Go silently drops such repeats without checking them; Quorate treats them as
//! tampering). A note with no verified signature is rejected, with an error distinct from
//! a bad signature.
//!
//! # Limits
//!
//! Chosen so that even post-quantum signatures (up to ~5 kB) fit and the spec's required
//! minimum of 16 signatures is far exceeded, while bounding the work one note can cost:
//! [`MAX_NOTE_SIZE`] bytes in total, [`MAX_SIGNATURES`] signature lines (counting unknown
//! ones, as Go does), and [`MAX_SIGNATURE_LINE_LEN`] bytes per signature line.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Largest signed note accepted or produced, in bytes (1 MiB).
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// Most signature lines a note may carry (the same bound as Go's `note.Open`).
pub const MAX_SIGNATURES: usize = 100;
/// Longest signature line, in bytes including the em dash prefix and the newline.
pub const MAX_SIGNATURE_LINE_LEN: usize = 8 * 1024;

/// Signature type byte of plain Ed25519 note signatures.
pub const ED25519_TYPE: u8 = 0x01;

const EM_DASH_PREFIX: &str = "\u{2014} ";
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a vkey or skey string, or a key name, was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("invalid key name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    #[error("signer key does not start with \"PRIVATE+KEY+\"")]
    NotPrivateKey,
    #[error("key ID {stated:08x} does not match the key (computed {computed:08x})")]
    KeyIdMismatch { stated: u32, computed: u32 },
    #[error("unsupported signature type 0x{found:02x} (expected 0x{expected:02x})")]
    WrongType { found: u8, expected: u8 },
    #[error("key material is {found} bytes, expected {expected}")]
    WrongLength { found: usize, expected: usize },
    #[error("not a valid Ed25519 public key")]
    InvalidPublicKey,
}

/// Why a note could not be signed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is {size} bytes, more than the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("note is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("note contains control character 0x{byte:02x} at byte {offset}")]
    ControlCharacter { offset: usize, byte: u8 },
    #[error("note text is empty or does not end in a newline")]
    TextNotNewlineTerminated,
    #[error("note has no blank line separating the text from the signatures")]
    MissingSignatureSeparator,
    #[error("note has no signature lines after the blank line")]
    NoSignatureLines,
    #[error("note's last signature line does not end in a newline")]
    UnterminatedSignatureLine,
    #[error("signature line {line}: {reason}")]
    MalformedSignatureLine { line: usize, reason: &'static str },
    #[error("signature line {line} is {len} bytes, more than the limit of {max}")]
    SignatureLineTooLong { line: usize, len: usize, max: usize },
    #[error("signature line {line}: {source}")]
    InvalidSignerName { line: usize, source: KeyError },
    #[error("note has more than {max} signatures")]
    TooManySignatures { max: usize },
    #[error("invalid signature by known key {name}+{key_id:08x}")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("more than one signature by key {name}+{key_id:08x}")]
    DuplicateSignature { name: String, key_id: u32 },
    #[error("more than one verifier given for key {name}+{key_id:08x}")]
    AmbiguousKey { name: String, key_id: u32 },
    #[error("no signature from a known key ({unverified} signatures from unknown keys)")]
    NoKnownSignature { unverified: usize },
    #[error("invalid signer: {0}")]
    InvalidSigner(KeyError),
}

/// A key that can check note signatures: plain Ed25519 ([`Ed25519Verifier`]) or a
/// witness cosignature key ([`crate::cosignature::CosignatureVerifier`]).
pub trait NoteVerifier {
    /// The key name, which signature lines must carry to be attributed to this key.
    fn name(&self) -> &str;
    /// The key ID, which signatures must start with to be attributed to this key.
    fn key_id(&self) -> u32;
    /// Whether `sig` (the signature bytes after the key ID) is valid over `msg` (the
    /// note text). Must not panic on any input.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool;
}

/// Checks a key name against the rules in the module documentation.
pub fn check_key_name(name: &str) -> Result<(), KeyError> {
    let bad = |reason| {
        Err(KeyError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    for c in name.chars() {
        if c == '+' {
            return bad("contains '+'");
        }
        if c.is_whitespace() {
            return bad("contains white space");
        }
        if c.is_control() {
            return bad("contains a control character");
        }
    }
    Ok(())
}

/// The key ID of a key with this name, signature type byte and public key material.
pub fn key_id(name: &str, key_type: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', key_type]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A parsed vkey of any signature type, so callers can route e.g. `0x01` log keys and
/// `0x04` witness keys to the right verifier. The key ID has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub key_id: u32,
    /// The signature type byte (first decoded byte of the key part).
    pub key_type: u8,
    /// The public key material after the type byte.
    pub public_key: Vec<u8>,
}

/// Parses `<name>+<hex8 key ID>+base64(type || key)` and checks the key ID; the key
/// material itself is only checked by the type-specific constructors.
pub fn parse_vkey(vkey: &str) -> Result<VerifierKey, KeyError> {
    let (name, rest) = vkey
        .split_once('+')
        .ok_or(KeyError::Malformed("missing '+' after the name"))?;
    let (id_hex, key_b64) = rest
        .split_once('+')
        .ok_or(KeyError::Malformed("missing '+' after the key ID"))?;
    check_key_name(name)?;
    let stated = parse_key_id_hex(id_hex)?;
    let key = decode_b64(key_b64).ok_or(KeyError::Malformed("key is not canonical base64"))?;
    let (&key_type, public_key) = key.split_first().ok_or(KeyError::Malformed("empty key"))?;
    let computed = key_id(name, key_type, public_key);
    if computed != stated {
        return Err(KeyError::KeyIdMismatch { stated, computed });
    }
    Ok(VerifierKey {
        name: name.to_owned(),
        key_id: stated,
        key_type,
        public_key: public_key.to_vec(),
    })
}

/// Formats a vkey; `key_type || public_key` is the decoded key part.
pub fn format_vkey(name: &str, key_type: u8, public_key: &[u8]) -> Result<String, KeyError> {
    check_key_name(name)?;
    let mut key = Vec::with_capacity(1 + public_key.len());
    key.push(key_type);
    key.extend_from_slice(public_key);
    Ok(format!(
        "{name}+{:08x}+{}",
        key_id(name, key_type, public_key),
        B64.encode(key)
    ))
}

fn parse_key_id_hex(s: &str) -> Result<u32, KeyError> {
    // Go writes %08x; accepting only that form keeps one key one string.
    if s.len() != 8
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(KeyError::Malformed("key ID is not 8 lowercase hex digits"));
    }
    u32::from_str_radix(s, 16).map_err(|_| KeyError::Malformed("key ID is not hex"))
}

/// Strict standard base64: padding required and non-zero trailing bits rejected, so every
/// byte string has exactly one accepted encoding.
pub(crate) fn decode_b64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}

/// An skey text. The secret is overwritten (best effort) when this is dropped, and
/// `Debug` does not print it.
pub struct SecretKeyText(String);

impl SecretKeyText {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKeyText(<redacted>)")
    }
}

impl Drop for SecretKeyText {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0).into_bytes());
    }
}

fn wipe(mut bytes: Vec<u8>) {
    bytes.fill(0);
    // Keeps the zeroing from being optimised away as a dead store.
    std::hint::black_box(&bytes);
}

/// Parses `PRIVATE+KEY+<name>+<hex8>+base64(type || seed32)` for the given type and checks
/// the key ID against the derived public key. Shared by note and cosignature signers.
pub(crate) fn parse_skey(
    skey: &str,
    expected_type: u8,
) -> Result<(String, u32, SigningKey), KeyError> {
    let rest = skey
        .strip_prefix(SKEY_PREFIX)
        .ok_or(KeyError::NotPrivateKey)?;
    let (name, rest) = rest
        .split_once('+')
        .ok_or(KeyError::Malformed("missing '+' after the name"))?;
    let (id_hex, key_b64) = rest
        .split_once('+')
        .ok_or(KeyError::Malformed("missing '+' after the key ID"))?;
    check_key_name(name)?;
    let stated = parse_key_id_hex(id_hex)?;
    let key = decode_b64(key_b64).ok_or(KeyError::Malformed("key is not canonical base64"))?;
    let result = signing_key_from_decoded(&key, expected_type);
    wipe(key);
    let sk = result?;
    let computed = key_id(name, expected_type, sk.verifying_key().as_bytes());
    if computed != stated {
        return Err(KeyError::KeyIdMismatch { stated, computed });
    }
    Ok((name.to_owned(), stated, sk))
}

fn signing_key_from_decoded(key: &[u8], expected_type: u8) -> Result<SigningKey, KeyError> {
    let (&key_type, seed) = key.split_first().ok_or(KeyError::Malformed("empty key"))?;
    if key_type != expected_type {
        return Err(KeyError::WrongType {
            found: key_type,
            expected: expected_type,
        });
    }
    let seed: &[u8; 32] = seed.try_into().map_err(|_| KeyError::WrongLength {
        found: seed.len(),
        expected: 32,
    })?;
    Ok(SigningKey::from_bytes(seed))
}

/// Formats an skey for `sk` with the given type byte.
pub(crate) fn format_skey(name: &str, key_id: u32, key_type: u8, sk: &SigningKey) -> SecretKeyText {
    let mut key = Vec::with_capacity(33);
    key.push(key_type);
    key.extend_from_slice(sk.as_bytes());
    let b64 = B64.encode(&key);
    wipe(key);
    let text = format!("{SKEY_PREFIX}{name}+{key_id:08x}+{b64}");
    wipe(b64.into_bytes());
    SecretKeyText(text)
}

/// An Ed25519 note signing key (signature type `0x01`).
pub struct Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a 32-byte Ed25519 seed. The crate has no RNG: callers supply
    /// uniformly random bytes.
    pub fn generate(name: &str, seed: [u8; 32]) -> Result<Signer, KeyError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, ED25519_TYPE, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses an skey of type `0x01`, checking its key ID.
    pub fn from_skey(skey: &str) -> Result<Signer, KeyError> {
        let (name, key_id, key) = parse_skey(skey, ED25519_TYPE)?;
        Ok(Signer { name, key_id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The vkey, exactly as Go's `note.GenerateKey` writes it.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            B64.encode(self.typed_public_key())
        )
    }

    /// The skey, exactly as Go's `note.GenerateKey` writes it.
    pub fn skey(&self) -> SecretKeyText {
        format_skey(&self.name, self.key_id, ED25519_TYPE, &self.key)
    }

    /// The verifier for this key.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// A raw Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    fn typed_public_key(&self) -> [u8; 33] {
        let mut k = [0u8; 33];
        k[0] = ED25519_TYPE;
        k[1..].copy_from_slice(self.key.verifying_key().as_bytes());
        k
    }
}

/// An Ed25519 note verifier key (signature type `0x01`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// Parses a vkey of type `0x01`.
    pub fn from_vkey(vkey: &str) -> Result<Ed25519Verifier, KeyError> {
        let k = parse_vkey(vkey)?;
        Self::from_parsed(&k)
    }

    /// Builds the verifier from an already parsed vkey of type `0x01`.
    pub fn from_parsed(k: &VerifierKey) -> Result<Ed25519Verifier, KeyError> {
        if k.key_type != ED25519_TYPE {
            return Err(KeyError::WrongType {
                found: k.key_type,
                expected: ED25519_TYPE,
            });
        }
        let key = ed25519_public_key(&k.public_key)?;
        Ok(Ed25519Verifier {
            name: k.name.clone(),
            key_id: k.key_id,
            key,
        })
    }

    /// A verifier from a name and raw public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Ed25519Verifier, KeyError> {
        check_key_name(name)?;
        let key = ed25519_public_key(public_key)?;
        Ok(Ed25519Verifier {
            name: name.to_owned(),
            key_id: key_id(name, ED25519_TYPE, public_key),
            key,
        })
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn vkey(&self) -> String {
        let mut k = [0u8; 33];
        k[0] = ED25519_TYPE;
        k[1..].copy_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(k))
    }
}

pub(crate) fn ed25519_public_key(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let arr: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::WrongLength {
        found: bytes.len(),
        expected: 32,
    })?;
    VerifyingKey::from_bytes(arr).map_err(|_| KeyError::InvalidPublicKey)
}

/// RFC 8032 verification as Go's `crypto/ed25519` does it (cofactorless, canonical S), so
/// both implementations accept the same signatures.
pub(crate) fn ed25519_verify(key: &VerifyingKey, msg: &[&[u8]], sig: &[u8]) -> bool {
    use ed25519_dalek::ed25519::signature::MultipartVerifier as _;
    let Ok(sig) = <&[u8; 64]>::try_from(sig) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(sig);
    key.multipart_verify(msg, &sig).is_ok()
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        ed25519_verify(&self.key, &[msg], sig)
    }
}

/// One signature line of a note: key name, key ID, and the signature bytes after the ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature line's content; the name must be a valid key name and the signature
    /// non-empty.
    pub fn new(name: &str, key_id: u32, signature: Vec<u8>) -> Result<NoteSignature, KeyError> {
        check_key_name(name)?;
        if signature.is_empty() {
            return Err(KeyError::Malformed("empty signature"));
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the 4-byte key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The signature line, `— <name> <base64(key ID || signature)>\n`.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{EM_DASH_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

/// An opened note: its text and its signatures. Only [`open`] builds one, so holding it
/// means at least one signature by a known key verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    verified: Vec<NoteSignature>,
    unverified: Vec<NoteSignature>,
}

impl Note {
    /// The signed text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }

    /// Signatures by known keys, all verified, in note order.
    pub fn verified_signatures(&self) -> &[NoteSignature] {
        &self.verified
    }

    /// Signatures by unknown keys, never checked, in note order.
    pub fn unverified_signatures(&self) -> &[NoteSignature] {
        &self.unverified
    }

    /// The signed note with only its verified signature lines, in note order: what is
    /// left once every line nobody here could check is stripped. Junk lines appended by
    /// whoever relayed a note cannot make two copies of it differ after this.
    pub fn verified_note(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 128 * self.verified.len());
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.verified {
            out.push_str(&sig.to_line());
        }
        out
    }
}

/// Checks UTF-8 and control characters over the whole message, as the spec requires of
/// every signed note.
fn check_chars(msg: &[u8]) -> Result<&str, NoteError> {
    let s = std::str::from_utf8(msg).map_err(|e| NoteError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    // Multi-byte UTF-8 sequences never contain bytes below 0x80, so a byte scan is exact.
    if let Some((offset, &byte)) = msg
        .iter()
        .enumerate()
        .find(|&(_, &b)| b < 0x20 && b != b'\n')
    {
        return Err(NoteError::ControlCharacter { offset, byte });
    }
    Ok(s)
}

/// Parsed signature lines, each with its source line (to collapse exact duplicates).
type SignatureLines<'a> = Vec<(NoteSignature, &'a str)>;

/// Splits a note into its text and parsed (unverified) signature lines.
fn split(msg: &[u8]) -> Result<(&str, SignatureLines<'_>), NoteError> {
    if msg.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: msg.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    let s = check_chars(msg)?;
    let sep = s
        .rfind("\n\n")
        .ok_or(NoteError::MissingSignatureSeparator)?;
    // The separator is two ASCII bytes, so both split points are char boundaries.
    let (Some(text), Some(sigs)) = (s.get(..sep + 1), s.get(sep + 2..)) else {
        return Err(NoteError::MissingSignatureSeparator);
    };
    if sigs.is_empty() {
        return Err(NoteError::NoSignatureLines);
    }
    let Some(body) = sigs.strip_suffix('\n') else {
        return Err(NoteError::UnterminatedSignatureLine);
    };
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let n = i + 1;
        if n > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        out.push((parse_signature_line(n, line)?, line));
    }
    Ok((text, out))
}

fn parse_signature_line(n: usize, line: &str) -> Result<NoteSignature, NoteError> {
    let bad = |reason| NoteError::MalformedSignatureLine { line: n, reason };
    if line.len() + 1 > MAX_SIGNATURE_LINE_LEN {
        return Err(NoteError::SignatureLineTooLong {
            line: n,
            len: line.len() + 1,
            max: MAX_SIGNATURE_LINE_LEN,
        });
    }
    let rest = line
        .strip_prefix(EM_DASH_PREFIX)
        .ok_or_else(|| bad("does not start with an em dash and a space"))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| bad("no space between key name and signature"))?;
    check_key_name(name).map_err(|source| NoteError::InvalidSignerName { line: n, source })?;
    let raw = decode_b64(b64).ok_or_else(|| bad("signature is not canonical base64"))?;
    let Some((id, sig)) = raw.split_first_chunk::<4>() else {
        return Err(bad("signature shorter than a key ID plus one byte"));
    };
    if sig.is_empty() {
        return Err(bad("signature shorter than a key ID plus one byte"));
    }
    let key_id = u32::from_be_bytes(*id);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id,
        signature: sig.to_vec(),
    })
}

/// Opens a signed note, verifying every signature by a key in `verifiers` (see the module
/// documentation for the exact rules).
pub fn open(msg: &[u8], verifiers: &[&dyn NoteVerifier]) -> Result<Note, NoteError> {
    let (text, sigs) = split(msg)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    let mut seen_unknown: Vec<&str> = Vec::new();
    for (sig, line) in sigs {
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        let Some(v) = matching.next() else {
            if !seen_unknown.contains(&line) {
                seen_unknown.push(line);
                unverified.push(sig);
            }
            continue;
        };
        if matching.next().is_some() {
            return Err(NoteError::AmbiguousKey {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if verified
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            return Err(NoteError::DuplicateSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if !v.verify(text.as_bytes(), &sig.signature) {
            return Err(NoteError::InvalidSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        verified.push(sig);
    }
    if verified.is_empty() {
        return Err(NoteError::NoKnownSignature {
            unverified: unverified.len(),
        });
    }
    Ok(Note {
        text: text.to_owned(),
        verified,
        unverified,
    })
}

/// A note reduced to the signature lines that verify, by [`keep_verified`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The note: the original text, the blank line, and only the lines that verified.
    pub note: String,
    /// Signature lines dropped (unknown key, unparsable, bad signature, or a repeat).
    pub dropped: usize,
}

/// Rebuilds a note keeping only the signature lines that verify under `verifiers`: the
/// first valid line of each known key, in their original order. Whoever relays a note
/// (a CDN, a proxy, anyone on an `http://` path) can append lines naming a known key
/// with garbage bytes; [`open`] rejects such a note outright, this drops those lines
/// instead, so a relay cannot make a note unusable by adding to it. Lines by unknown
/// keys, lines that do not parse, lines whose signature fails, repeats of a key already
/// kept, and a last line without its newline are all dropped and counted.
///
/// Errors only for what the signers are responsible for: a note over [`MAX_NOTE_SIZE`],
/// a text that is not valid note text, no separator, or no line that verifies. The work
/// is bounded by the note's size: at most one signature check per line.
pub fn keep_verified(msg: &[u8], verifiers: &[&dyn NoteVerifier]) -> Result<Pruned, NoteError> {
    if msg.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: msg.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    let sep = msg
        .windows(2)
        .rposition(|w| w == b"\n\n")
        .ok_or(NoteError::MissingSignatureSeparator)?;
    let text = check_chars(&msg[..sep + 1])?;
    let mut kept: Vec<(&dyn NoteVerifier, &str)> = Vec::new();
    let mut dropped = 0usize;
    let mut lines: Vec<&[u8]> = msg[sep + 2..].split(|&b| b == b'\n').collect();
    // `split` yields an empty piece after the final newline; anything else there is a
    // line that was never terminated.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    } else if lines.pop().is_some() {
        dropped += 1;
    }
    for (i, raw) in lines.into_iter().enumerate() {
        let parsed = check_chars(raw)
            .ok()
            .and_then(|line| Some((line, parse_signature_line(i + 1, line).ok()?)));
        let Some((line, sig)) = parsed else {
            dropped += 1;
            continue;
        };
        let known = verifiers
            .iter()
            .find(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        let good = known.filter(|v| {
            !kept
                .iter()
                .any(|(k, _)| k.name() == v.name() && k.key_id() == v.key_id())
                && v.verify(text.as_bytes(), &sig.signature)
        });
        match good {
            Some(v) => kept.push((*v, line)),
            None => dropped += 1,
        }
    }
    if kept.is_empty() {
        return Err(NoteError::NoKnownSignature {
            unverified: dropped,
        });
    }
    let mut note = String::with_capacity(
        text.len() + 1 + kept.iter().map(|(_, l)| l.len() + 1).sum::<usize>(),
    );
    note.push_str(text);
    note.push('\n');
    for (_, l) in kept {
        note.push_str(l);
        note.push('\n');
    }
    Ok(Pruned { note, dropped })
}

/// Checks a note text before signing: it must end in a newline and be a valid note text.
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotNewlineTerminated);
    }
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: text.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    check_chars(text.as_bytes()).map(|_| ())
}

/// Signs `text` (which must end in a newline) with every signer, in order.
pub fn sign(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    check_text(text)?;
    let mut sigs = Vec::with_capacity(signers.len());
    for s in signers {
        sigs.push(NoteSignature {
            name: s.name.clone(),
            key_id: s.key_id,
            signature: s.sign(text.as_bytes()).to_vec(),
        });
    }
    assemble(text, Vec::new(), sigs)
}

/// Appends signature lines (e.g. witness cosignatures) to an already signed note, whose
/// existing signatures are kept unverified. As in Go, an existing line by the same key
/// (name and ID) as a new one is replaced by the new one.
pub fn add_signatures(signed_note: &str, new: &[NoteSignature]) -> Result<String, NoteError> {
    let (text, old) = split(signed_note.as_bytes())?;
    let old = old.into_iter().map(|(s, _)| s).collect();
    assemble(text, old, new.to_vec())
}

fn assemble(
    text: &str,
    old: Vec<NoteSignature>,
    new: Vec<NoteSignature>,
) -> Result<String, NoteError> {
    for (i, s) in new.iter().enumerate() {
        check_key_name(&s.name).map_err(NoteError::InvalidSigner)?;
        if new[..i]
            .iter()
            .any(|t| t.name == s.name && t.key_id == s.key_id)
        {
            return Err(NoteError::DuplicateSignature {
                name: s.name.clone(),
                key_id: s.key_id,
            });
        }
    }
    let kept: Vec<NoteSignature> = old
        .into_iter()
        .filter(|o| !new.iter().any(|n| n.name == o.name && n.key_id == o.key_id))
        .collect();
    if kept.len() + new.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures {
            max: MAX_SIGNATURES,
        });
    }
    let mut out = String::with_capacity(text.len() + 1 + 128 * (kept.len() + new.len()));
    out.push_str(text);
    out.push('\n');
    for (i, s) in kept.iter().chain(new.iter()).enumerate() {
        let line = s.to_line();
        if line.len() > MAX_SIGNATURE_LINE_LEN {
            return Err(NoteError::SignatureLineTooLong {
                line: i + 1,
                len: line.len(),
                max: MAX_SIGNATURE_LINE_LEN,
            });
        }
        out.push_str(&line);
    }
    if out.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: out.len(),
            max: MAX_NOTE_SIZE,
        });
    }
    Ok(out)
}

impl Signer {
    /// This key's signature over `text`, as a signature line's content (for
    /// [`add_signatures`]).
    pub fn sign_note_text(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_text(text)?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.sign(text.as_bytes()).to_vec(),
        })
    }
}
