#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Closed model: 50 connections (or VUs) hammering nginx for DURATION, each
# generator alone on one CPU. Compares loadcheck's req/s and peak RSS with wrk,
# oha, hey and k6.
#
#   LOADCHECK=target/release/loadcheck DURATION=10s ROUNDS=2 bench/closed.sh
#
# CONNS (default 50) and TOOLS (default "wrk oha hey k6 loadcheck") can be set.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS=${CONNS:-50}
read -r -a tools <<<"${TOOLS:-wrk oha hey k6 loadcheck}"

bench_init closed
raise_nofile 65536
closed_bench "$CONNS" "${tools[@]}"
