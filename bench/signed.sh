#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# What HMAC signing costs: loadcheck's closed plan (VUS, default 50, for
# DURATION) against nginx, unsigned and then with a [signing] block
# (scheme "github", secret from $BENCH_SECRET), alternating for ROUNDS rounds.
# Prints req/s and peak RSS of each and the signed ÷ unsigned ratios. A run
# that fails (for instance while [signing] is not implemented) is reported
# with its exit code and the end of its stderr; the others still count.
#
#   LOADCHECK=target/release/loadcheck DURATION=10s ROUNDS=2 bench/signed.sh
#
# SCHEME (default github) picks the signing scheme.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VUS=${VUS:-50}
SCHEME=${SCHEME:-github}
export BENCH_SECRET=${BENCH_SECRET:-loadcheck-bench-secret}

bench_init signed
need_loadcheck signed.sh
raise_nofile 65536
port=${PORT:-$(free_port)}

load="executor = \"constant-vus\"
vus = $VUS
duration = \"$DURATION\""
write_lc_plan "$WORK/unsigned.toml" "$port" "$load"
write_lc_plan "$WORK/signed.toml" "$port" "$load" "[signing]
scheme = \"$SCHEME\"
secret_env = \"BENCH_SECRET\""

# signed_run VARIANT ROUND: one loadcheck run of unsigned.toml or signed.toml.
signed_run() {
    local variant=$1 round=$2 label rc=0 rps
    label=$variant-r$round
    lc_run "$label" "$WORK/$variant.toml" "$WORK/$label" || rc=$?
    rps=$(json_get "$WORK/$label/run.json" stats.total.rps)
    # Exit 1 is a failed verdict; the measurement itself is still good.
    if ((rc > 1)) || [[ -z $rps ]]; then
        fail "$variant" "$round" "$rc" "$label"
        return 0
    fi
    record "$variant" "$round" rps "$rps"
    record "$variant" "$round" errors "$(_lc_errors "$WORK/$label/run.json")"
    _record_rss "$variant" "$round"
}

nginx_start "$port"
for ((round = 1; round <= ROUNDS; round++)); do
    for variant in unsigned signed; do
        log "round $round/$ROUNDS: loadcheck $variant, $VUS VUs, $DURATION"
        signed_run "$variant" "$round"
        retry_if_noisy "$variant" "$round" signed_run "$variant" "$round"
        cooldown
    done
done
nginx_stop

echo
echo "### Signing cost: loadcheck closed model, $VUS VUs, unsigned vs [signing] scheme \"$SCHEME\""
echo
print_env loadcheck
echo
print_table signed rps:req/s:high rss_mb:"peak RSS (MiB)":low \
    gen_cpu:"generator CPU %":low:noratio server_cpu:"server CPU %":low:noratio \
    other_cpu:"other CPU %":low:noratio
echo
echo "Plans: $WORK/unsigned.toml, $WORK/signed.toml. Raw results and logs: $WORK"
