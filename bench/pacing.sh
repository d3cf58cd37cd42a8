#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Pacing: can loadcheck keep an open-model schedule of RATE (default 20,000)
# req/s against nginx for DURATION (default 10s) on one core? Reports the
# achieved rate (requests ÷ duration), its ratio to the target, the send-lag
# p50 and p99 and the dropped sends, per round and as a mean.
#
#   LOADCHECK=target/release/loadcheck RATE=20000 DURATION=10s ROUNDS=2 bench/pacing.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE=${RATE:-20000}

bench_init pacing
need_loadcheck pacing.sh
raise_nofile 65536
port=${PORT:-$(free_port)}
secs=$(dur_secs "$DURATION")
plan=$WORK/pacing.toml
write_lc_plan "$plan" "$port" "executor = \"constant-arrival-rate\"
rate = $RATE
duration = \"$DURATION\""

# pacing_run ROUND: one run of the plan, its figures into results.tsv.
pacing_run() {
    local round=$1 label rc=0 run requests
    label=pacing-r$round
    lc_run "$label" "$plan" "$WORK/$label" || rc=$?
    run=$WORK/$label/run.json
    requests=$(json_get "$run" stats.total.requests)
    if ((rc > 1)) || [[ -z $requests ]]; then
        fail loadcheck "$round" "$rc" "$label"
        return 0
    fi
    record loadcheck "$round" achieved "$(awk -v r="$requests" -v s="$secs" 'BEGIN {printf "%.1f", r / s}')"
    record loadcheck "$round" send_lag_p50 "$(json_get "$run" generator.send_lag_ms.p50)"
    record loadcheck "$round" send_lag_p99 "$(json_get "$run" generator.send_lag_ms.p99)"
    record loadcheck "$round" dropped "$(json_get "$run" generator.dropped_sends)"
    record loadcheck "$round" p99 "$(json_get "$run" stats.total.latency_ms.p99)"
    _record_rss loadcheck "$round"
}

nginx_start "$port"
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round/$ROUNDS: loadcheck $RATE req/s for $DURATION"
    pacing_run "$round"
    retry_if_noisy loadcheck "$round" pacing_run "$round"
    cooldown
done
nginx_stop

echo
echo "### Pacing: loadcheck open model at $RATE req/s for $DURATION against nginx"
echo
print_env loadcheck
echo
python3 - "$WORK/results.tsv" "$RATE" <<'PY'
import collections, statistics, sys
rate = float(sys.argv[2])
rows = collections.defaultdict(dict)
failures = []
for line in open(sys.argv[1]):
    _, rnd, metric, value = line.rstrip("\n").split("\t", 3)
    if metric == "failed":
        failures.append(f"- round {rnd}: {value}")
    else:
        rows[rnd][metric] = value

def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None

def f(x, nd=1):
    return "n/a" if x is None else f"{x:,.{nd}f}"

cols = [("achieved", "achieved req/s", 0), ("send_lag_p50", "send lag p50 (ms)", 3), ("send_lag_p99", "send lag p99 (ms)", 2),
        ("dropped", "dropped sends", 0), ("p99", "latency p99 (ms)", 2), ("rss_mb", "peak RSS (MiB)", 1),
        ("gen_cpu", "loadcheck CPU %", 0), ("server_cpu", "server CPU %", 0),
        ("other_cpu", "other CPU % (noise)", 0)]
print("| round | target req/s | " + " | ".join(c[1] for c in cols) + " | achieved ÷ target |")
print("|---" + "|---:" * (len(cols) + 2) + "|")
for rnd in sorted(rows, key=int):
    r = rows[rnd]
    a = num(r.get("achieved"))
    print(f"| {rnd} | {rate:,.0f} | " + " | ".join(f(num(r.get(k)), nd) for k, _, nd in cols)
          + f" | {'n/a' if a is None else f'{a / rate:.3f}'} |")
if rows:
    means = {}
    for k, _, _ in cols:
        v = [num(r.get(k)) for r in rows.values() if num(r.get(k)) is not None]
        means[k] = statistics.fmean(v) if v else None
    a = means["achieved"]
    print(f"| mean | {rate:,.0f} | " + " | ".join(f(means[k], nd) for k, _, nd in cols)
          + f" | {'n/a' if a is None else f'{a / rate:.3f}'} |")
if failures:
    print("\nFailed runs:\n" + "\n".join(failures))
PY
echo
echo "Achieved = .stats.total.requests ÷ $secs s. Raw results and logs: $WORK"
