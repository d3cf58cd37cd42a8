#!/bin/sh
# Restore for examples/reliability-benchmarks.toml: bring the killed db
# container back.
set -eu
docker compose start db
