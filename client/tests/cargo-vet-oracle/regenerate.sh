#!/bin/sh
# Regenerates the cargo-vet oracle used by client/tests/cargo_vet_crosscheck.rs: which
# crates.io packages of shared/locks/zellij.Cargo.lock cargo-vet (0.10.3) itself certifies
# for safe-to-deploy from ONE organisation's audits.toml alone.
#
# Needs: cargo-vet on PATH (`cargo install cargo-vet --locked`), network for `cargo fetch`
# once; cargo vet then runs with --locked --frozen (offline).
#
# wildcard-audits and trusted entries are stripped: they vouch for publishers, not
# releases, and Quorate does not convert them (client/src/cargo_vet.rs).
set -eu
shared=${QUORATE_SHARED_DIR:-$(dirname "$0")/../../../../shared}
shared=$(cd "$shared" && pwd)
work=$(mktemp -d)
mkdir -p "$work/src" "$work/supply-chain"
echo 'fn main() {}' > "$work/src/main.rs"
python3 - "$shared" "$work" <<'PY'
import collections, sys, tomllib
shared, work = sys.argv[1], sys.argv[2]
lock = tomllib.load(open(f"{shared}/locks/zellij.Cargo.lock", "rb"))
by = collections.defaultdict(list)
for p in lock["package"]:
    if p.get("source", "").startswith("registry+"):
        by[p["name"]].append(p["version"])
deps = []
for n, vs in sorted(by.items()):
    for i, v in enumerate(vs):
        alias = n if i == 0 else f"{n}-v{i}"
        deps.append(f'{alias} = {{ package = "{n}", version = "={v}", default-features = false }}')
open(f"{work}/Cargo.toml", "w").write(
    '[package]\nname = "vetz"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n'
    + "\n".join(deps) + "\n")
open(f"{work}/supply-chain/config.toml", "w").write(
    '[cargo-vet]\nversion = "0.10"\n\n[policy.vetz]\ncriteria = "safe-to-deploy"\n')
open(f"{work}/supply-chain/imports.lock", "w").write("")
PY
cp "$shared/locks/zellij.Cargo.lock" "$work/Cargo.lock"   # keeps yanked pins resolvable
(cd "$work" && cargo fetch -q)
for org in mozilla google isrg; do
  python3 - "$shared/audits/$org.toml" "$work/supply-chain/audits.toml" <<'PY'
import sys
out, skip = [], False
for line in open(sys.argv[1]):
    if line.startswith("["):
        skip = line.startswith("[[wildcard-audits.") or line.startswith("[[trusted.")
    if not skip:
        out.append(line)
open(sys.argv[2], "w").write("".join(out))
PY
  (cd "$work" && cargo vet fmt >/dev/null 2>&1 || true
   cargo vet --locked --frozen --output-format=json > "$work/$org.json" 2>/dev/null || true)
  python3 - "$work/$org.json" "$work/Cargo.lock" "$org" <<'PY'
import json, sys, tomllib
j = json.load(open(sys.argv[1]))
failed = {(x["name"], x["version"]) for x in j["failures"]}
lock = tomllib.load(open(sys.argv[2], "rb"))
every = {(p["name"], p["version"]) for p in lock["package"] if "source" in p}
ok = sorted(every - failed)
print(f"{sys.argv[3]} {len(every)} " + " ".join(f"{n}@{v}" for n, v in ok))
PY
done
rm -rf "$work"
