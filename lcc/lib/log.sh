#!/usr/bin/env bash
# Shared logging for smstudio's in-container scripts: one line per step, with a UTC
# timestamp and a level, on stdout (Studio sends a lifecycle script's stdout to
# CloudWatch). The lifecycle scripts tee their stdout to ~/.smstudio/logs/on-start.log;
# SMSTUDIO_LOG_FILE names another file to append to (background work, other tools).

SMSTUDIO_LOG_NAME="${SMSTUDIO_LOG_NAME:-$(basename "${0:-smstudio}" .sh)}"
SMSTUDIO_LOG_DIR="${SMSTUDIO_LOG_DIR:-${HOME:-/home/sagemaker-user}/.smstudio/logs}"

smstudio_log() {
  local level="$1"; shift
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) ${level} ${SMSTUDIO_LOG_NAME}: $*"
  printf '%s\n' "$line"
  if [ -n "${SMSTUDIO_LOG_FILE:-}" ]; then
    printf '%s\n' "$line" >>"$SMSTUDIO_LOG_FILE" 2>/dev/null || true
  fi
}

log_info() { smstudio_log INFO "$@"; }
log_warn() { smstudio_log WARN "$@"; }
log_error() { smstudio_log ERROR "$@"; }
