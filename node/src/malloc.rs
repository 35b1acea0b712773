//! The C allocator's arenas, bounded for a long-running server.
//!
//! glibc gives threads up to 8 malloc arenas per core and never returns an arena's freed
//! memory between live chunks. The node's write path allocates and frees redb's pages
//! (4 KiB and up, 64 MiB of cache churned at every commit) on whichever tokio blocking
//! thread runs the commit, so over a soak more and more arenas each keep tens of MiB of
//! freed pages: the 10-minute soak at 3,500 entries/s grew 60 B per entry after warm-up
//! with five arenas live, against 14.5 B with two, and the live heap (heaptrack) grew ~5
//! B per entry (`bench/profile-soak.txt`). So `serve` limits the arenas to one per core
//! (at least 2): the node's hot paths run on that many threads anyway.
//!
//! An operator's `MALLOC_ARENA_MAX` wins. Other C libraries: nothing to do.

/// The arena limit to set: `None` when the operator set `MALLOC_ARENA_MAX` themselves.
pub fn arena_limit(env: Option<&str>, cores: usize) -> Option<i32> {
    if env.is_some() {
        return None;
    }
    Some(i32::try_from(cores.max(2)).unwrap_or(i32::MAX))
}

/// Applies [`arena_limit`] to this process (glibc only); returns the limit set.
pub fn limit_arenas() -> Option<i32> {
    let env = std::env::var("MALLOC_ARENA_MAX").ok();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limit = arena_limit(env.as_deref(), cores)?;
    set(limit).then_some(limit)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(limit: i32) -> bool {
    // SAFETY: mallopt only changes a tunable of glibc's allocator; it is called before
    // the runtime starts other threads, and any value is valid for M_ARENA_MAX.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, limit) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set(_limit: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::arena_limit;

    #[test]
    fn one_arena_per_core_at_least_two_unless_the_operator_chose() {
        assert_eq!(arena_limit(None, 1), Some(2));
        assert_eq!(arena_limit(None, 2), Some(2));
        assert_eq!(arena_limit(None, 16), Some(16));
        assert_eq!(arena_limit(None, usize::MAX), Some(i32::MAX));
        assert_eq!(arena_limit(Some("8"), 2), None);
        assert_eq!(arena_limit(Some(""), 2), None);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_limit() {
        assert!(super::set(2));
    }
}
