#!/usr/bin/env bash
# The steps smstudio's lifecycle scripts are made of. Studio runs a lifecycle script at
# every app start and fails the app if it runs past 5 minutes or exits non-zero, so every
# step logs what it did, failures are reported and never fatal, and work that would not
# fit its time budget carries on in the background. `smstudio apply` renders each
# lcc/<app>.sh with this library (and lib/*.py) inlined into one self-contained script.

# shellcheck source=lcc/lib/log.sh
. "$SMSTUDIO_LCC_LIB/log.sh"

# Settings (the team file's, rendered above by apply; these are the defaults).
: "${SMSTUDIO_BUDGET:=120}"       # seconds the whole script may take in the foreground
: "${SMSTUDIO_APT_BUDGET:=90}"    # seconds for system packages before they go to the background
: "${SMSTUDIO_HOOK_BUDGET:=30}"   # seconds per user hook before it goes to the background
: "${SMSTUDIO_GIT_HOST:=}"        # the git host whose token comes from Secrets Manager
: "${SMSTUDIO_GIT_USERNAME:=x-access-token}"
: "${SMSTUDIO_GIT_REPOS:=}"       # space-separated HTTPS URLs cloned on first start
: "${SMSTUDIO_IDLE_MINUTES:=}"    # KernelGateway: delete the app after this idle time
: "${SMSTUDIO_SSM_ROLE:=smstudio-ssm-instance}"  # the role apps' SSM managed instances get
: "${SMSTUDIO_DOCKER_REMOTE_HOST:=}"  # Classic: the host of users' own Docker engines
SMSTUDIO_STATE="${HOME:-/home/sagemaker-user}/.smstudio"
SMSTUDIO_STARTED="$(date +%s%N)"

smstudio_elapsed() { echo $(( ($(date +%s%N) - SMSTUDIO_STARTED) / 1000000 )); }

