#!/bin/sh
# Restore for examples/reliability-benchmarks.toml: bring the killed redis
# container back.
set -eu
docker compose start redis
