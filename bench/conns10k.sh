#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Closed model at 10,000 connections (or VUs): req/s, peak RSS and peak RSS
# per connection of loadcheck against wrk, oha and k6, nginx with
# worker_connections 20000.
#
#   LOADCHECK=target/release/loadcheck DURATION=10s ROUNDS=2 bench/conns10k.sh
#   MODE=tls bench/conns10k.sh       # 10,000 TLS connections, HTTP/1.1
#
# CONNS (default 10000) and TOOLS (default "wrk oha k6 loadcheck", with
# MODE=tls "wrk oha loadcheck"; add hey, k6 or h2load if wanted) can be set.
# MODE=tls: nginx `listen … ssl` (HTTP/1.1 only, TLS 1.3), oha --insecure,
# loadcheck [tls] insecure = true, http = "1.1". Each process needs CONNS + a
# few file descriptors: the script raises `ulimit -n` to 65536, or to the
# hard limit when that is lower. k6 spends a few GB and some seconds
# initialising 10,000 VUs; any generator above RSS_LIMIT_MB (default 12288) is
# killed and reported as failed.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS=${CONNS:-10000}
case ${MODE:-plain} in
    plain) NGINX_MODE=plain name=conns10k default_tools="wrk oha k6 loadcheck" ;;
    tls) NGINX_MODE=tls name=conns10k-tls default_tools="wrk oha loadcheck" ;;
    *) die "MODE must be plain or tls, got '$MODE'" ;;
esac
read -r -a tools <<<"${TOOLS:-$default_tools}"
RUN_GRACE=${RUN_GRACE:-240}   # k6 needs time to set up 10,000 VUs
NGINX_WORKER_CONNECTIONS=${NGINX_WORKER_CONNECTIONS:-20000}
RSS_PER_CONN=1                # the table gets peak RSS (KiB) ÷ CONNS

bench_init "$name"
raise_nofile 65536
nofile=$(ulimit -n)
if [[ $nofile != unlimited ]] && ((nofile < CONNS + 100)); then
    die "open-file limit $nofile is too low for $CONNS connections"
fi
log "ulimit -n: $nofile; somaxconn: $(cat /proc/sys/net/core/somaxconn)"
closed_bench "$CONNS" "${tools[@]}"
