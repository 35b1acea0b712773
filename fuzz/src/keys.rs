//! The fixed keys the targets and their seeds share. Their seeds are public constants:
//! they exist only so that fuzzed notes can name a known key.

use std::sync::OnceLock;

use quorate_proto::cosignature::CosignatureSigner;
use quorate_proto::note::{NoteVerifier, Signer};

/// Origin (and key name) of the fuzzing log.
pub const LOG_NAME: &str = "fuzz.example/log";
/// Name of the fuzzing witness.
pub const WITNESS_NAME: &str = "fuzz.example/witness";

/// The fuzzing log's signing key.
pub fn log_signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| Signer::generate(LOG_NAME, [7; 32]).expect("valid fixed key name"))
}

/// The fuzzing witness's cosigning key.
pub fn witness_signer() -> &'static CosignatureSigner {
    static S: OnceLock<CosignatureSigner> = OnceLock::new();
    S.get_or_init(|| {
        CosignatureSigner::generate(WITNESS_NAME, [8; 32]).expect("valid fixed key name")
    })
}

/// A verifier with the fuzzing log's name and key ID that accepts every signature, so a
/// fuzzer gets past the signature check into what a verified note unlocks.
pub struct AcceptAll {
    key_id: u32,
}

impl AcceptAll {
    pub fn log() -> AcceptAll {
        AcceptAll {
            key_id: log_signer().key_id(),
        }
    }
}

impl NoteVerifier for AcceptAll {
    fn name(&self) -> &str {
        LOG_NAME
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, _msg: &[u8], _sig: &[u8]) -> bool {
        true
    }
}
