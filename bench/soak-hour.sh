#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Soak (issue 17): an hour of an open-model plan at RATE (default 5,000) req/s
# over 10 endpoints of the demo service, with a rolling deploy, two probes and
# the sink receiving the service's webhook deliveries. Samples the loadcheck
# process's VmRSS and its open file descriptors every SAMPLE_EVERY (60) s.
#
#   LOADCHECK=/work/target-rel/release/loadcheck bash bench/soak-hour.sh
#   DURATION=3m SAMPLE_EVERY=20 bash bench/soak-hour.sh      # a quick check
#
# What runs, all on 127.0.0.1:
# - HAProxy (1 thread, CPU $SERVER_CPU) round-robins two `loadcheck demo
#   serve` backends (v1, CPU $SERVER_CPU), health-checked every 100 ms. Each
#   backend delivers every accepted webhook, signed (Standard Webhooks), to
#   the run's sink. HAProxy's Prometheus exporter is on a second port.
# - `loadcheck run` (CPU $GEN_CPU, --threads $LC_THREADS) runs the plan:
#   scenario "reads", RATE - WEBHOOK_RATE req/s spread evenly over 9 GET
#   endpoints (searches, thumbnails, /health), and scenario "webhooks",
#   WEBHOOK_RATE (default 2) req/s of POST /api/v1/webhooks; both
#   constant-arrival-rate for DURATION. "reads" has max_in_flight
#   MAX_IN_FLIGHT (500, 100 ms of load): when the server stalls, sends are
#   dropped and counted instead of opening thousands of connections. (Without
#   it, the default is rate × timeout = 25,000; on a machine shared with
#   builds, one CPU-starved second of HAProxy then turned into a pile-up of
#   7,000 connections that it never worked off.) The sink ([sink], correlate)
#   matches every delivery with its submission.
# - [rollout]: after the head (HEAD_S, default 60 s, or DURATION / 6 when
#   that is less, at least 30 s)
#   loadcheck runs the trigger command, a graceful rolling deploy to v2
#   (drain a backend in HAProxy, SIGTERM it, start v2 on its port, re-enable
#   it, wait until UP, ROLL_PAUSE (30) s with both versions serving; then the
#   other). x-app-version counts the versions. The tail runs to the end.
# - [[probe]]s: /health through HAProxy every 1 s, and HAProxy's
#   haproxy_backend_active_servers (2, 1 during each swap) every 1 s.
#
# The check: the RSS at the end of the load (sampled 2 s before it ends) may
# exceed the RSS at REF_AT by at most what the outcome log documents
# (2 KB per second of run per worker, docs/rollout.md "Availability": 2,000
# bytes × seconds between the two samples × LC_THREADS) plus SLACK_BYTES
# (5,000,000). REF_AT defaults to 60 s after the tail began (HEAD_S + 2 ×
# ROLL_PAUSE + 60): each phase's statistics per scenario × endpoint are
# made when the phase begins (here 10 endpoints × 2 histograms of 139 KB,
# 2.8 MB a phase, three phases), a cost that does not grow with the run;
# the rollout comes early so that the hour after it is all tail. File
# descriptors, from REF_AT to the end of the load, in two parts:
# - every fd but the connections to the target (files, pipes, event fds, the
#   sink's listener and its connections from the two dispatchers, the
#   metrics probe's connection) must stay within FD_SLACK (8) of each other:
#   only a dispatcher or a probe reconnecting, or the rollout command's
#   pipes, move them, by one to three;
# - the connections to the target are as many as the requests in flight
#   needed lately (Little's law: 5,000/s × a few ms, up to MAX_IN_FLIGHT
#   after any pause of the machine), and HAProxy closes those idle for 30 s,
#   so they wander by hundreds and max − min says nothing. A leaked one
#   would stay in CLOSE_WAIT once HAProxy closed it: at most FD_SLACK may be
#   found in CLOSE_WAIT at two samples in a row (same socket inode).
#
# The sink's ledger keeps one entry per webhook id for the whole run by
# design (docs/sink.md: at most 160 bytes per id), which is why webhooks are
# a trickle here: 2/s is 7,200 ids an hour, at most 1.2 MB of the slack.
#
# Exit 0 when both checks hold, 1 when one does not, 2 when no check could be
# made.
set -euo pipefail
DURATION=${DURATION:-1h}
# shellcheck source=lib.sh disable=SC1091  # followed with shellcheck -x
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE=${RATE:-5000}
WEBHOOK_RATE=${WEBHOOK_RATE:-2}
SAMPLE_EVERY=${SAMPLE_EVERY:-60}
REF_AT=${REF_AT:-}
SLACK_BYTES=${SLACK_BYTES:-5000000}
OUTCOME_BYTES_PER_S=2000   # one block of 1,000 u16 per second per worker
FD_SLACK=${FD_SLACK:-8}
ROLL_PAUSE=${ROLL_PAUSE:-30}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-500}
HEAD_S=${HEAD_S:-}
# shellcheck disable=SC2034  # read by lib.sh
ROUNDS=1

