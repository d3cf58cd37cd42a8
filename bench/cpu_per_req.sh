#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# CPU per request: every generator at the same fixed open-model rate (RATE,
# default 20,000 req/s) against nginx for DURATION, each alone on one CPU.
# Reports the generator's CPU time (user + system, from /usr/bin/time) over
# the requests it completed, in µs per request, with loadcheck ÷ each peer.
# At a fixed rate the work is the same for every tool, so this is the cost of
# a request, not a race.
#
#   LOADCHECK=target/release/loadcheck DURATION=10s ROUNDS=2 bench/cpu_per_req.sh
#   MODE=tls bench/cpu_per_req.sh    # HTTPS, HTTP/1.1
#   MODE=h2 bench/cpu_per_req.sh     # HTTPS, HTTP/2 (ALPN h2)
#
# oha -q RATE -c 50; h2load -c 50 --rps RATE/50 (--h1, or -m 1 on HTTP/2);
# k6 constant-arrival-rate (50 VUs preallocated, K6_MAX_VUS at most);
# loadcheck executor = "constant-arrival-rate", rate = RATE. wrk and hey have
# no fixed-rate mode and are not run. CONNS (default 50), RATE and TOOLS
# (default "oha h2load k6 loadcheck") can be set. On h2 loadcheck keeps its own
# open-model stream count unless LC_H2_STREAMS sets [tls] h2_streams. A tool
# that did not keep the rate is listed under the table: its figure is over
# fewer requests. LOADCHECK_BASE=path and "base" in TOOLS add another
# loadcheck build to the rotation (an older commit, say), so that two builds
# are compared round by round on the same machine state.
#
#   LOADCHECK_BASE=/tmp/old/loadcheck TOOLS="oha base loadcheck" ROUNDS=5 bench/cpu_per_req.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE=${RATE:-20000}
CONNS=${CONNS:-50}
K6_MAX_VUS=${K6_MAX_VUS:-500}
read -r -a tools <<<"${TOOLS:-oha h2load k6 loadcheck}"
case ${MODE:-plain} in
    plain) NGINX_MODE=plain ;;
    tls) NGINX_MODE=tls ;;
    h2) NGINX_MODE=tls-h2 ;;
    *) die "MODE must be plain, tls or h2, got '$MODE'" ;;
esac
H2_STREAMS=1   # one request in flight per connection, for every tool

