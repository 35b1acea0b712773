//! docs/ci: one GitHub Actions recipe per ecosystem, each a valid workflow whose gate step
//! runs `check` on that ecosystem's lockfile (which the CLI detects), caches the mirror
//! directory the client really uses, and uploads the SARIF it writes.

use std::path::Path;

#[test]
fn each_recipe_gates_on_check_and_caches_the_mirror() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ci");
    for (file, lockfile) in [
        ("cargo.yml", "Cargo.lock"),
        ("npm.yml", "package-lock.json"),
        ("python.yml", "uv.lock"),
        ("go.yml", "go.sum"),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let doc = quorate_client::yaml::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let steps = doc["jobs"]["quorate"]["steps"]
            .as_vec()
            .unwrap_or_else(|| panic!("{file}: no steps"));
        let runs: Vec<String> = steps
            .iter()
            .filter_map(|s| quorate_client::yaml::field(s, "run"))
            .collect();
        let gate = steps
            .last()
            .and_then(|s| quorate_client::yaml::field(s, "run"))
            .unwrap();
        assert!(
            gate.starts_with(&format!("quorate check {lockfile}"))
                || gate.starts_with(&format!("cargo quorate check {lockfile}")),
            "{file}: the last step must be the gate, got {gate:?}"
        );
        assert!(
            steps.last().unwrap()["continue-on-error"].is_badvalue(),
            "{file}: the gate must fail the job"
        );
        assert!(runs.iter().any(|r| r.contains("--format sarif")), "{file}");
        assert!(
            steps.iter().any(
                |s| quorate_client::yaml::field(&s["with"], "path").as_deref()
                    == Some("~/.cache/quorate/mirror")
            ),
            "{file}: mirror not cached"
        );
        // The lockfile name in the recipe is one the CLI detects by name.
        assert!(quorate_client::lockfile::detect::detect(lockfile, "").is_ok());
    }
    // The cached path is the client's default mirror directory.
    let home = std::env::var_os("HOME");
    if std::env::var_os("XDG_CACHE_HOME").is_none() && home.is_some() {
        let d = quorate_client::mirror::default_cache_dir().unwrap();
        assert!(d.ends_with(".cache/quorate/mirror"), "{}", d.display());
    }
}
