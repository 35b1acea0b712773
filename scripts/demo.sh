#!/usr/bin/env bash
# Quorate's main job, end to end on this machine: a local federation of review institutes
# in several jurisdictions, each with its own log node and reviewer, reviews packages of
# this repository's own Cargo.lock (real names, versions and checksums; the verdicts are
# generated and labelled as demo data), and a client policy that trusts a quorum of
# jurisdictions answers a real `quorate check` against the nodes.
#
#   bash scripts/demo.sh [--packages N] [--keep]
#
# Everything listens on 127.0.0.1 only, lives in a temporary directory, and is stopped on
# exit (also on Ctrl-C or failure). --keep leaves the directory for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=12
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --packages) packages="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: bash scripts/demo.sh [--packages N] [--keep]" >&2; exit 2 ;;
  esac
done

for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "the demo needs $tool (apt-get install $tool)" >&2; exit 1; }
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
t0=$(date +%s%N)
elapsed() { local ms=$((($(date +%s%N) - t0) / 1000000)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

if [[ -n ${QUORATE_BIN_DIR:-} ]]; then
  bin=$QUORATE_BIN_DIR # prebuilt binaries (tests use the debug build)
else
  say "building (release; the first build takes a few minutes)"
  cargo build --release --locked -q -p quorate-node -p quorate-client
  bin=target/release
fi
node="$bin/quorate-node"
q="$bin/quorate"

work=$(mktemp -d -t quorate-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $keep == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

jurisdictions=(DE FR JP)
n=${#jurisdictions[@]}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
declare -A url http_port p2p_port ident
say "setting up $n institutes: ${jurisdictions[*]} ($(elapsed))"
for j in "${jurisdictions[@]}"; do
  d="$work/$j"
  "$node" init --data "$d" --origin "demo.quorate.example/$j" >/dev/null 2>&1
  "$q" key generate --name "reviewer-$j" --out "$work" >/dev/null 2>&1
  "$node" reviewers add --data "$d" "$work/reviewer-$j.pub" >/dev/null 2>&1
  http_port[$j]=$(free_port)
  p2p_port[$j]=$(free_port)
  url[$j]="http://127.0.0.1:${http_port[$j]}"
  # origin, log_vkey, witness_vkey and peer_id as TOML lines: what operators exchange.
  ident[$j]=$("$node" id --data "$d")
done
# Each institute gossips with, and witnesses, every other one.
for j in "${jurisdictions[@]}"; do
  {
    echo "listen = \"127.0.0.1:${http_port[$j]}\""
    echo "batch_delay_ms = 20"
    echo "witness_quorum_wait_ms = 3000"
    echo "[gossip]"
    echo "listen = \"/ip4/127.0.0.1/tcp/${p2p_port[$j]}\""
    for k in "${jurisdictions[@]}"; do
      [[ $k == "$j" ]] && continue
      echo "[[peer]]"
      echo "${ident[$k]}"
      echo "addr = \"/ip4/127.0.0.1/tcp/${p2p_port[$k]}\""
      echo "url = \"${url[$k]}\""
    done
  } >"$work/$j.toml"
done
say "starting the federation ($(elapsed))"
for j in "${jurisdictions[@]}"; do
  "$node" serve --data "$work/$j" --config "$work/$j.toml" >"$work/$j.out" 2>"$work/$j.log" &
  pids+=($!)
done
# A checkpoint is witnessed when it carries a cosignature from every other institute.
wait_witnessed() {
  for j in "${jurisdictions[@]}"; do
    for _ in $(seq 1 300); do
      if [[ $(curl -sf "${url[$j]}/checkpoint" | grep -c '^— ' || true) -ge $n ]]; then break; fi
      sleep 0.1
    done
    local got
    got=$(curl -sf "${url[$j]}/checkpoint" | grep -c '^— ' || true)
    if [[ $got -lt $n ]]; then
      echo "  $j: checkpoint has $((got - 1)) of $((n - 1)) cosignatures; node log:" >&2
      tail -n 20 "$work/$j.log" >&2
      exit 1
    fi
  done
}
wait_witnessed
for j in "${jurisdictions[@]}"; do
  echo "  $j  ${url[$j]}  log $(cat "$work/$j/log.pub")"
done
echo "  every checkpoint cosigned by the other $((n - 1)) institutes' witnesses ($(elapsed))"

# The packages to review: the first N crates.io packages of this repository's Cargo.lock.
mapfile -t pkgs < <(awk '
  /^\[\[package\]\]/ { name=""; ver=""; sum="" }
  /^name = / { gsub(/"/, "", $3); name=$3 }
  /^version = / { gsub(/"/, "", $3); ver=$3 }
  /^checksum = / { gsub(/"/, "", $3); sum=$3; print name " " ver " " sum }
' Cargo.lock | head -n "$packages")

say "reviewing ${#pkgs[@]} packages (demo verdicts) and logging them ($(elapsed))"
# DE and FR review every package; JP reviews every other one, so half the packages
# reach a quorum of 3 and all reach a quorum of 2.
i=0
for line in "${pkgs[@]}"; do
  read -r name ver sum <<<"$line"
  for j in "${jurisdictions[@]}"; do
    if [[ $j == JP && $((i % 2)) == 1 ]]; then continue; fi
    "$q" review --key "$work/reviewer-$j.key" --package "crates.io/$name@$ver" --digest "$sum" \
      --criteria safe-to-deploy --notes "DEMO DATA: generated verdict, not a real review" \
      --out "$work/$j-$name-$ver.att" >/dev/null
  done
  i=$((i + 1))
done
for j in "${jurisdictions[@]}"; do
  "$q" submit --node "${url[$j]}" --log "$work/$j/log.pub" "$work/$j"-*.att | tail -n1
done

say "waiting for the new checkpoints to be cross-witnessed ($(elapsed))"
wait_witnessed
say "client policy: quorum of 2 jurisdictions, $((n - 1)) witness cosignatures per checkpoint ($(elapsed))"
logs=()
for j in "${jurisdictions[@]}"; do
  logs+=(--log "$j=$(cat "$work/$j/log.pub")@${url[$j]}")
  logs+=(--witness "$j=$(cat "$work/$j/witness.pub")")
done
logs+=(--min-witnesses $((n - 1)))
"$q" policy new "${logs[@]}" --quorum 2 >"$work/quorum2.policy"
cat "$work/quorum2.policy"

# A lockfile holding just the reviewed packages (real names, versions, checksums).
{
  echo "version = 4"
  for line in "${pkgs[@]}"; do
    read -r name ver sum <<<"$line"
    printf '\n[[package]]\nname = "%s"\nversion = "%s"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "%s"\n' "$name" "$ver" "$sum"
  done
} >"$work/Cargo.lock"

say "quorate check, quorum 2 ($(elapsed))"
"$q" check "$work/Cargo.lock" --policy "$work/quorum2.policy" --cache "$work/cache"

say "quorate check, quorum 3: JP reviewed only half, so half must fail ($(elapsed))"
"$q" policy new "${logs[@]}" --quorum 3 >"$work/quorum3.policy"
if "$q" check "$work/Cargo.lock" --policy "$work/quorum3.policy" --cache "$work/cache"; then
  echo "UNEXPECTED: quorum 3 passed" >&2
  exit 1
fi
say "done in $(elapsed)"
