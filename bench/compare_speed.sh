#!/usr/bin/env bash
# How long `loadcheck compare` takes on a one-hour run with ten endpoints
# (head, rollout and tail together make up the hour) against a 20-run
# history, and against another one-hour run (the block bootstrap path).
# The hour is synthetic (bench/synth_hour.rs, 20 req/s per endpoint) on a
# template from a real two-second run against the demo service.
#
#   cargo build --release --bin loadcheck --example synth_hour
#   LOADCHECK=target/release/loadcheck bench/compare_speed.sh
set -euo pipefail
LOADCHECK=${LOADCHECK:-target/release/loadcheck}
SYNTH=${SYNTH:-$(dirname "$LOADCHECK")/examples/synth_hour}
SECONDS_RUN=${SECONDS_RUN:-3600}
ROUNDS=${ROUNDS:-3}
[[ -x $LOADCHECK && -x $SYNTH ]] || {
    echo "build first: cargo build --release --bin loadcheck --example synth_hour" >&2
    exit 2
}
WORK=$(mktemp -d /tmp/compare-speed.XXXXXX)
trap 'kill "${DEMO:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18790
"$LOADCHECK" demo serve --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
DEMO=$!
sleep 0.5
# shellcheck source=ten_endpoints.sh
source "$(dirname "${BASH_SOURCE[0]}")/ten_endpoints.sh"
ten_endpoint_plan "$PORT" >"$WORK/ten.toml"
"$LOADCHECK" run "$WORK/ten.toml" --out "$WORK/template" -q >/dev/null
kill "$DEMO"
t0=$(date +%s.%N)
for i in $(seq 1 21); do
    "$SYNTH" "$WORK/template" "$WORK/run$i" "$i" "$SECONDS_RUN"
done
t1=$(date +%s.%N)
for i in $(seq 1 20); do
    "$LOADCHECK" baseline update "$WORK/run$i" --store "$WORK/store.json" >/dev/null
done
t2=$(date +%s.%N)
echo "synthetic runs: 21 × ${SECONDS_RUN} s × 10 endpoints in $(echo "$t1 - $t0" | bc) s;" \
    "timeline.hlog $(du -h "$WORK/run21/timeline.hlog" | cut -f1); store of 20 runs built in $(echo "$t2 - $t1" | bc) s," \
    "$(du -h "$WORK/store.json" | cut -f1)"
echo
echo "| comparison | round | wall s | user s | sys s | max RSS MiB |"
echo "|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    for what in history run; do
        if [[ $what == history ]]; then base=$WORK/store.json; else base=$WORK/run1; fi
        /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$LOADCHECK" compare "$base" "$WORK/run21" --out "$WORK/cmp-$what" >/dev/null || true
        read -r wall user sys rss <"$WORK/time"
        echo "| $what (20-run store) | $r | $wall | $user | $sys | $((rss / 1024)) |" | sed "s/run (20-run store)/run vs run (one hour each)/"
    done
done
