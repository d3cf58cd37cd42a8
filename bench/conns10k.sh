#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Closed model at 10,000 connections (or VUs): req/s and peak RSS of
# loadcheck against wrk, oha and k6, nginx with worker_connections 20000.
#
#   LOADCHECK=target/release/loadcheck DURATION=10s ROUNDS=2 bench/conns10k.sh
#
# CONNS (default 10000) and TOOLS (default "wrk oha k6 loadcheck"; add hey if
# wanted) can be set. Each process needs CONNS + a few file descriptors: the
# script raises `ulimit -n` to 65536, or to the hard limit when that is lower.
# k6 spends a few GB and some seconds initialising 10,000 VUs; any generator
# above RSS_LIMIT_MB (default 12288) is killed and reported as failed.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS=${CONNS:-10000}
read -r -a tools <<<"${TOOLS:-wrk oha k6 loadcheck}"
RUN_GRACE=${RUN_GRACE:-240}   # k6 needs time to set up 10,000 VUs
NGINX_WORKER_CONNECTIONS=${NGINX_WORKER_CONNECTIONS:-20000}

bench_init conns10k
raise_nofile 65536
nofile=$(ulimit -n)
if [[ $nofile != unlimited ]] && ((nofile < CONNS + 100)); then
    die "open-file limit $nofile is too low for $CONNS connections"
fi
log "ulimit -n: $nofile; somaxconn: $(cat /proc/sys/net/core/somaxconn)"
closed_bench "$CONNS" "${tools[@]}"
