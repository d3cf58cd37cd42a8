#!/usr/bin/env bash
# The action's publish step: `loadcheck publish` from the output folder, with
# the action's inputs through the environment (OUT, COMMENT, CHECK, SIGNOFF,
# ISSUE) and the token as GITHUB_TOKEN. publish finds the pull request from
# the event (GITHUB_EVENT_PATH) itself.
set -euo pipefail

args=(publish --from "${OUT:-loadcheck-report}")
[ "${COMMENT:-true}" = true ] || args+=(--no-comment)
[ "${CHECK:-true}" = true ] || args+=(--no-check)
[ -n "${SIGNOFF:-}" ] && args+=(--signoff "$SIGNOFF")
if [ -n "${ISSUE:-}" ]; then
    case "$ISSUE" in
        *[!0-9]*) echo "::error title=loadcheck::the issue input must be an issue number, not $ISSUE"; exit 2 ;;
    esac
    args+=(--issue "$ISSUE")
fi
echo "loadcheck ${args[*]}"
exec loadcheck "${args[@]}"
