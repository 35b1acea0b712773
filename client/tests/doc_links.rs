//! Every relative link in the workspace's documentation (README.md, specs/*.md and the
//! crate READMEs) names a file or directory inside the repository: a reader who
//! follows one from a fresh clone must not land nowhere.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The targets of `[text](target)` links (inline code spans skipped).
fn link_targets(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop inline code, where `](` is text, not a link.
        let mut text = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                text.push_str(part);
            }
        }
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    out
}

fn docs() -> Vec<PathBuf> {
    let r = root();
    let mut v = vec![r.join("README.md")];
    for c in ["proto", "witness", "node", "client", "testnet"] {
        let p = r.join(c).join("README.md");
        if p.is_file() {
            v.push(p);
        }
    }
    for e in std::fs::read_dir(r.join("specs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            v.push(e.path());
        }
    }
    v
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let repo = root().canonicalize().unwrap();
    let mut broken = Vec::new();
    for doc in docs() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for t in link_targets(&text) {
            if t.is_empty() || t.starts_with('#') || t.contains("://") || t.starts_with("mailto:") {
                continue;
            }
            let path = t.split('#').next().unwrap_or_default();
            // In the repository: a file beside the checkout (../shared) is not there for
            // a reader of a fresh clone.
            let inside = doc
                .parent()
                .unwrap()
                .join(path)
                .canonicalize()
                .is_ok_and(|p| p.starts_with(&repo));
            if !inside {
                broken.push(format!("{}: {t}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
}

#[test]
fn link_extraction() {
    let t = link_targets("a [x](b.md) `[no](c.md)` [y](d.md#h) [z](https://e)\n```\n[f](g)\n```\n");
    assert_eq!(t, ["b.md", "d.md#h", "https://e"]);
}
