#!/usr/bin/env bash
# Lifecycle script for the Studio Classic JupyterServer app (SageMaker's own image, the
# UI; kernels run in KernelGateway apps): git and home usage, then the user's own hooks.
# Starter content comes with the user's KernelGateway apps (same home; smstudio's images).
# `smstudio apply` renders it with lib/ inlined; it also runs in place from this folder.
set -uo pipefail
SMSTUDIO_LCC_LIB="${SMSTUDIO_LCC_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib}"
# smstudio:embed studio.py
# smstudio:settings
# shellcheck source=lcc/lib/common.sh
. "$SMSTUDIO_LCC_LIB/common.sh"

smstudio_begin jupyterserver
step_git
step_home_usage
step_hooks
smstudio_end
