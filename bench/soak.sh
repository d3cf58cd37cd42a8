#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Soak: loadcheck at RATE (default 20,000) req/s against nginx for DURATION
# (default 10m). Samples the loadcheck process's VmRSS from /proc/PID/status
# every SAMPLE_EVERY (10) seconds and checks that memory does not grow: the
# RSS at the end must be at most the RSS at 1 minute + 5 MiB (SLACK_KB).
#
#   LOADCHECK=target/release/loadcheck DURATION=10m bench/soak.sh
#
# Exit 0 when the check holds, 1 when it does not, 2 when it could not be made.
set -euo pipefail
DURATION=${DURATION:-10m}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE=${RATE:-20000}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
SLACK_KB=${SLACK_KB:-5120}
REF_AT=${REF_AT:-60}   # the reference sample, seconds after the start
ROUNDS=1               # one long run

bench_init soak
need_loadcheck soak.sh
raise_nofile 65536
port=${PORT:-$(free_port)}
secs=$(dur_secs "$DURATION" | cut -d. -f1)
((secs > REF_AT)) || log "warning: DURATION $DURATION is not longer than ${REF_AT}s, so there is no 1-minute reference"
plan=$WORK/soak.toml
outdir=$WORK/soak
samples=$WORK/rss.tsv
write_lc_plan "$plan" "$port" "executor = \"constant-arrival-rate\"
rate = $RATE
duration = \"$DURATION\""

nginx_start "$port"
log "loadcheck $RATE req/s for $DURATION, VmRSS every ${SAMPLE_EVERY}s -> $samples"
timeout -k 10 $((secs + 120)) taskset -c "$GEN_CPU" "$LOADCHECK" run "$plan" --out "$outdir" \
    --threads "$LC_THREADS" >"$WORK/soak.out" 2>"$WORK/soak.err" &
CURRENT_PID=$!

# The process to sample is the child of `timeout` (taskset execs loadcheck).
lc_pid=""
for ((i = 0; i < 50; i++)); do
    lc_pid=$(pgrep -P "$CURRENT_PID" | head -n 1 || true)
    [[ -n $lc_pid ]] && break
    sleep 0.1
done
[[ -n $lc_pid ]] || die "could not find the loadcheck process"

printf 'elapsed_s\tvmrss_kb\n' >"$samples"
start=$SECONDS
max_samples=$(((secs + 120) / SAMPLE_EVERY + 2))
for ((n = 1; n <= max_samples; n++)); do
    # Sleep until the next multiple of SAMPLE_EVERY, in short steps so an
    # early exit is seen at once.
    while ((SECONDS - start < n * SAMPLE_EVERY)); do
        kill -0 "$lc_pid" 2>/dev/null || break 2
        sleep 0.5
    done
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$lc_pid/status" 2>/dev/null || true)
    [[ -n $rss ]] || break
    printf '%s\t%s\n' "$((SECONDS - start))" "$rss" >>"$samples"
done
rc=0
wait "$CURRENT_PID" || rc=$?
CURRENT_PID=""
nginx_stop

echo
echo "### Soak: loadcheck at $RATE req/s for $DURATION against nginx"
echo
print_env loadcheck
echo "- loadcheck exit code: $rc"
echo
verdict=0
python3 - "$samples" "$outdir/run.json" "$secs" "$REF_AT" "$SLACK_KB" <<'PY' || verdict=$?
import json, sys
samples_path, run_path = sys.argv[1], sys.argv[2]
secs, ref_at, slack = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rows = [tuple(map(int, l.split("\t"))) for l in open(samples_path).read().splitlines()[1:] if l]
if not rows:
    print("No RSS sample was taken (loadcheck ended before the first one).")
    sys.exit(2)
mib = lambda kb: f"{kb / 1024:.1f}"
print("| elapsed (s) | VmRSS (MiB) |")
print("|---:|---:|")
last_min = None
for t, kb in rows:   # one row a minute, plus the last
    if t // 60 != last_min or (t, kb) == rows[-1]:
        print(f"| {t} | {mib(kb)} |")
        last_min = t // 60
ref = next(((t, kb) for t, kb in rows if t >= ref_at), None)
end_t, end_kb = rows[-1]
peak = max(kb for _, kb in rows)
try:
    total = json.load(open(run_path))["stats"]["total"]
    achieved = f"{total['requests'] / secs:,.0f} req/s"
except Exception:
    achieved = "n/a (no run.json)"
print()
print(f"- achieved rate: {achieved}; {len(rows)} samples; peak sampled VmRSS {mib(peak)} MiB")
if ref is None or ref == rows[-1]:
    print(f"- no sample after the {ref_at}s reference and before the end: no verdict")
    sys.exit(2)
ok = end_kb <= ref[1] + slack
print(f"- RSS at {ref[0]} s: {mib(ref[1])} MiB; at the end ({end_t} s): {mib(end_kb)} MiB; "
      f"growth {(end_kb - ref[1]) / 1024:+.1f} MiB")
print(f"- end ≤ 1 min + {slack / 1024:.0f} MiB: {'yes' if ok else 'NO'}")
sys.exit(0 if ok else 1)
PY
echo
echo "Samples: $samples. Raw results and logs: $WORK"
((rc <= 1)) || log "loadcheck exited $rc: $(tail -n 3 "$WORK/soak.err" | tr '\n' ' ')"
exit "$verdict"