for v in RATE WEBHOOK_RATE SAMPLE_EVERY SLACK_BYTES FD_SLACK ROLL_PAUSE MAX_IN_FLIGHT LC_THREADS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((WEBHOOK_RATE >= 1 && RATE > WEBHOOK_RATE)) || die "need RATE > WEBHOOK_RATE >= 1"
((SAMPLE_EVERY >= 1)) || die "SAMPLE_EVERY must be at least 1"

bench_init soak-hour
need_loadcheck soak-hour.sh
for tool in haproxy socat curl; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y $tool)"
done
raise_nofile 65536
nofile=$(ulimit -n)
[[ $nofile == unlimited ]] && nofile=65536
# HAProxy needs about two fds a connection.
hap_maxconn=$(((nofile - 200) / 2))
((hap_maxconn >= 1000)) || die "the fd limit ($nofile) is too low: raise ulimit -n"

secs=$(dur_secs "$DURATION" | cut -d. -f1)
((secs >= 90)) || die "DURATION must be at least 90s, got $DURATION"
if [[ -z $HEAD_S ]]; then
    HEAD_S=$((secs / 6 < 60 ? (secs / 6 > 30 ? secs / 6 : 30) : 60))
fi
[[ $HEAD_S =~ ^[0-9]+$ ]] || die "HEAD_S must be a whole number, got '$HEAD_S'"
if [[ -z $REF_AT ]]; then
    REF_AT=$((HEAD_S + 2 * ROLL_PAUSE + 60))
fi
[[ $REF_AT =~ ^[0-9]+$ ]] || die "REF_AT must be a whole number, got '$REF_AT'"
((REF_AT < secs - 2)) || die "REF_AT ($REF_AT) must be before the end of the load"

HAPROXY_PID=""
# shellcheck disable=SC2317  # run by the EXIT trap
soak_cleanup() {
    local f pid
    bench_cleanup
    if [[ -n $HAPROXY_PID ]]; then
        kill -TERM "$HAPROXY_PID" 2>/dev/null || true
    fi
    # The backends: the ones in the pid files (the deploy replaces them), and
    # only while they are still a `demo serve` process.
    for f in "$WORK"/s1.pid "$WORK"/s2.pid; do
        [[ -s $f ]] || continue
        pid=$(<"$f")
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ' demo serve '; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    return 0
}
trap soak_cleanup EXIT

fe=$(free_port)
prom=$(free_port)
sink_port=$(free_port)
free_port >"$WORK/s1.port"
free_port >"$WORK/s2.port"
SOAK_WEBHOOK_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
export SOAK_WEBHOOK_SECRET

