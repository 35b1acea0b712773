#!/usr/bin/env bash
# Runs one fuzz target for a bounded time on its committed corpus, at the lowest CPU
# priority, then minimises the corpus. Needs cargo-fuzz (`cargo install cargo-fuzz`);
# on a stable toolchain RUSTC_BOOTSTRAP=1 lets it pass the -Z flags it needs.
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#
# New interesting inputs land in fuzz/corpus/TARGET (then `cargo fuzz cmin` keeps the
# smallest set with the same coverage); crashes in fuzz/libfuzzer/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
secs=$2
shift 2
export RUSTC_BOOTSTRAP=1
fuzz=(--fuzz-dir fuzz/libfuzzer --sanitizer none)
nice -n 19 cargo fuzz run "${fuzz[@]}" "$target" "fuzz/corpus/$target" -- \
  -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 "$@"
nice -n 19 cargo fuzz cmin "${fuzz[@]}" "$target" "fuzz/corpus/$target"
