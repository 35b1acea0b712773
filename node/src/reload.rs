//! `SIGHUP`: apply a changed configuration (peers, external witnesses, limits...) without
//! losing state and without closing the listening socket.
//!
//! Every piece of state (store, witness state, evidence, seen checkpoints, keys) is on disk,
//! and most of the configuration (gossip allow-list, the embedded witness's logs, cosigning
//! targets) is wired into long-lived tasks at start. So a reload is a graceful restart in
//! place: the new configuration file is parsed and validated first (an invalid one is
//! refused with an error in the log and the node keeps running as it was); then the node
//! shuts down exactly as on SIGTERM (in-flight requests finish, the sequencer drains, the
//! store closes) and re-executes itself with the same arguments plus
//! `--inherit-listen-fd N`, handing over the listening socket: connections that arrive
//! meanwhile wait in its backlog instead of being refused. The process ID stays the same,
//! so `systemctl reload` (`ExecReload=/bin/kill -HUP $MAINPID`) works. The listen address
//! itself cannot change on reload (the socket is kept); restart for that.

use std::ffi::OsString;
use std::os::fd::{FromRawFd as _, OwnedFd};

use anyhow::Context as _;

/// The hidden `serve` flag that carries the inherited socket.
pub const INHERIT_FLAG: &str = "--inherit-listen-fd";

/// Adopts the listening socket a reloading node handed over as file descriptor `fd`.
pub fn adopt_listener(fd: i32) -> anyhow::Result<std::net::TcpListener> {
    anyhow::ensure!(
        fd > 2,
        "{INHERIT_FLAG} {fd}: not a descriptor a reload hands over"
    );
    // SAFETY: `fd` comes from `--inherit-listen-fd`, which only `reexec` below passes: it
    // is the listening socket the previous image of this process kept open across exec,
    // owned by nothing else in this process. A wrong number given by hand fails the
    // socket check just below, or makes accept fail; it cannot alias memory.
    let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    l.local_addr()
        .with_context(|| format!("{INHERIT_FLAG} {fd} is not a listening socket"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Replaces this process with a fresh `quorate-node` image, same arguments, handing over
/// `listener`. Returns only on failure.
pub fn reexec(listener: OwnedFd) -> anyhow::Error {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::process::CommandExt as _;
    if let Err(e) = rustix::io::fcntl_setfd(&listener, rustix::io::FdFlags::empty()) {
        return anyhow::anyhow!("keeping the listening socket open across exec: {e}");
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return anyhow::anyhow!("finding this executable: {e}"),
    };
    let mut args: Vec<OsString> = Vec::new();
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        if a == INHERIT_FLAG {
            it.next();
            continue;
        }
        args.push(a);
    }
    args.push(INHERIT_FLAG.into());
    args.push(listener.as_raw_fd().to_string().into());
    let err = std::process::Command::new(&exe).args(&args).exec();
    anyhow::anyhow!("re-executing {}: {err}", exe.display())
}
