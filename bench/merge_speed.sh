#!/usr/bin/env bash
# How long `loadcheck merge` takes on 16 one-hour shards of a 3-endpoint
# plan (20 req/s per endpoint per shard), and what one histogram decode
# costs. The shards are synthetic (bench/synth_hour.rs in shard mode) on a
# template from a real two-second `run --shard 1/16` against the demo
# service.
#
#   cargo build --release --bin loadcheck --example synth_hour --example hist_decode
#   LOADCHECK=target/release/loadcheck bench/merge_speed.sh
set -euo pipefail
LOADCHECK=${LOADCHECK:-target/release/loadcheck}
BIN_DIR=$(dirname "$LOADCHECK")
SYNTH=${SYNTH:-$BIN_DIR/examples/synth_hour}
DECODE=${DECODE:-$BIN_DIR/examples/hist_decode}
SHARDS=${SHARDS:-16}
SECONDS_RUN=${SECONDS_RUN:-3600}
ROUNDS=${ROUNDS:-3}
[[ -x $LOADCHECK && -x $SYNTH && -x $DECODE ]] || {
    echo "build first: cargo build --release --bin loadcheck --example synth_hour --example hist_decode" >&2
    exit 2
}
WORK=$(mktemp -d /tmp/merge-speed.XXXXXX)
trap 'kill "${DEMO:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18791
"$LOADCHECK" demo serve --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
DEMO=$!
sleep 0.5
cat >"$WORK/three.toml" <<PLAN
name = "three"
target = "http://127.0.0.1:$PORT"
[[endpoint]]
name = "search"
path = "/v1/images/?q=cat"
[[endpoint]]
name = "thumbnail"
path = "/v1/images/7/thumb/"
[[endpoint]]
name = "other"
path = "/v1/images/?q=dog"
[load]
executor = "constant-arrival-rate"
rate = 960
duration = "2s"
PLAN
"$LOADCHECK" run "$WORK/three.toml" --shard "1/$SHARDS" --out "$WORK/template" -q >/dev/null
kill "$DEMO"
t0=$(date +%s.%N)
for i in $(seq 1 "$SHARDS"); do
    "$SYNTH" "$WORK/template" "$WORK/shard-$i" "$i" "$SECONDS_RUN" 20 "$i"
done
t1=$(date +%s.%N)
echo "synthetic shards: $SHARDS × ${SECONDS_RUN} s × 3 endpoints in $(echo "$t1 - $t0" | bc) s;" \
    "each timeline.hlog $(du -h "$WORK/shard-1/timeline.hlog" | cut -f1), run.json $(du -h "$WORK/shard-1/run.json" | cut -f1)"
echo
echo "One shard's log decoded: $("$DECODE" "$WORK/shard-1/timeline.hlog")"
echo
echo "| round | wall s | user s | sys s | max RSS MiB | merged requests |"
echo "|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$WORK/merged"
    code=0
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$LOADCHECK" merge "$WORK"/shard-* --out "$WORK/merged" >/dev/null || code=$?
    [[ $code -le 1 ]] || { echo "merge exited $code" >&2; exit 1; }
    read -r wall user sys rss <"$WORK/time"
    reqs=$(python3 -c "import json,sys; print(sum(r['requests'] for r in json.load(open(sys.argv[1]))['timeline']['total']))" "$WORK/merged/run.json")
    echo "| $r | $wall | $user | $sys | $((rss / 1024)) | $reqs |"
done