# The seconds a step may use: its own budget, or what is left of the script's.
smstudio_budget() {
  local left=$(( SMSTUDIO_BUDGET - $(smstudio_elapsed) / 1000 ))
  if [ "$left" -lt 1 ]; then left=1; fi
  if [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}

smstudio_begin() {
  SMSTUDIO_LOG_NAME="$1"
  mkdir -p "$SMSTUDIO_LOG_DIR" 2>/dev/null || true
  exec > >(tee -a "$SMSTUDIO_LOG_DIR/on-start.log") 2>&1
  log_info "start: app ${SAGEMAKER_APP_TYPE:-?}, user $(id -un) ($(id -u):$(id -g)), home ${HOME:-?}, budget ${SMSTUDIO_BUDGET}s"
  SMSTUDIO_PYTHON="$(command -v python3 || true)"
  if [ -x /opt/smstudio/venv/bin/python ]; then SMSTUDIO_PYTHON=/opt/smstudio/venv/bin/python; fi
  if [ -z "$SMSTUDIO_PYTHON" ]; then
    log_error "no python3 in this image: kernels, git and idle steps are skipped"
  fi
  smstudio_install_lib
}

smstudio_end() {
  local ms; ms="$(smstudio_elapsed)"
  log_info "done in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
}

# Python helpers: from lcc/lib when run in place; else those the rendered script embeds
# (installed to ~/.smstudio/lib, where git and background jobs find them later); else
# the image's copy (every smstudio image ships lcc/ in /opt/smstudio/lcc).
SMSTUDIO_EMBEDDED="${SMSTUDIO_EMBEDDED:-}"
smstudio_lib_source() { cat "$SMSTUDIO_LCC_LIB/$1"; } # smstudio:lib-source
smstudio_install_lib() {
  local dir="$SMSTUDIO_STATE/lib" name
  mkdir -p "$dir" || { log_error "cannot write $dir"; return 0; }
  for name in $SMSTUDIO_EMBEDDED; do
    smstudio_lib_source "$name" >"$dir/.$name.$$" && mv -f "$dir/.$name.$$" "$dir/$name"
  done
}
smstudio_py() {
  if [ -f "$SMSTUDIO_LCC_LIB/$1" ]; then
    echo "$SMSTUDIO_LCC_LIB/$1"
  elif [[ " $SMSTUDIO_EMBEDDED " == *" $1 "* ]]; then
    echo "$SMSTUDIO_STATE/lib/$1"
  elif [ -f "/opt/smstudio/lcc/lib/$1" ]; then
    echo "/opt/smstudio/lcc/lib/$1"
  else
    log_warn "$1 is neither in this script nor in the image (not an smstudio image): skipped"
    return 1
  fi
}

# run_budgeted NAME SECONDS COMMAND...: run COMMAND with its output in
# ~/.smstudio/logs/NAME.log, and shown here when it ends; past SECONDS it is left running
# in the background. Returns COMMAND's status, or 0 when it was left running.
run_budgeted() {
  local name="$1" budget="$2"; shift 2
  local out="$SMSTUDIO_LOG_DIR/$name.log" from ticks=0 pid status
  from="$(stat -c %s "$out" 2>/dev/null || echo 0)"
  ( trap '' HUP; SMSTUDIO_LOG_NAME="$name" "$@" ) >>"$out" 2>&1 </dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$ticks" -ge $(( budget * 10 )) ]; then
      tail -c "+$((from + 1))" "$out"
      log_warn "$name: still running after ${budget}s, it continues in the background (pid $pid); output in $out"
      return 0
    fi
    sleep 0.1
    ticks=$((ticks + 1))
  done
  wait "$pid"
  status=$?
  tail -c "+$((from + 1))" "$out"
  return "$status"
}

# run_background NAME COMMAND...: start COMMAND, output in ~/.smstudio/logs/NAME.log.
run_background() {
  local name="$1"; shift
  ( trap '' HUP; SMSTUDIO_LOG_NAME="$name" "$@" ) >>"$SMSTUDIO_LOG_DIR/$name.log" 2>&1 </dev/null &
  log_info "$name: started in the background (pid $!), output in $SMSTUDIO_LOG_DIR/$name.log"
}

step_kernels() {
  [ -n "$SMSTUDIO_PYTHON" ] || return 0
  local py; py="$(smstudio_py kernels.py)" || return 0
  SMSTUDIO_LOG_NAME=kernels timeout 120 "$SMSTUDIO_PYTHON" "$py" sync --home "$HOME" \
    || log_error "kernels: registration failed (exit $?); existing kernels are unchanged"
}

step_apt() {
  local list="$SMSTUDIO_STATE/apt-packages"
  if [ ! -s "$list" ]; then
    log_info "apt: no ~/.smstudio/apt-packages, nothing to install"
    return 0
  fi
  run_budgeted apt "$(smstudio_budget "$SMSTUDIO_APT_BUDGET")" apt_install "$list" \
    || log_error "apt: see the lines above; the app starts without the packages named there"
}

step_git() {
  local repos=() py
  if [ -z "$SMSTUDIO_PYTHON" ]; then return 0; fi
  py="$(smstudio_py studio.py)" || return 0
  read -ra repos <<<"$SMSTUDIO_GIT_REPOS"
  run_budgeted git "$(smstudio_budget 15)" "$SMSTUDIO_PYTHON" "$py" \
    git-setup --host "$SMSTUDIO_GIT_HOST" --username "$SMSTUDIO_GIT_USERNAME" "${repos[@]}" \
    || log_error "git: setup failed; see ~/.smstudio/logs/git.log"
}

step_home_usage() {
  local py
  if [ -n "$SMSTUDIO_PYTHON" ] && py="$(smstudio_py studio.py)"; then
    run_background home-usage "$SMSTUDIO_PYTHON" "$py" home-usage
  fi
}

step_idle_checker() {
  local py
  if [ -z "$SMSTUDIO_IDLE_MINUTES" ] || [ -z "$SMSTUDIO_PYTHON" ]; then
    log_info "idle: no idle shutdown configured for this app"
    return 0
  fi
  py="$(smstudio_py studio.py)" || return 0
  run_background idle "$SMSTUDIO_PYTHON" "$py" idle-watch \
    --minutes "$SMSTUDIO_IDLE_MINUTES"
}

# SSH from the laptop (the image's ssh/start.sh): sshd on 127.0.0.1, SSM registration.
step_ssh() {
  local script=/opt/smstudio/ssh/start.sh
  if [ ! -x "$script" ]; then
    log_info "ssh: no $script in this image, no SSH"
    return 0
  fi
  run_budgeted ssh "$(smstudio_budget 30)" env SMSTUDIO_SSM_ROLE="$SMSTUDIO_SSM_ROLE" "$script" \
    || log_error "ssh: not ready; see ~/.smstudio/logs/ssh.log and sshd.log"
}

# Studio Classic has no Docker: the user's own engine on the team's host, as the docker
# context studio-remote (ssh through SSM; the image's ssh/docker_remote.py).
step_docker_remote() {
  local script=/opt/smstudio/ssh/docker_remote.py
  if [ -z "$SMSTUDIO_DOCKER_REMOTE_HOST" ] || [ ! -f "$script" ] || [ -z "$SMSTUDIO_PYTHON" ]; then
    log_info "docker: no remote engine host for this team (or no $script): no studio-remote context"
    return 0
  fi
  run_budgeted docker "$(smstudio_budget 60)" env SMSTUDIO_DOCKER_REMOTE_HOST="$SMSTUDIO_DOCKER_REMOTE_HOST" \
    "$SMSTUDIO_PYTHON" "$script" \
    || log_error "docker: no studio-remote context; see ~/.smstudio/logs/docker.log"
}

step_hooks() {
  local hooks=() hook status
  for hook in "$SMSTUDIO_STATE"/on-start.d/* "$HOME/.on_start"; do
    if [ -f "$hook" ]; then hooks+=("$hook"); fi
  done
  if [ "${#hooks[@]}" -eq 0 ]; then
    log_info "hooks: none in ~/.smstudio/on-start.d or ~/.on_start"
    return 0
  fi
  for hook in "${hooks[@]}"; do
    run_budgeted "hook-$(basename "$hook")" "$(smstudio_budget "$SMSTUDIO_HOOK_BUDGET")" run_hook "$hook"
    status=$?
    if [ "$status" -eq 0 ]; then
      log_info "hook $hook: finished"
    else
      log_error "hook $hook: failed with exit code $status; the app starts anyway (fix or remove the hook)"
    fi
  done
}

run_hook() {
  if [ -x "$1" ]; then "$1"; else bash "$1"; fi
}

# shellcheck source=lcc/lib/apt.sh
. "$SMSTUDIO_LCC_LIB/apt.sh"
