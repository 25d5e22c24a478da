#!/usr/bin/env bash
# Lifecycle script for Studio Classic KernelGateway apps, run at every start: persisted
# kernels, system packages, git, home usage, the idle checker that deletes the app when its
# kernels have been idle past the threshold, then the user's own hooks.
# `smstudio apply` renders it with lib/ inlined; it also runs in place from this folder.
set -uo pipefail
SMSTUDIO_LCC_LIB="${SMSTUDIO_LCC_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib}"
# smstudio:embed kernels.py
# smstudio:settings
# shellcheck source=lcc/lib/common.sh
. "$SMSTUDIO_LCC_LIB/common.sh"

smstudio_begin kernelgateway
step_kernels
step_apt
step_git
step_ssh
step_docker_remote
step_home_usage
step_idle_checker
step_starter
step_hooks
smstudio_end