# ---- the backends and their rolling deploy (run by loadcheck's trigger) ----
# lb.sh: settings baked in, then helpers shared by start-up and deploy.sh.
{
    printf 'D=%q\nSOCK=%q\nBIN=%q\nCPU=%q\nSINK_URL=%q\nROLL_PAUSE=%q\n' \
        "$WORK" "$WORK/admin.sock" "$LOADCHECK" "$SERVER_CPU" \
        "http://127.0.0.1:$sink_port/hooks" "$ROLL_PAUSE"
    cat <<'SH'
set -eu
hap() { echo "$1" | socat stdio "unix-connect:$SOCK" 2>/dev/null; }
now_ms() { date +%s%3N; }
# A server's field in `show stat` (CSV; column 5 is scur, 18 is status).
stat_of() { hap "show stat" | awk -F, -v s="$1" -v c="$2" '$1 == "app" && $2 == s { print $c }'; }
# Waits until server $1's status starts with $2, for at most $3 ms.
wait_status() {
    deadline=$(($(now_ms) + $3))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        case "$(stat_of "$1" 18)" in "$2"*) return 0 ;; esac
        sleep 0.02
    done
    echo "timed out waiting for $1 to be $2 (it is $(stat_of "$1" 18))" >&2
    return 1
}
# Waits until server $1 has no request in flight (at most 5 s).
wait_idle() {
    deadline=$(($(now_ms) + 5000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        [ "$(stat_of "$1" 5)" = "0" ] && return 0
        sleep 0.02
    done
    echo "timed out waiting for $1 to drain" >&2
    return 1
}
# Waits until process $1 has exited (at most 15 s: the demo drains for 10).
wait_exit() {
    deadline=$(($(now_ms) + 15000))
    while kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; do
        [ "$(now_ms)" -lt "$deadline" ] || { echo "pid $1 did not exit" >&2; return 1; }
        sleep 0.05
    done
}
# Starts backend $1 as version $2 on its port, in its own session, and waits
# until it answers.
start_backend() {
    port=$(cat "$D/$1.port")
    setsid taskset -c "$CPU" "$BIN" demo serve --listen "127.0.0.1:$port" --app-version "$2" \
        --deliver-to "$SINK_URL" --webhook-secret-env SOAK_WEBHOOK_SECRET \
        </dev/null >>"$D/$1.log" 2>&1 &
    echo $! >"$D/$1.pid"
    deadline=$(($(now_ms) + 5000))
    until curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null; do
        [ "$(now_ms)" -lt "$deadline" ] || { echo "$1 did not come up on $port" >&2; return 1; }
        sleep 0.05
    done
}
SH
} >"$WORK/lb.sh"
cat >"$WORK/deploy.sh" <<'SH'
#!/bin/sh
# The rollout: a graceful rolling deploy of both backends to v2.
. "$(dirname "$0")/lb.sh"
for s in s1 s2; do
    hap "set server app/$s state drain" >/dev/null
    wait_idle "$s"
    hap "set server app/$s state maint" >/dev/null
    pid=$(cat "$D/$s.pid")
    kill -TERM "$pid"
    wait_exit "$pid"
    start_backend "$s" v2
    hap "set server app/$s state ready" >/dev/null
    wait_status "$s" UP 5000
    echo "$s is v2 (pid $(cat "$D/$s.pid")) at $(date +%T)"
    sleep "$ROLL_PAUSE"
done
SH
chmod +x "$WORK/deploy.sh"

(
    # shellcheck disable=SC1091
    . "$WORK/lb.sh"
    start_backend s1 v1
    start_backend s2 v1
) || die "the demo backends did not start (logs: $WORK/s1.log, $WORK/s2.log)"

cat >"$WORK/haproxy.cfg" <<CFG
global
    stats socket $WORK/admin.sock mode 600 level admin
    maxconn $hap_maxconn
    nbthread 1

defaults
    mode http
    timeout connect 500ms
    timeout client 30s
    timeout http-keep-alive 30s
    timeout server 10s
    retries 0
    option http-keep-alive

frontend fe
    bind 127.0.0.1:$fe
    default_backend app

frontend prom
    bind 127.0.0.1:$prom
    http-request use-service prometheus-exporter if { path /metrics }

backend app
    balance roundrobin
    option httpchk GET /health
    default-server inter 100ms fall 2 rise 2
    server s1 127.0.0.1:$(<"$WORK/s1.port") check
    server s2 127.0.0.1:$(<"$WORK/s2.port") check
CFG
taskset -c "$SERVER_CPU" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
(
    # shellcheck disable=SC1091
    . "$WORK/lb.sh"
    wait_status s1 UP 10000 && wait_status s2 UP 10000
) || die "HAProxy did not see both backends UP (log: $WORK/haproxy.log)"
wait_http "http://127.0.0.1:$fe/health" 50 || die "HAProxy does not answer on $fe"
# shellcheck disable=SC2034  # read by lib.sh (print_env)
SERVER_DESC="HAProxy $(haproxy -v | awk 'NR == 1 {print $3}') (1 thread) in front of 2 × \`loadcheck demo serve\`, all on CPU $SERVER_CPU"
log "HAProxy $HAPROXY_PID on 127.0.0.1:$fe, backends s1 $(<"$WORK/s1.pid") and s2 $(<"$WORK/s2.pid"), sink on $sink_port"

# ---- the plan ---------------------------------------------------------------
reads=$((RATE - WEBHOOK_RATE))
plan=$WORK/soak-hour.toml
cat >"$plan" <<TOML
# bench/soak-hour.sh: $RATE req/s over 10 endpoints for $DURATION, a rolling
# deploy after ${HEAD_S}s, two probes, webhook deliveries into the sink.
name = "soak-hour"
target = "http://127.0.0.1:$fe"
timeout = "5s"

[vars]
word = ["cat", "dog", "bird", "tree", "river", "mountain", "city", "ocean"]

[[scenario]]
name = "reads"
executor = "constant-arrival-rate"
rate = $reads
duration = "${secs}s"
max_in_flight = $MAX_IN_FLIGHT
endpoints = ["search-word", "search-page", "search-cat", "search-river", "thumb-any", "thumb-big", "thumb-1001", "thumb-42", "health"]

[[scenario]]
name = "webhooks"
executor = "constant-arrival-rate"
rate = $WEBHOOK_RATE
duration = "${secs}s"
endpoints = ["webhook"]

[[endpoint]]
name = "search-word"
path = "/v1/images/?q={{word}}"

[[endpoint]]
name = "search-page"
path = "/v1/images/?q={{word}}&page={{random_int:1..5}}"

[[endpoint]]
name = "search-cat"
path = "/v1/images/?q=cat"

[[endpoint]]
name = "search-river"
path = "/v1/images/?q=river"

[[endpoint]]
name = "thumb-any"
path = "/v1/images/{{random_int:1..9999}}/thumb/"

[[endpoint]]
name = "thumb-big"
path = "/v1/images/{{random_int:10000..999999}}/thumb/"

[[endpoint]]
name = "thumb-1001"
path = "/v1/images/1001/thumb/"

[[endpoint]]
name = "thumb-42"
path = "/v1/images/42/thumb/"

[[endpoint]]
name = "health"
path = "/health"

[[endpoint]]
name = "webhook"
method = "POST"
path = "/api/v1/webhooks"
headers = { "Content-Type" = "application/json" }
body = { template = '{"id": "{{uuid}}", "type": "order.created"}' }
expect = [202]

# The trigger fires after the head; the tail is longer than what is left, so
# the scenarios' end ends the run.
[rollout]
head = "${HEAD_S}s"
tail = "${secs}s"
timeout = "5m"
version_header = "x-app-version"
trigger = { command = "./deploy.sh" }

[[probe]]
name = "lb-health"
url = "http://127.0.0.1:$fe/health"
interval = "1s"

[[probe]]
name = "active-servers"
url = "http://127.0.0.1:$prom/metrics?scope=backend"
interval = "1s"
metric = 'haproxy_backend_active_servers{proxy="app"}'

[sink]
listen = "127.0.0.1:$sink_port"
deadline = "30s"
correlate = { endpoint = "webhook", pointer = "/id" }

[sink.signing]
scheme = "standard-webhooks"
secret_env = "SOAK_WEBHOOK_SECRET"

[thresholds]
"http_req_failed{phase:rollout}" = ["rate==0"]
"http_req_failed" = ["rate<0.001"]
delivery_lost = ["count==0"]
delivery_duplicates = ["count==0"]
delivery_verified = ["rate==1"]
TOML
"$LOADCHECK" validate "$plan" >"$WORK/validate.out" 2>&1 || {
    cat "$WORK/validate.out" >&2
    die "the plan does not validate"
}

# ---- the run, sampled ---------------------------------------------------------
outdir=$WORK/out
samples=$WORK/samples.tsv
log "loadcheck: $reads + $WEBHOOK_RATE req/s for $DURATION, rollout after ${HEAD_S}s; RSS and fds every ${SAMPLE_EVERY}s -> $samples"
timeout -k 10 $((secs + 180)) taskset -c "$GEN_CPU" "$LOADCHECK" run "$plan" --out "$outdir" \
    --threads "$LC_THREADS" >"$WORK/run.out" 2>"$WORK/run.err" &
CURRENT_PID=$!
lc_pid=""
for ((i = 0; i < 50; i++)); do
    lc_pid=$(pgrep -P "$CURRENT_PID" | head -n 1 || true)
    [[ -n $lc_pid ]] && break
    sleep 0.1
done
[[ -n $lc_pid ]] || die "could not find the loadcheck process"
start=$SECONDS

# sample KIND: one row (elapsed, kind, VmRSS kB, RssAnon kB, open fds, of
# which sockets, of which TCP connections to the target (HAProxy's frontend,
# any state; the lb-health probe's too), sockets in CLOSE_WAIT, of those the
# ones already in CLOSE_WAIT at the previous sample (stuck), threads,
# 1-minute load average), or status 1 once the process is gone. Sockets are
# told apart by inode in /proc/net/tcp read just before and just after the
# fd list, so a connection opened or closed meanwhile is still classed right
# (ss -p, which walks every process, took long enough to miss dozens).
sample() {
    python3 - "$lc_pid" "$fe" "$((SECONDS - start))" "$1" "$WORK/close_wait.prev" >>"$samples" 2>/dev/null <<'SAMPLE'
import os, sys
pid, fe, t, kind, prev_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def tcp():
    socks = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            socks[f[9]] = (int(f[2].rsplit(":", 1)[1], 16), f[3])  # inode: (remote port, state)
    return socks
before = tcp()
status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status").read().splitlines() if ":" in l)
links = []
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    except OSError:
        pass
socks = {**tcp(), **before}
inodes = [l[len("socket:["):-1] for l in links if l.startswith("socket:[")]
conns = sum(1 for i in inodes if i in socks and socks[i][0] == fe)
close_wait = {i for i in inodes if i in socks and socks[i][1] == "08"}
try:
    stuck = close_wait & set(open(prev_path).read().split())
except OSError:
    stuck = set()
open(prev_path, "w").write("\n".join(sorted(close_wait)))
kb = lambda k: status.get(k, "0 kB").split()[0]
print("\t".join([t, kind, kb("VmRSS"), kb("RssAnon"), str(len(links)), str(len(inodes)), str(conns),
                 str(len(close_wait)), str(len(stuck)), status.get("Threads", "0").strip(),
                 open("/proc/loadavg").read().split()[0]]))
SAMPLE
}
# wait_until T: sleep in short steps until T s after the start; 1 if the
# process ended first.
wait_until() {
    while ((SECONDS - start < $1)); do
        kill -0 "$lc_pid" 2>/dev/null || return 1
        sleep 0.5
    done
}

printf 'elapsed_s\tkind\tvmrss_kb\trssanon_kb\tfds\tsockets\ttarget_conns\tclose_wait\tstuck_close_wait\tthreads\tloadavg1\n' >"$samples"
end_at=$((secs - 2))   # the "end" sample: the load still runs
t=$SAMPLE_EVERY
while ((t < end_at)); do
    if ! wait_until "$t" || ! sample load; then
        break
    fi
    t=$((t + SAMPLE_EVERY))
done
if wait_until "$end_at"; then
    sample end || true
fi
# After the load: the drain of deliveries and the result files (not judged).
for ((n = 1; n <= 180 / SAMPLE_EVERY + 2; n++)); do
    if ! wait_until $((end_at + n * SAMPLE_EVERY)) || ! sample after; then
        break
    fi
done
rc=0
wait "$CURRENT_PID" || rc=$?
CURRENT_PID=""

# The dispatchers' own counters (the v2 backends: since their start).
for s in s1 s2; do
    printf '%s: %s\n' "$s" "$(curl -s --max-time 2 "http://127.0.0.1:$(<"$WORK/$s.port")/_demo/dispatch" || echo unavailable)"
done >"$WORK/dispatch.txt"

# ---- the result -------------------------------------------------------------
echo
echo "### Soak: $RATE req/s over 10 endpoints for $DURATION, with a rolling deploy, probes and the sink"
echo
print_env loadcheck
echo "- plan: \`reads\` $reads req/s over 9 GET endpoints (max_in_flight $MAX_IN_FLIGHT), \`webhooks\` $WEBHOOK_RATE req/s of POST /api/v1/webhooks (constant-arrival-rate), rolling deploy v1 → v2 after ${HEAD_S}s (${ROLL_PAUSE}s of both versions after each backend), probes: /health and HAProxy's active servers, every 1 s; deliveries signed, into the run's sink"
echo "- loadcheck exit code: $rc"
echo
verdict=0
python3 - "$samples" "$outdir/run.json" "$REF_AT" "$SLACK_BYTES" "$OUTCOME_BYTES_PER_S" \
    "$LC_THREADS" "$FD_SLACK" "$WORK/dispatch.txt" <<'PY' || verdict=$?
import json, sys
(samples_path, run_path, ref_at, slack, per_s, workers, fd_slack, dispatch_path) = sys.argv[1:]
ref_at, slack, per_s, workers, fd_slack = int(ref_at), int(slack), int(per_s), int(workers), int(fd_slack)
rows = []
for line in open(samples_path).read().splitlines()[1:]:
    t, kind, rss, anon, fds, socks, conns, cw, stuck, thr, la = line.split("\t")
    rows.append(dict(t=int(t), kind=kind, rss=int(rss), anon=int(anon or 0), fds=int(fds), socks=int(socks),
                     conns=int(conns), other=int(fds) - int(conns), cw=int(cw), stuck=int(stuck), thr=int(thr), la=la))
if not rows:
    print("No sample was taken (loadcheck ended before the first one).")
    sys.exit(2)
mib = lambda kb: f"{kb / 1024:.1f}"
print("| minute | VmRSS (MiB) | RssAnon (MiB) | open fds | connections to the target | other fds | CLOSE_WAIT (stuck) | load avg (1 min) | |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    note = {"end": "end of the load", "after": "after the load (drain, result files)"}.get(r["kind"], "")
    print(f"| {r['t'] / 60:.2f} | {mib(r['rss'])} | {mib(r['anon'])} | {r['fds']} | {r['conns']} | {r['other']} "
          f"| {r['cw']} ({r['stuck']}) | {r['la']} | {note} |")
print()
n = lambda x: f"{x:,}" if isinstance(x, int) else str(x)
try:
    run = json.load(open(run_path))
except Exception as e:
    run = None
    print(f"- run.json: unreadable ({e})")
if run:
    tot = run["stats"]["total"]
    gen = run.get("generator", {})
    dur = run.get("duration_s") or 0
    errs = ", ".join(f"{k} {v:,}" for k, v in sorted((tot.get("errors") or {}).items()) if v) or "none"
    print(f"- requests: {tot['requests']:,} in {dur:,.1f} s ({tot['requests'] / dur if dur else 0:,.0f} req/s); "
          f"failed: {tot['requests'] - tot['ok']:,} ({errs}); scheduled sends {n(gen.get('scheduled_sends'))}, "
          f"dropped sends: {n(gen.get('dropped_sends'))}, late sends (> 10 ms): {n(gen.get('late_sends'))}")
    d = run.get("delivery") or {}
    c = d.get("correlation") or {}
    lat = c.get("latency_ms") or {}
    sig = d.get("signatures") or {}
    print(f"- deliveries: {n(c.get('delivered'))} of {n(c.get('submitted'))} submitted, lost {n(c.get('lost'))}, "
          f"late {n(c.get('late'))}, duplicates {n(d.get('duplicates'))}; sink POSTs {n(d.get('posts'))}, "
          f"signatures valid {n(sig.get('valid'))}, invalid {n(sig.get('invalid'))}; end to end p50 "
          f"{lat.get('p50', 'n/a')} ms, p99 {lat.get('p99', 'n/a')} ms")
    ro = run.get("rollout") or {}
    zd = ro.get("zero_downtime") or {}
    phases = ", ".join(f"{p['name']} {p['start_s']:.1f}–{p['end_s']:.1f} s" if p.get("end_s") is not None
                       else f"{p['name']} {p['start_s']:.1f} s–" for p in run.get("phases", []))
    print(f"- rollout ({ro.get('trigger', 'n/a')}): {ro.get('status', 'n/a')}; phases: {phases}; zero downtime: "
          f"{zd.get('ok', 'n/a')} ({zd.get('failed_requests', 'n/a')} failed requests during it); "
          f"output: {(ro.get('output') or '').strip().replace(chr(10), '; ')}")
    v = run.get("versions") or {}
    seen = ", ".join(f"{s['version']} {s['responses']:,} responses ({s['first_s']:.1f}–{s['last_s']:.1f} s)"
                     for s in v.get("seen", []))
    print(f"- versions: {seen}; both served for {v.get('overlap_s', 'n/a')} s")
    readings = {}
    for row in (run.get("timeline") or {}).get("total", []):
        for k, x in (row.get("probes") or {}).items():
            readings.setdefault(k, []).append(x)
    for p in run.get("probes", []):
        r = readings.get(p["name"])
        extra = f", readings {min(r):g}–{max(r):g}" if r else ""
        print(f"- probe {p['name']}: {p['checks']:,} checks, {p['failed_checks']} failed, down {p['down_s']} s{extra}"
              + (f", last error: {p['last_error']}" if p.get("last_error") else ""))
    thr = [f"`{t['metric']}` {t['expression']}: {'ok' if t['ok'] else 'FAILED'} ({t['value']})"
           for t in run.get("thresholds", [])]
    print("- thresholds: " + "; ".join(thr))
disp = []
for line in open(dispatch_path):
    name, _, body = line.partition(": ")
    try:
        j = json.loads(body)
        disp.append(f"{name} accepted {j['accepted']:,}, delivered {j['delivered']:,}, retries {j['retries']}, gave up {j['gave_up']}")
    except Exception:
        disp.append(f"{name} {body.strip()}")
print("- the dispatchers' own counters (the v2 backends, since their start): " + "; ".join(disp))
print()
judged = [r for r in rows if r["kind"] in ("load", "end")]
ref = next((r for r in judged if r["t"] >= ref_at), None)
end = next((r for r in judged if r["kind"] == "end"), None)
if ref is None or end is None or ref is end:
    print(f"- no sample at or after {ref_at} s and before the end sample: no verdict")
    sys.exit(2)
secs = end["t"] - ref["t"]
growth = (end["rss"] - ref["rss"]) * 1024
outcome = per_s * secs * workers
allowed = outcome + slack
mem_ok = growth <= allowed
print(f"- RSS at {ref['t']} s: {mib(ref['rss'])} MiB; at the end of the load ({end['t']} s): {mib(end['rss'])} MiB; "
      f"growth {growth / 1e6:+.2f} MB ({growth / 1048576:+.2f} MiB); peak {mib(max(r['rss'] for r in judged))} MiB")
print(f"- allowed: the outcome log's 2 KB × {secs:,} s × {workers} worker(s) = {outcome / 1e6:.2f} MB, "
      f"+ {slack / 1e6:.2f} MB = {allowed / 1e6:.2f} MB; growth beyond the outcome log: "
      f"{(growth - outcome) / 1e6:+.2f} MB (must be at most {slack / 1e6:.2f}): **{'met' if mem_ok else 'MISSED'}**")
span = [r for r in judged if r["t"] >= ref_at]
lo_hi = lambda k: (min(r[k] for r in span), max(r[k] for r in span))
fd_min, fd_max = lo_hi("fds")
o_min, o_max = lo_hi("other")
c_min, c_max = lo_hi("conns")
s_max = max(r["stuck"] for r in span)
other_ok = o_max - o_min <= fd_slack
conns_ok = s_max <= fd_slack
fd_ok = other_ok and conns_ok
print(f"- open fds from {ref['t']} s to the end of the load: min {fd_min}, max {fd_max}")
print(f"  - every fd but the connections to the target: {o_min}–{o_max}, max − min ≤ {fd_slack}: "
      f"**{'flat' if other_ok else 'NOT flat'}**")
print(f"  - connections to the target: {c_min}–{c_max} (as many as the requests in flight needed in the last "
      f"30 s); in CLOSE_WAIT (closed by HAProxy, not yet by loadcheck) at most {max(r['cw'] for r in span)}; "
      f"stuck there for a whole sample interval at most {s_max}, {span[-1]['stuck']} at the end; stuck ≤ {fd_slack}: "
      f"**{'no leak' if conns_ok else 'LEAKING'}**")
sys.exit(0 if mem_ok and fd_ok else 1)
PY
echo
echo "Samples: $samples. Plan, logs and run.json: $WORK"
((rc <= 1)) || log "loadcheck exited $rc: $(tail -n 3 "$WORK/run.err" | tr '\n' ' ')"
exit "$verdict"
