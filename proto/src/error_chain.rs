//! How every Quorate binary prints an error: the message and each cause once.
//!
//! Many error types in the workspace display their source inside their own message
//! (`#[error("cannot read {path}: {source}")]`) *and* return it from `source()`, and
//! `anyhow`'s `{:#}` appends every source again, so a plain chain printed the same cause
//! twice (`No such file or directory (os error 2): No such file or directory (os error
//! 2)`). Rather than rely on every error type (in every crate, now and later) choosing one
//! of the two, the binaries print through [`Chain`], which skips a cause whose text the
//! message already holds.

use std::error::Error;
use std::fmt;

/// Displays an error and its causes, `: `-separated, each cause once.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&chain_text(self.0))
    }
}

/// The text [`Chain`] displays.
pub fn chain_text(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    // A cycle cannot occur with well-formed errors; the bound keeps a bad one finite.
    for _ in 0..64 {
        let Some(c) = cause else { break };
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x.key: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("loading the policy")]
    struct Context(#[source] Repeats);

    #[test]
    fn each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Context(Repeats(io));
        assert_eq!(
            chain_text(&e),
            "loading the policy: cannot read x.key: no such file"
        );
    }

    #[test]
    fn causes_not_in_the_message_are_kept() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain_text(&e), "outer: inner");
    }
}
