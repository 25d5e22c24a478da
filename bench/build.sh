#!/usr/bin/env bash
# Build-time and image-size benchmark (prints a table). Sets up the host first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-host.sh
exec .venv/bin/python bench/build.py "$@"
