#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A/B: the closed-model benchmark for two loadcheck builds, alternating
# round by round, so that a change that must not cost speed (a refactor) is
# measured against the build before it in one run. "base" is
# $LOADCHECK_BASE, "loadcheck" is $LOADCHECK; the table's ratio column is
# loadcheck ÷ base.
#
#   LOADCHECK_BASE=/tmp/base/loadcheck CONNS=50 ROUNDS=3 bench/ab.sh
#   LOADCHECK_BASE=/tmp/base/loadcheck CONNS=10000 ROUNDS=3 bench/ab.sh
#
# CONNS above 1,000 adds the peak-RSS-per-connection column, as
# bench/conns10k.sh does.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${LOADCHECK_BASE:?set LOADCHECK_BASE to the other build}"
CONNS=${CONNS:-50}
if ((CONNS > 1000)); then
    RSS_PER_CONN=1
    NGINX_WORKER_CONNECTIONS=${NGINX_WORKER_CONNECTIONS:-20000}
fi

# closed_base PORT CONNS ROUND: loadcheck's closed run with the base build;
# closed_loadcheck records under "loadcheck", so this round's rows are
# renamed (base always runs first in a round).
closed_base() {
    local round=$3 saved=$LOADCHECK
    LOADCHECK=$LOADCHECK_BASE
    closed_loadcheck "$@"
    LOADCHECK=$saved
    awk -F'\t' -v OFS='\t' -v r="$round" '$1 == "loadcheck" && $2 == r {$1 = "base"} 1' \
        "$WORK/results.tsv" >"$WORK/results.tsv.tmp" && mv "$WORK/results.tsv.tmp" "$WORK/results.tsv"
}

bench_init "ab-c$CONNS"
have base || die "LOADCHECK_BASE=$LOADCHECK_BASE is not an executable"
raise_nofile 65536
log "base: $LOADCHECK_BASE; loadcheck: $LOADCHECK"
closed_bench "$CONNS" base loadcheck