bench_init "cpu-per-req-${MODE:-plain}"
[[ $RATE =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive integer, got '$RATE'"
[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "CONNS must be a positive integer, got '$CONNS'"
raise_nofile 65536
secs=$(dur_secs "$DURATION")
url=""   # set once nginx runs

# _cpu_record TOOL ROUND REQUESTS ERRORS: µs of CPU per request, the achieved
# rate, peak RSS and the CPU figures of the run just made.
_cpu_record() {
    local tool=$1 round=$2 requests=$3 errors=$4 achieved
    if [[ -z $GEN_CPU_SECS ]] || [[ ! $requests =~ ^[0-9]+$ ]] || ((requests == 0)); then
        record "$tool" "$round" failed "no CPU time or no requests completed (requests: '${requests}')"
        return 0
    fi
    record "$tool" "$round" cpu_us "$(awk -v c="$GEN_CPU_SECS" -v n="$requests" 'BEGIN {printf "%.3f", c * 1e6 / n}')"
    achieved=$(awk -v n="$requests" -v s="$secs" 'BEGIN {printf "%.1f", n / s}')
    record "$tool" "$round" achieved "$achieved"
    record "$tool" "$round" requests "$requests"
    record "$tool" "$round" cpu_s "$GEN_CPU_SECS"
    [[ -n $errors ]] && record "$tool" "$round" errors "$errors"
    if awk -v a="$achieved" -v r="$RATE" 'BEGIN {exit !(a < 0.95 * r)}'; then
        record "$tool" "$round" note "round $round: $achieved req/s, under 95% of $RATE"
    fi
    _record_rss "$tool" "$round"
}

cpu_oha() {
    local round=$1 label rc=0 json flags requests
    label=oha-cpu-$(run_tag)r$round
    json=$WORK/$label.json
    mapfile -t flags < <(oha_mode_flags)
    run_measured "$label" "$(_limit)" oha -c "$CONNS" -q "$RATE" -z "$DURATION" --no-tui \
        --worker-threads 1 "${flags[@]}" --output-format json -o "$json" "$url" || rc=$?
    requests=$(python3 - "$json" <<'PY' 2>/dev/null || true
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(d.get("statusCodeDistribution", {}).values()))
PY
)
    if ((rc != 0)) || [[ -z $requests ]]; then
        fail oha "$round" "$rc" "$label"
        return 0
    fi
    _cpu_record oha "$round" "$requests" "$(_oha_errors "$json")"
}

cpu_h2load() {
    local round=$1 label rc=0 out flags parsed rps
    label=h2load-cpu-$(run_tag)r$round
    mapfile -t flags < <(h2load_mode_flags)
    # --rps is per client: RATE ÷ CONNS each.
    rps=$(awk -v r="$RATE" -v c="$CONNS" 'BEGIN {print r / c}')
    run_measured "$label" "$(_limit)" h2load -c "$CONNS" -t 1 "${flags[@]}" --rps "$rps" \
        -D "$secs" "$url" || rc=$?
    out=$WORK/$label.out
    parsed=$(_h2load_parse "$out")
    if ((rc != 0)) || [[ -z $parsed ]]; then
        fail h2load "$round" "$rc" "$label"
        return 0
    fi
    _cpu_record h2load "$round" "$(cut -d' ' -f2 <<<"$parsed")" "$(cut -d' ' -f3 <<<"$parsed")"
}

cpu_k6() {
    local round=$1 label rc=0 script json requests
    label=k6-cpu-$(run_tag)r$round
    script=$WORK/k6-cpu-$(run_tag)$RATE.js
    json=$WORK/$label.summary.json
    cat >"$script" <<JS
import http from 'k6/http';

export const options = {
  discardResponseBodies: true,
$(k6_tls_option)
  scenarios: {
    open: {
      executor: 'constant-arrival-rate', rate: $RATE, timeUnit: '1s', duration: '$DURATION',
      preAllocatedVUs: $CONNS, maxVUs: $K6_MAX_VUS, gracefulStop: '5s',
    },
  },
};

export default function () {
  http.get('$url');
}
JS
    K6_NO_USAGE_REPORT=true run_measured "$label" "$(_limit)" "$K6" run --quiet --no-color \
        --no-usage-report --summary-export "$json" "$script" || rc=$?
    requests=$(json_get "$json" metrics.http_reqs.count)
    if ((rc != 0)) || [[ -z $requests ]]; then
        fail k6 "$round" "$rc" "$label"
        return 0
    fi
    requests=${requests%.*}
    _cpu_record k6 "$round" "$requests" "$(json_get "$json" metrics.http_req_failed.passes)"
}

# _cpu_lc TOOL BINARY ROUND: one loadcheck build's run, recorded as TOOL.
_cpu_lc() {
    local tool=$1 binary=$2 round=$3 label rc=0 plan outdir run requests
    label=$tool-cpu-$(run_tag)r$round
    plan=$WORK/loadcheck-cpu-$(run_tag)$RATE.toml
    outdir=$WORK/$label
    write_lc_plan "$plan" "$port" "executor = \"constant-arrival-rate\"
rate = $RATE
duration = \"$DURATION\"" "" / "${LC_H2_STREAMS:-}"
    run_measured "$label" "$(_limit)" "$binary" run "$plan" --out "$outdir" \
        --threads "$LC_THREADS" || rc=$?
    run=$outdir/run.json
    requests=$(json_get "$run" stats.total.requests)
    # Exit 1 means a verdict failed; the measurement itself is still good.
    if ((rc > 1)) || [[ -z $requests ]]; then
        fail "$tool" "$round" "$rc" "$label"
        return 0
    fi
    _cpu_record "$tool" "$round" "$requests" "$(_lc_errors "$run")"
}

cpu_loadcheck() { _cpu_lc loadcheck "$LOADCHECK" "$1"; }
cpu_base() { _cpu_lc base "$LOADCHECK_BASE" "$1"; }

port=${PORT:-$(free_port)}
nginx_start "$port"
url="$(bench_url "$port")/"
for ((round = 1; round <= ROUNDS; round++)); do
    for tool in "${tools[@]}"; do
        have "$tool" || continue
        mode_supports "$tool" || continue
        log "round $round/$ROUNDS: $tool at $RATE req/s, $NGINX_MODE, $DURATION"
        "cpu_$tool" "$round"
        retry_if_noisy "$tool" "$round" "cpu_$tool" "$round"
        cooldown
    done
done
nginx_stop

echo
echo "### CPU per request at $RATE req/s (open model), $(mode_desc), GET / on nginx (body \"hello\")"
echo
print_env "${tools[@]}"
echo
print_table loadcheck cpu_us:"CPU µs per request":low achieved:"achieved req/s":high:noratio \
    rss_mb:"peak RSS (MiB)":low gen_cpu:"generator CPU %":low:noratio \
    server_cpu:"server CPU %":low:noratio other_cpu:"other CPU %":low:noratio
echo
echo "CPU µs per request = (user + system seconds from /usr/bin/time) × 10⁶ ÷ requests"
echo "completed; achieved = requests ÷ $secs s. Errors (failed and non-2xx), summed over rounds:"
awk -F'\t' '$3 == "errors" {s[$1] += $4} END {for (t in s) printf "- %s: %d\n", t, s[t]}' \
    "$WORK/results.tsv" | sort
echo
echo "Raw results and logs: $WORK"
