#!/usr/bin/env bash
# Lifecycle script run by Studio at every app start. It must end well within the
# 5-minute limit and never stop the app from starting: each step logs, and failures are
# reported, not fatal. Studio runs it standalone (not from this folder), so the shared
# library comes from the image (/opt/smstudio/lcc, shipped by every smstudio image).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for lib in "$here/lib/log.sh" /opt/smstudio/lcc/lib/log.sh; do
  if [ -r "$lib" ]; then
    # shellcheck source=lcc/lib/log.sh
    . "$lib"
    break
  fi
done
if ! command -v log_info >/dev/null 2>&1; then
  # Not an smstudio image: log plainly rather than fail the app.
  log_info() { printf '%s INFO on-start: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
fi
SMSTUDIO_LOG_NAME=on-start

log_info "app type ${SAGEMAKER_APP_TYPE:-unknown}, user $(id -un) ($(id -u):$(id -g)), home ${HOME:-?}"
log_info "done"
