#!/usr/bin/env bash
# Runs examples/circuit-breaker.toml: Redis on 127.0.0.1:16379, four
# `loadcheck demo serve` instances on 18081–18084 that deliver to the plan's
# sink on 19944 and share one circuit breaker in Redis, then the plan.
# Everything it starts is stopped on exit; it exits with loadcheck's code.
#
#   examples/circuit-breaker.sh [--out DIR]
#
# INSTANCES=1..4 runs fewer instances (the plan still names four; the
# missing ones count as failed submissions). REDIS=0 gives each instance its
# own in-memory breaker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOADCHECK=${LOADCHECK:-target/release/loadcheck}
[[ -x $LOADCHECK ]] || LOADCHECK=target/debug/loadcheck
[[ -x $LOADCHECK ]] || { echo "build loadcheck first: cargo build --release" >&2; exit 2; }
INSTANCES=${INSTANCES:-4}
REDIS=${REDIS:-1}
export DEMO_WEBHOOK_SECRET=${DEMO_WEBHOOK_SECRET:-whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    redis-cli -p 16379 shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_port() {
    for _ in $(seq 100); do
        (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on $1" >&2
    exit 3
}
breaker=()
if [[ $REDIS == 1 ]]; then
    redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
    wait_port 16379
    breaker=(--breaker-redis redis://127.0.0.1:16379/ --breaker-key "loadcheck:example:$$")
fi
for i in $(seq "$INSTANCES"); do
    "$LOADCHECK" demo serve --listen "127.0.0.1:1808$i" --deliver-to http://127.0.0.1:19944/hooks \
        --webhook-secret-env DEMO_WEBHOOK_SECRET --half-open-after 60s "${breaker[@]}" &
    pids+=($!)
    wait_port "1808$i"
done
rc=0
"$LOADCHECK" run examples/circuit-breaker.toml "$@" || rc=$?
exit "$rc"
