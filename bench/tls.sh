#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Closed model over TLS: 50 connections (or VUs) on HTTPS, HTTP/1.1 only
# (nginx `listen … ssl`, no http2, so every tool speaks HTTP/1.1), each
# generator alone on one CPU. Compares loadcheck's req/s and peak RSS with
# wrk and oha (--insecure).
#
#   LOADCHECK=target/release/loadcheck DURATION=10s ROUNDS=2 bench/tls.sh
#
# CONNS (default 50) and TOOLS (default "wrk oha loadcheck"; hey, k6 and
# h2load --h1 can be added) can be set. nginx: TLS 1.3 only,
# TLS_AES_128_GCM_SHA256, X25519, a self-signed EC P-256 certificate made for
# the run; no tool checks it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS=${CONNS:-50}
read -r -a tools <<<"${TOOLS:-wrk oha loadcheck}"
NGINX_MODE=tls

bench_init tls
raise_nofile 65536
closed_bench "$CONNS" "${tools[@]}"
