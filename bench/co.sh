#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Coordinated omission: a constant arrival rate (RATE, default 1,000 req/s) for
# DURATION (default 30s) against a server that stalls every request for
# STALL_FOR (1s) in each STALL_EVERY (10s) window. Compares the p95/p99 that
# k6, oha (with and without --latency-correction) and loadcheck report with
# the analytic truth of the schedule.
#
#   LOADCHECK=target/release/loadcheck ROUNDS=2 bench/co.sh
#
# The server is `loadcheck demo serve --stall-every ... --stall-for ...`.
# CO_SERVER=auto (default) falls back to a small Python stand-in with the
# same behaviour when that subcommand is not there; CO_SERVER=demo insists on
# loadcheck's, CO_SERVER=standin always uses the stand-in.
# TOOLS (default "k6 oha oha-lc loadcheck") can be set. OHA_CONNS (default 50,
# oha's own default) is oha's connection count. CO_PATH (default the demo's
# thumbnail route, which answers at once apart from the stall) is the path.
set -euo pipefail
DURATION=${DURATION:-30s}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NGINX_MODE=plain   # its own server, not nginx: plain HTTP/1.1 whatever the environment says

RATE=${RATE:-1000}
STALL_EVERY=${STALL_EVERY:-10s}
STALL_FOR=${STALL_FOR:-1s}
CO_SERVER=${CO_SERVER:-auto}
OHA_CONNS=${OHA_CONNS:-50}
CO_PATH=${CO_PATH:-/v1/images/1/thumb/}
K6_VUS=${K6_VUS:-$((RATE * 3 / 2))}   # enough to cover a whole stall in flight
read -r -a tools <<<"${TOOLS:-k6 oha oha-lc loadcheck}"
RUN_GRACE=${RUN_GRACE:-90}
SERVER_PID=""
SERVER_KIND=""

# The analytic truth: uniform arrivals every 1/RATE s; a request that arrives
# inside a stall is answered when the stall ends, any other at once. Stalls
# start at the beginning of each window (phase 0); the range over all phases
# is printed too, since the server's windows are not aligned with a run's start.
truth() {
    python3 - "$RATE" "$(dur_secs "$DURATION")" "$(dur_secs "$STALL_EVERY")" \
        "$(dur_secs "$STALL_FOR")" <<'PY'
import math, sys
rate, dur, every, stall = (float(a) for a in sys.argv[1:5])
n = int(round(rate * dur))

def latencies(phase):
    out = []
    for i in range(n):
        t = i / rate
        off = (t - phase) % every
        out.append(stall - off if off < stall else 0.0)
    out.sort()
    return out

def pct(sorted_v, p):   # nearest rank, as HDR histograms and k6 report it
    k = max(0, math.ceil(p / 100 * len(sorted_v)) - 1)
    return sorted_v[k] * 1000

base = latencies(0.0)
print(f"p50\t{pct(base, 50):.0f}\np95\t{pct(base, 95):.0f}\np99\t{pct(base, 99):.0f}\np99.9\t{pct(base, 99.9):.0f}")
steps = 40
for p in (95, 99):
    vals = [pct(latencies(every * k / steps), p) for k in range(steps)]
    print(f"p{p}_range\t{min(vals):.0f}..{max(vals):.0f}")
PY
}

# A stand-in for `loadcheck demo serve`: HTTP/1.1 keep-alive, "hello\n" on any path, and
# every request that arrives in the first STALL_FOR of each STALL_EVERY window
# (counted from the server's start) is held until that stall ends.
write_standin() {
    cat >"$WORK/standin.py" <<'PY'
import asyncio, sys, time

port, every, stall = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic()
RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
        b"x-app-version: v1\r\n\r\nhello\n")

def stall_left(now):
    off = (now - t0) % every
    return stall - off if off < stall else 0.0

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            wait = stall_left(time.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(RESP)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
}

