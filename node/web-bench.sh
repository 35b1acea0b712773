#!/usr/bin/env bash
# Measures the web pages on a 1,000,000-entry log (release build).
# Run from the workspace root after `cargo build --release -p quorate-node`. Needs curl and bc.
set -euo pipefail
B=${B:-target/release/quorate-node}
D=${D:-$(mktemp -d)}
mkdir -p "$D"; rm -rf "$D/data"
$B bench --entries 1000000 --submissions 1000 --concurrency 300 --keep-big $D/data > $D/bench.txt 2>$D/bench.err
$B serve --data $D/data --listen 127.0.0.1:0 > $D/out.txt 2> $D/node.log &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for i in $(seq 100); do grep -q "listening on" $D/out.txt 2>/dev/null && break; sleep 0.1; done
T0=$(date +%s.%N)
A=$(sed -n 's/^listening on //p' $D/out.txt)
echo "rss_at_start_kb $(awk '/VmRSS/{print $2}' /proc/$PID/status)"
while curl -s "http://$A/activity" | grep -q "Indexed so far"; do sleep 0.2; done
T1=$(date +%s.%N)
echo "index_catch_up_s $(echo "$T1 - $T0" | bc)"
echo "rss_after_index_kb $(awk '/VmRSS/{print $2}' /proc/$PID/status)"
KEY=$(curl -s "http://$A/reviewers" | grep -o 'data-key="[0-9a-f]*"' | head -1 | cut -d'"' -f2)
[ -n "$KEY" ] || KEY=$(curl -s "http://$A/reviews?limit=1" | grep -o '/reviewers/[0-9a-f]\{64\}' | head -1 | cut -d/ -f3)
for p in "/" "/reviews" "/reviews?ecosystem=cargo&package=pkg1" "/reviews?package=pkg4999" "/reviews?ecosystem=cargo&package=pkg1&version=1.0.0" "/reviewers" "/reviewers/$KEY" "/reviewers/$KEY?before=500000" "/federation" "/activity?days=3650" "/entry/999999" "/v1/proof/entry/123456"; do
  ts=()
  for i in 1 2 3 4 5; do ts+=($(curl -s -o /dev/null -w '%{time_total}' "http://$A$p")); done
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$A$p")
  med=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p)
  echo "page $code ${med}s $p"
done
