//! Opening a secret key file for the witness and the node: the mode is taken from the
//! opened file and the rule and read are [`quorate_proto::keyfile`]'s, so every tool
//! refuses the same files with the same message.

use std::fs::File;
use std::path::Path;

pub use quorate_proto::keyfile::KeyFileError;
use zeroize::Zeroizing;

/// Reads the secret key file at `path`, refusing it when group or others can access it;
/// the text is zeroed on drop.
pub fn read_secret_key(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let name = path.display().to_string();
    let read_err = |source| KeyFileError::Read {
        path: name.clone(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        Some(file.metadata().map_err(read_err)?.permissions().mode())
    };
    #[cfg(not(unix))]
    let mode = None;
    quorate_proto::keyfile::read_secret_key(file, mode, &name)
}
