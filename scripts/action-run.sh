#!/usr/bin/env bash
# The action's run step: `loadcheck run` with the action's inputs, which come
# in through the environment (PLAN, OUT, TARGET, BASELINE, ARGS, PR_NUMBER).
# It never fails the step: the exit code goes to the step's outputs, so that
# the upload and publish steps still run and the action's last step ends with
# it.
#
# `loadcheck run` writes its own outputs (verdict, exit-code, regressions,
# report-dir, p95) and the step summary when GITHUB_ACTIONS=true. If it
# stopped before it could (a bad argument), this script writes `verdict=error`,
# `exit-code` and `report-dir` itself.
set -uo pipefail

out="${OUT:-loadcheck-report}"
cmd=(loadcheck run "${PLAN:-loadcheck.toml}" --out "$out")
[ -n "${TARGET:-}" ] && cmd+=(--target "$TARGET")
[ -n "${BASELINE:-}" ] && cmd+=(--baseline "$BASELINE")

# ARGS is split as a shell splits words (quotes group), with nothing expanded:
# xargs does the splitting and never runs what it reads.
extra=()
if [[ "${ARGS:-}" =~ [^[:space:]] ]]; then
    split="$(mktemp)"
    if ! printf '%s' "$ARGS" | xargs printf '%s\0' >"$split"; then
        echo "::error title=loadcheck::the args input has an unmatched quote: $ARGS"
        rm -f "$split"
        code=2
    else
        while IFS= read -r -d '' word; do extra+=("$word"); done <"$split"
        rm -f "$split"
    fi
fi

outputs="${GITHUB_OUTPUT:-/dev/null}"
before=0
[ -f "$outputs" ] && before="$(wc -c <"$outputs")"

if [ -z "${code:-}" ]; then
    echo "::group::${cmd[*]} ${extra[*]-}"
    echo "${cmd[*]} ${extra[*]-}"
    echo "::endgroup::"
    "${cmd[@]}" ${extra[@]+"${extra[@]}"}
    code=$?
fi

mkdir -p "$out"
report_dir="$(cd "$out" && pwd)"
# The fork-safe pattern's comment workflow reads the PR number from the
# artifact (a fork's workflow_run event carries no pull request); publish
# checks that PR's head sha against the triggering run's before it posts.
if [ -n "${PR_NUMBER:-}" ]; then
    echo "$PR_NUMBER" >"$report_dir/pr-number"
fi

if [ "$outputs" != /dev/null ]; then
    written="$(tail -c +"$((before + 1))" "$outputs" 2>/dev/null || true)"
    if ! grep -Eq '^verdict(=|<<)' <<<"$written"; then
        {
            echo "verdict=error"
            echo "report-dir=$report_dir"
        } >>"$outputs"
    fi
    # Always last, so that it is the value the step's outputs keep.
    echo "exit-code=$code" >>"$outputs"
fi
echo "loadcheck run exited $code"
exit 0
