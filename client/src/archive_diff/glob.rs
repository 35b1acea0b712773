//! `--allow-generated` patterns: `*` and `?` within one path segment, `**` across
//! segments. Small enough to keep here rather than pull in a glob crate for it.

/// Whether `path` matches the glob `pat`: `*` and `?` within one path segment, `**` any
/// number of whole segments, anything else literally.
pub fn glob_match(pat: &str, path: &str) -> bool {
    let p: Vec<&str> = pat.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    match_segments(&p, &s)
}

fn match_segments(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| match_segments(rest, &s[i..])),
        Some((first, rest)) => match s.split_first() {
            Some((seg, srest)) => {
                match_one(first.as_bytes(), seg.as_bytes()) && match_segments(rest, srest)
            }
            None => false,
        },
    }
}

/// `*` and `?` in one segment (iterative, with backtracking to the last `*`).
fn match_one(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("configure", "configure"));
        assert!(!glob_match("configure", "sub/configure"));
        assert!(glob_match("**/Makefile.in", "Makefile.in"));
        assert!(glob_match("**/Makefile.in", "src/liblzma/Makefile.in"));
        assert!(glob_match("m4/*.m4", "m4/build-to-host.m4"));
        assert!(!glob_match("m4/*.m4", "m4/sub/x.m4"));
        assert!(glob_match("po/??.gmo", "po/de.gmo"));
        assert!(!glob_match("po/??.gmo", "po/pt_BR.gmo"));
        assert!(glob_match("a/**", "a/b/c"));
    }
}