server_start() {
    local port=$1
    if [[ $CO_SERVER != standin && $HAVE_LOADCHECK == 1 ]]; then
        taskset -c "$SERVER_CPU" "$LOADCHECK" demo serve --listen "127.0.0.1:$port" \
            --app-version v1 --stall-every "$STALL_EVERY" --stall-for "$STALL_FOR" \
            >"$WORK/server.out" 2>"$WORK/server.err" &
        SERVER_PID=$!
        SERVER_ROOT_PID=$SERVER_PID
        EXTRA_PIDS+=("$SERVER_PID")
        if wait_http "http://127.0.0.1:$port/" 50; then
            SERVER_KIND="loadcheck demo serve"
            SERVER_DESC="$SERVER_KIND on CPU $SERVER_CPU"
            return 0
        fi
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        log "loadcheck demo serve did not come up: $(tail -n 2 "$WORK/server.err" | tr '\n' ' ')"
        [[ $CO_SERVER == demo ]] && die "CO_SERVER=demo and loadcheck demo serve is not available"
    elif [[ $CO_SERVER == demo ]]; then
        die "CO_SERVER=demo needs loadcheck at '$LOADCHECK'"
    fi
    log "using the Python stand-in server (same stall schedule)"
    write_standin
    taskset -c "$SERVER_CPU" python3 "$WORK/standin.py" "$port" "$(dur_secs "$STALL_EVERY")" \
        "$(dur_secs "$STALL_FOR")" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    SERVER_ROOT_PID=$SERVER_PID
    EXTRA_PIDS+=("$SERVER_PID")
    wait_http "http://127.0.0.1:$port/" 100 || die "stand-in server did not come up"
    SERVER_KIND="Python stand-in (bench/co.sh)"
    SERVER_DESC="$SERVER_KIND on CPU $SERVER_CPU"
}

server_stop() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

co_k6() {
    local port=$1 round=$2 label=k6-r$2 rc=0 script json
    script=$WORK/k6-co.js
    json=$WORK/$label.summary.json
    cat >"$script" <<JS
import http from 'k6/http';

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  scenarios: {
    co: {
      executor: 'constant-arrival-rate',
      rate: $RATE,
      timeUnit: '1s',
      duration: '$DURATION',
      preAllocatedVUs: $K6_VUS,
      maxVUs: $((K6_VUS * 2)),
    },
  },
};

export default function () {
  http.get('http://127.0.0.1:$port$CO_PATH');
}
JS
    K6_NO_USAGE_REPORT=true run_measured "$label" "$(_limit)" "$K6" run --quiet --no-color \
        --no-usage-report --summary-export "$json" "$script" || rc=$?
    if ((rc != 0)) || [[ -z $(json_get "$json" "metrics.http_req_duration.p(99)") ]]; then
        fail k6 "$round" "$rc" "$label"
        return 0
    fi
    record k6 "$round" requests "$(json_get "$json" metrics.http_reqs.count)"
    record k6 "$round" p95 "$(json_get "$json" "metrics.http_req_duration.p(95)")"
    record k6 "$round" p99 "$(json_get "$json" "metrics.http_req_duration.p(99)")"
    local dropped
    dropped=$(json_get "$json" metrics.dropped_iterations.count)
    record k6 "$round" dropped "${dropped:-0}"
    _record_rss k6 "$round"
}

# co_oha PORT ROUND [--latency-correction]
co_oha() {
    local port=$1 round=$2 tool=oha rc=0 json label
    shift 2
    [[ ${1:-} == --latency-correction ]] && tool=oha-lc
    label=$tool-r$round
    json=$WORK/$label.json
    run_measured "$label" "$(_limit)" oha -c "$OHA_CONNS" -q "$RATE" -z "$DURATION" --no-tui \
        --worker-threads 1 --output-format json -o "$json" "$@" \
        "http://127.0.0.1:$port$CO_PATH" || rc=$?
    if ((rc != 0)) || [[ -z $(json_get "$json" metrics.latency_ms.p99) ]]; then
        fail "$tool" "$round" "$rc" "$label"
        return 0
    fi
    record "$tool" "$round" requests "$(python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(d.get("statusCodeDistribution", {}).values()))
PY
)"
    record "$tool" "$round" p95 "$(json_get "$json" metrics.latency_ms.p95)"
    record "$tool" "$round" p99 "$(json_get "$json" metrics.latency_ms.p99)"
    _record_rss "$tool" "$round"
}

co_oha_lc() { co_oha "$1" "$2" --latency-correction; }

