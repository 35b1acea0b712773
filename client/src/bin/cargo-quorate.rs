//! `cargo quorate ...`: cargo runs `cargo-quorate quorate ARGS...` for `cargo quorate ARGS...`.
//! This shim drops that first `quorate` and runs the `quorate` binary installed beside it
//! (`cargo install` puts both in the same directory), so every command, flag and exit code
//! is exactly `quorate`'s. Run directly (`cargo-quorate check`), it passes the arguments on
//! unchanged.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// `quorate` beside this executable, else the one on PATH.
fn quorate_binary() -> PathBuf {
    let name = format!("quorate{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "quorate") {
        args.remove(0);
    }
    let bin = quorate_binary();
    match Command::new(&bin).args(&args).status() {
        // A signal-killed child has no code: report failure, as a shell would.
        Ok(status) => ExitCode::from(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1))),
        Err(e) => {
            eprintln!(
                "error: cannot run {} ({e}); install it with `cargo install quorate-client`, which installs both binaries",
                bin.display()
            );
            ExitCode::from(2)
        }
    }
}
