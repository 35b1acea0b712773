//! How many packages of a lockfile depend on each package, directly or through others:
//! `gaps` ranks review work by it, as `cargo vet suggest` does, since a review of a crate
//! many others pull in closes the most gaps.
//!
//! Reads a Cargo.lock's `dependencies` lists (`"name"`, `"name version"` or `"name
//! version (source)"`). Kept apart from the lockfile reader: it is a ranking aid, so a
//! lockfile without dependency lists (or a format that has none) just ranks every
//! package at 0.

use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(serde::Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Pkg>,
}

#[derive(serde::Deserialize)]
struct Pkg {
    name: String,
    version: String,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// (name, version) -> how many other packages of the lockfile depend on it, directly or
/// transitively. Empty when the text is not a Cargo.lock with dependency lists.
pub fn count(lockfile_text: &str) -> BTreeMap<(String, String), usize> {
    let Ok(lock) = toml::from_str::<Lock>(lockfile_text) else {
        return BTreeMap::new();
    };
    let mut versions: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in &lock.package {
        versions.entry(&p.name).or_default().push(&p.version);
    }
    // Reverse edges: dependency index -> the packages that name it.
    let index: HashMap<(&str, &str), usize> = lock
        .package
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.name.as_str(), p.version.as_str()), i))
        .collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); lock.package.len()];
    for (i, p) in lock.package.iter().enumerate() {
        for d in &p.dependencies {
            let mut parts = d.split_whitespace();
            let Some(name) = parts.next() else { continue };
            let version = match parts.next() {
                Some(v) => Some(v),
                // Without a version, the name is unique in the lockfile.
                None => versions
                    .get(name)
                    .and_then(|vs| (vs.len() == 1).then(|| vs[0])),
            };
            if let Some(&j) = version.and_then(|v| index.get(&(name, v))) {
                users[j].push(i);
            }
        }
    }
    let mut out = BTreeMap::new();
    for (i, p) in lock.package.iter().enumerate() {
        let mut seen = BTreeSet::new();
        let mut stack = users[i].clone();
        while let Some(u) = stack.pop() {
            if u != i && seen.insert(u) {
                stack.extend(users[u].iter().copied());
            }
        }
        out.insert((p.name.clone(), p.version.clone()), seen.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn transitive_dependents_counted_once() {
        let lock = r#"
version = 3
[[package]]
name = "app"
version = "0.1.0"
dependencies = ["web", "log 0.4.0"]
[[package]]
name = "web"
version = "1.0.0"
dependencies = ["log 0.4.0 (registry+https://github.com/rust-lang/crates.io-index)", "cycle"]
[[package]]
name = "log"
version = "0.4.0"
[[package]]
name = "cycle"
version = "1.0.0"
dependencies = ["web"]
"#;
        let c = count(lock);
        let n = |p: &str, v: &str| c[&(p.to_owned(), v.to_owned())];
        assert_eq!(n("log", "0.4.0"), 3); // app, web, and cycle through web
        assert_eq!(n("web", "1.0.0"), 2); // app, cycle
        assert_eq!(n("app", "0.1.0"), 0);
        assert!(count("not toml [[").is_empty());
    }
}
