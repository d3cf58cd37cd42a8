#!/usr/bin/env bash
# Calibration of the regression verdicts (issue 13): A/A pairs, +25% pairs,
# a 10-run history, head vs tail and duet against the demo service, with a
# CPU burner on the service's CPU. See bench/verdicts.py for the details.
#
#   LOADCHECK=target/release/loadcheck bench/verdicts.sh [quiet sensitive history hvt duet]
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/verdicts.py" "$@"
