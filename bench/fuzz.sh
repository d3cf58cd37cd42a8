#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for FUZZ_SECONDS
# each and prints a Markdown table: executions, coverage, corpus size,
# crashes and timeouts per target. See docs/development.md ("Fuzzing").
#
#   bench/fuzz.sh                                   # every target, 600 s each
#   FUZZ_SECONDS=60 FUZZ_JOBS=2 bench/fuzz.sh       # 60 s each, two at a time
#   FUZZ_TARGETS="plan k6" bench/fuzz.sh            # some targets only
#
# FUZZ_SECONDS  seconds per target (libFuzzer's -max_total_time), default 600
# FUZZ_JOBS     targets run at once, default 1 (2 on a 2-core machine leaves
#               nothing for anything else)
# FUZZ_TARGETS  the targets, default every one `cargo fuzz list` names
# FUZZ_FRESH    1: start each target from its seeds alone, in a temporary
#               corpus; default 0: grow fuzz/corpus/<target> (git-ignored)
# FUZZ_OUT      the folder for the logs (default: a new /tmp/loadcheck-fuzz.*)
# FUZZ_TARGET_DIR  cargo's target folder for the fuzz build, relative to
#               fuzz/ (default: cargo-fuzz's own, fuzz/target)
#
# Builds are cargo-fuzz's default: optimized, with debug assertions and
# overflow checks, under AddressSanitizer, made once before the first run;
# the runs use those binaries, as `cargo fuzz run` would (the same corpus
# folders, -artifact_prefix=fuzz/artifacts/<target>/), so an edit to the
# sources during the runs does not rebuild them. Each input may take 10 s
# (-timeout=10) before it counts as a timeout. A target stops at its first
# crash or timeout; the input is in fuzz/artifacts/<target>/. Every run is
# bounded: libFuzzer stops at FUZZ_SECONDS, and `timeout` kills it 120 s
# later if it has not.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-1}
FUZZ_FRESH=${FUZZ_FRESH:-0}
[[ $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_SECONDS must be a positive integer" >&2; exit 2; }
[[ $FUZZ_JOBS =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_JOBS must be a positive integer" >&2; exit 2; }
# Nightly when there is one (FUZZ_TOOLCHAIN=stable: never); else stable,
# which takes cargo-fuzz's nightly-only flags with RUSTC_BOOTSTRAP=1 (as
# .ci/fuzz does).
if [[ ${FUZZ_TOOLCHAIN:-} != stable ]] && cargo +nightly --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi
cargo fuzz --version >/dev/null 2>&1 || { echo "no cargo-fuzz: cargo install cargo-fuzz --locked" >&2; exit 2; }

# cargo-fuzz builds for the host, into <target dir>/<host triple>/release.
host=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
build_args=()
bin_dir="target/$host/release"
if [[ -n ${FUZZ_TARGET_DIR:-} ]]; then
    build_args+=(--target-dir "$FUZZ_TARGET_DIR")
    bin_dir="$FUZZ_TARGET_DIR/$host/release"
fi
if [[ -n ${FUZZ_TARGETS:-} ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

OUT=${FUZZ_OUT:-$(mktemp -d /tmp/loadcheck-fuzz.XXXXXX)}
mkdir -p "$OUT"
# The targets write the files they read by path under $TMPDIR.
export TMPDIR="$OUT/tmp"
mkdir -p "$TMPDIR"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    rm -rf "$TMPDIR"
}
trap cleanup EXIT

echo "building ${#targets[@]} targets" >&2
cargo "${toolchain[@]}" fuzz build "${build_args[@]}" >"$OUT/build.log" 2>&1 || {
    tail -30 "$OUT/build.log" >&2
    exit 2
}

# run_one TARGET: fuzzes it, then writes its table row to $OUT/TARGET.row.
run_one() {
    local t=$1 corpus log start
    if [[ $FUZZ_FRESH == 1 ]]; then
        corpus="$OUT/corpus/$t"
    else
        corpus="corpus/$t"
    fi
    mkdir -p "$corpus" "artifacts/$t"
    log="$OUT/$t.log"
    start="$OUT/$t.start"
    touch "$start"
    local t0=$SECONDS
    # The exit code is libFuzzer's: non-zero after a crash or a timeout.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0} timeout --kill-after=10 $((FUZZ_SECONDS + 120)) \
        "$bin_dir/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
        -print_final_stats=1 "$corpus" "seeds/$t" >"$log" 2>&1 || true
    local secs=$((SECONDS - t0))
    local execs status cov ft size crashes timeouts
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    status=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
    size=$(find "$corpus" -type f | wc -l)
    crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'leak-*' \) -newer "$start" | wc -l)
    timeouts=$(find "artifacts/$t" -type f -name 'timeout-*' -newer "$start" | wc -l)
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$secs" "${execs:-?}" "${cov:-?}/${ft:-?}" \
        "$size" "$crashes" "$timeouts" >"$OUT/$t.row"
    echo "$t: done in ${secs} s ($log)" >&2
}

for t in "${targets[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $FUZZ_JOBS ]]; do
        wait -n || true
    done
    echo "$t: fuzzing for $FUZZ_SECONDS s" >&2
    run_one "$t" &
    pids+=("$!")
done
wait

echo
echo "| target | seconds | executions | coverage (cov/features) | corpus | crashes | timeouts |"
echo "|---|---|---|---|---|---|---|"
for t in "${targets[@]}"; do
    cat "$OUT/$t.row"
done
echo
echo "logs: $OUT (crash and timeout inputs: fuzz/artifacts/<target>/)"