co_loadcheck() {
    local port=$1 round=$2 label=loadcheck-r$2 rc=0 plan outdir run
    plan=$WORK/loadcheck-co.toml
    outdir=$WORK/$label
    run=$outdir/run.json
    write_lc_plan "$plan" "$port" "executor = \"constant-arrival-rate\"
rate = $RATE
duration = \"$DURATION\"" "" "$CO_PATH"
    run_measured "$label" "$(_limit)" "$LOADCHECK" run "$plan" --out "$outdir" \
        --threads "$LC_THREADS" || rc=$?
    if ((rc > 1)) || [[ -z $(json_get "$run" stats.total.latency_ms.p99) ]]; then
        fail loadcheck "$round" "$rc" "$label"
        return 0
    fi
    record loadcheck "$round" requests "$(json_get "$run" stats.total.requests)"
    record loadcheck "$round" p95 "$(json_get "$run" stats.total.latency_ms.p95)"
    record loadcheck "$round" p99 "$(json_get "$run" stats.total.latency_ms.p99)"
    record loadcheck "$round" dropped "$(json_get "$run" generator.dropped_sends)"
    _record_rss loadcheck "$round"
}

co_table() {
    python3 - "$WORK/results.tsv" "$WORK/truth.tsv" <<'PY'
import collections, statistics, sys
vals = collections.defaultdict(list)
tools, failures, noisy = [], [], []
for line in open(sys.argv[1]):
    tool, rnd, metric, value = line.rstrip("\n").split("\t", 3)
    if tool not in tools:
        tools.append(tool)
    if metric == "failed":
        failures.append(f"- {tool}, round {rnd}: {value}")
        continue
    try:
        vals[(tool, metric)].append(float(value))
    except ValueError:
        pass
    if metric == "other_cpu" and float(value) > 10:
        noisy.append(f"{tool} round {rnd} ({float(value):.0f}% of a core)")
truth = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[2]))
t95, t99 = float(truth["p95"]), float(truth["p99"])

def m(tool, metric):
    v = vals.get((tool, metric))
    return statistics.fmean(v) if v else None

def f(x, nd=0):
    return "n/a" if x is None else f"{x:,.{nd}f}"

def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}×"

names = {"oha": "oha (no correction)", "oha-lc": "oha --latency-correction"}
print("| tool | requests | p95 (ms) | p99 (ms) | p95 ÷ truth | p99 ÷ truth | dropped | peak RSS (MiB) | loadcheck p99 ÷ tool p99 | loadcheck RSS ÷ tool RSS |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| analytic truth | | {t95:.0f} | {t99:.0f} | 1.00× | 1.00× | | | | |")
for tool in tools:
    p95, p99 = m(tool, "p95"), m(tool, "p99")
    dropped = m(tool, "dropped")
    lc_p99, lc_rss = m("loadcheck", "p99"), m("loadcheck", "rss_mb")
    print("| " + " | ".join([
        names.get(tool, tool), f(m(tool, "requests")), f(p95, 1), f(p99, 1),
        ratio(p95, t95), ratio(p99, t99),
        "n/a" if dropped is None else f(dropped), f(m(tool, "rss_mb"), 1),
        "—" if tool == "loadcheck" else ratio(lc_p99, p99),
        "—" if tool == "loadcheck" else ratio(lc_rss, m(tool, "rss_mb")),
    ]) + " |")
print(f"\nMeans over rounds. Truth range over stall phases: p95 {truth['p95_range']} ms, "
      f"p99 {truth['p99_range']} ms. oha reports no dropped count.")
if noisy:
    print("\nNoisy runs (other work on the machine above 10% of a core): " + ", ".join(noisy)
          + ". Rerun on an idle machine for numbers to keep.")
if failures:
    print("\nFailed runs:\n" + "\n".join(failures))
PY
}

bench_init co
raise_nofile 65536
truth >"$WORK/truth.tsv"
port=${PORT:-$(free_port)}
server_start "$port"
log "server: $SERVER_KIND on 127.0.0.1:$port (cpu $SERVER_CPU)"
for ((round = 1; round <= ROUNDS; round++)); do
    for tool in "${tools[@]}"; do
        case $tool in
            oha-lc) have oha || continue ;;
            *) have "$tool" || continue ;;
        esac
        log "round $round/$ROUNDS: $tool, $RATE req/s for $DURATION"
        "co_${tool//-/_}" "$port" "$round"
        retry_if_noisy "$tool" "$round" "co_${tool//-/_}" "$port" "$round"
        cooldown
    done
done
server_stop

echo
echo "### Coordinated omission: $RATE req/s for $DURATION, server stalls $STALL_FOR every $STALL_EVERY"
echo
print_env k6 oha loadcheck
echo "- GET $CO_PATH; k6 preAllocatedVUs $K6_VUS, maxVUs $((K6_VUS * 2)); oha -c $OHA_CONNS --worker-threads 1"
echo
co_table
echo
echo "Raw results and logs: $WORK"
