#!/bin/sh
# Fault for examples/reliability-benchmarks.toml: kill the db primary of the
# local docker compose stack (the failover is what the run measures).
set -eu
docker compose kill db
