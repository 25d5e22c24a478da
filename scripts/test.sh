#!/usr/bin/env bash
# The test command: sets up everything it needs (Docker engine, buildx, registry,
# debootstrap, the virtualenv, the local base image, a headless browser), then runs the
# whole suite.
# Idempotent; reuses Docker's build cache when it is there. Extra args go to pytest,
# e.g. scripts/test.sh tests/unit
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-host.sh --browser
.venv/bin/smstudio images local-base
exec .venv/bin/pytest --durations=15 "$@"
