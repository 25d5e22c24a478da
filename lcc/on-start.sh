#!/usr/bin/env bash
# Lifecycle script run by Studio at every app start. It must end well within the
# 5-minute limit and never stop the app from starting: each step logs, and failures are
# reported, not fatal.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lcc/lib/log.sh
. "$here/lib/log.sh"

log_info "app type ${SAGEMAKER_APP_TYPE:-unknown}, user $(id -un) ($(id -u):$(id -g)), home ${HOME:-?}"
log_info "done"
