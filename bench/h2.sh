#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Closed model over HTTP/2 on TLS: 50 connections with STREAMS (default 1)
# requests in flight on each, against nginx `listen … ssl http2`, each
# generator alone on one CPU. Compares loadcheck's req/s and peak RSS with
# h2load and oha --http2.
#
#   LOADCHECK=target/release/loadcheck DURATION=10s ROUNDS=2 bench/h2.sh
#   STREAMS=10 bench/h2.sh
#
# h2load -c 50 -m STREAMS -t 1; oha -c 50 -p STREAMS --http2 --insecure;
# loadcheck 50 × STREAMS VUs with h2_streams = STREAMS (STREAMS VUs share one
# connection). CONNS (default 50), STREAMS and TOOLS (default "h2load oha
# loadcheck"; k6 when STREAMS=1) can be set. MODE=h2c runs the same in clear
# text (nginx `listen … http2`, prior knowledge) instead of TLS.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS=${CONNS:-50}
H2_STREAMS=${STREAMS:-1}
read -r -a tools <<<"${TOOLS:-h2load oha loadcheck}"
case ${MODE:-tls} in
    tls) NGINX_MODE=tls-h2 ;;
    h2c) NGINX_MODE=h2c ;;
    *) die "MODE must be tls or h2c, got '$MODE'" ;;
esac

bench_init h2
raise_nofile 65536
closed_bench "$CONNS" "${tools[@]}"
