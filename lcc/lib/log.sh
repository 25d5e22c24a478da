#!/usr/bin/env bash
# Shared logging for smstudio's in-container scripts: one line per step, with a UTC
# timestamp and a level, to stdout (Studio sends it to CloudWatch) and to
# ~/.smstudio/logs/<script>.log when the home is writable.
# Source it: . /opt/smstudio/lcc/lib/log.sh

SMSTUDIO_LOG_NAME="${SMSTUDIO_LOG_NAME:-$(basename "${0:-smstudio}" .sh)}"

smstudio_log() {
  local level="$1"; shift
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) ${level} ${SMSTUDIO_LOG_NAME}: $*"
  printf '%s\n' "$line"
  local dir="${HOME:-/home/sagemaker-user}/.smstudio/logs"
  if mkdir -p "$dir" 2>/dev/null; then
    printf '%s\n' "$line" >>"$dir/${SMSTUDIO_LOG_NAME}.log" 2>/dev/null || true
  fi
}

log_info() { smstudio_log INFO "$@"; }
log_warn() { smstudio_log WARN "$@"; }
log_error() { smstudio_log ERROR "$@"; }
