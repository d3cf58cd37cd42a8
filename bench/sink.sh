#!/usr/bin/env bash
# The sink under a separate sender: `loadcheck sink` (verifying Standard
# Webhooks signatures) pinned to CPU $SERVER_CPU, and the sender process
# (bench/sink_sender.rs) pinned to CPU $GEN_CPU, at RATE deliveries/s for
# DURATION_S seconds, re-sending every DUP_EVERY-th event as an injected duplicate.
# Prints the sender's JSON: what it sent, the sink's own counters, whether
# they agree, and the sink's RSS at the start, the end and the peak.
#
#   RATE=5000 DURATION_S=60 DUP_EVERY=50 bench/sink.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RATE=${RATE:-5000}
SECONDS_=${DURATION_S:-60}
DUP_EVERY=${DUP_EVERY:-50}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
LOADCHECK=${LOADCHECK:-target/release/loadcheck}
SENDER=${SENDER:-target/release/examples/sink_sender}
[[ -x $LOADCHECK && -x $SENDER ]] || {
    echo "build first: cargo build --release --bin loadcheck --example sink_sender" >&2
    exit 2
}
ulimit -n 65536 2>/dev/null || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d /tmp/loadcheck-bench-sink.XXXXXX)
cat >"$work/sink.toml" <<TOML
listen = "127.0.0.1:$port"
[signing]
scheme = "standard-webhooks"
secret_env = "BENCH_WH_SECRET"
TOML
export BENCH_WH_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
taskset -c "$SERVER_CPU" "$LOADCHECK" sink --config "$work/sink.toml" --max-duration "$((SECONDS_ + 60))s" \
    >"$work/sink.json" 2>"$work/sink.log" &
sink_pid=$!
trap 'kill $sink_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    grep -q listening "$work/sink.log" 2>/dev/null && break
    sleep 0.1
done
echo "sink pid $sink_pid on 127.0.0.1:$port; sending $RATE/s for ${SECONDS_}s (work: $work)" >&2
timeout "$((SECONDS_ + 60))" taskset -c "$GEN_CPU" "$SENDER" "127.0.0.1:$port" "$sink_pid" "$RATE" "$SECONDS_" "$DUP_EVERY" \
    | tee "$work/result.json"
