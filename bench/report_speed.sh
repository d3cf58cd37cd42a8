#!/usr/bin/env bash
# How long `loadcheck report` takes to render a one-hour run (3,600
# seconds, ten endpoints, head, rollout and tail) with a comparison into
# every format: the terminal summary, report.md, comment.md, summary.md,
# signoff.md, Mermaid, the SVG charts and JUnit. Wall time of the whole
# command, reading run.json and comparison.json included. The hour is
# synthetic (bench/synth_hour.rs) on a template from a real two-second run
# against the demo service, as in bench/compare_speed.sh.
#
#   cargo build --release --bin loadcheck --example synth_hour
#   LOADCHECK=target/release/loadcheck bench/report_speed.sh
set -euo pipefail
LOADCHECK=${LOADCHECK:-target/release/loadcheck}
SYNTH=${SYNTH:-$(dirname "$LOADCHECK")/examples/synth_hour}
SECONDS_RUN=${SECONDS_RUN:-3600}
ROUNDS=${ROUNDS:-5}
[[ -x $LOADCHECK && -x $SYNTH ]] || {
    echo "build first: cargo build --release --bin loadcheck --example synth_hour" >&2
    exit 2
}
WORK=$(mktemp -d /tmp/report-speed.XXXXXX)
trap 'kill "${DEMO:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18791
"$LOADCHECK" demo serve --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
DEMO=$!
sleep 0.5
# shellcheck source=ten_endpoints.sh
source "$(dirname "${BASH_SOURCE[0]}")/ten_endpoints.sh"
{
    ten_endpoint_plan "$PORT"
    echo '[thresholds]'
    echo '"http_req_duration" = ["p(95)<250", "p(99)<500"]'
    echo '"http_req_failed" = ["rate<0.01"]'
    for i in $(seq 1 10); do
        printf '[[requirement]]\nname = "e%02d p99"\ntarget = "< 500 ms"\ncheck = "http_req_duration{endpoint:e%02d}: p(99)<500"\n' "$i" "$i"
    done
} >"$WORK/ten.toml"
"$LOADCHECK" run "$WORK/ten.toml" --out "$WORK/template" -q >/dev/null || true
kill "$DEMO"
"$SYNTH" "$WORK/template" "$WORK/base" 1 "$SECONDS_RUN"
"$SYNTH" "$WORK/template" "$WORK/run" 2 "$SECONDS_RUN"
"$LOADCHECK" compare "$WORK/base" "$WORK/run" --out "$WORK/run" >/dev/null || true
rows=$(python3 -c "import json,sys; r=json.load(open('$WORK/run/run.json')); print(len(r['timeline']['total']), sum(len(v) for v in r['timeline']['endpoints'].values()), len(r['stats']['endpoints']))")
echo "run.json $(du -h "$WORK/run/run.json" | cut -f1), comparison.json $(du -h "$WORK/run/comparison.json" | cut -f1); timeline rows (total, per-endpoint, endpoints): $rows"
echo
echo "| round | wall ms (whole command) | user ms | sys ms | max RSS MiB | files |"
echo "|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$WORK/out"
    t0=$(date +%s%N)
    code=0
    /usr/bin/time -f '%U %S %M' -o "$WORK/time" "$LOADCHECK" report "$WORK/run" --out "$WORK/out" >/dev/null 2>&1 || code=$?
    t1=$(date +%s%N)
    # The verdict's own exit codes (0, 1) rendered; anything else did not.
    [[ $code -le 1 ]] || { echo "loadcheck report exited $code" >&2; exit 1; }
    read -r user sys rss <"$WORK/time"
    files=$(ls "$WORK/out" | wc -l)
    ms() { python3 -c "print(round($1 * 1000))"; }
    echo "| $r | $(( (t1 - t0) / 1000000 )) | $(ms "$user") | $(ms "$sys") | $((rss / 1024)) | $files |"
done
