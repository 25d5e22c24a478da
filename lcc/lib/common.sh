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
: "${SMSTUDIO_HOME_USAGE_SECONDS:=86400}"  # home usage reported this often while the app runs
: "${SMSTUDIO_GIT_HOST:=}"        # the git host whose token comes from Secrets Manager
: "${SMSTUDIO_GIT_USERNAME:=x-access-token}"
: "${SMSTUDIO_GIT_REPOS:=}"       # space-separated HTTPS URLs cloned on first start
: "${SMSTUDIO_STARTER:=}"         # starter content copied once into a new home (git URL or s3://)
: "${SMSTUDIO_STARTER_BUDGET:=30}"  # seconds for it before it goes on in the background
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
  steps_wait
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

# Budgeted steps: COMMAND runs with its output in ~/.smstudio/logs/NAME.log, shown here
# when it ends; past its SECONDS it is left running in the background.
#   budgeted_start NAME SECONDS COMMAND...  starts it (steps started together run side by
#                                          side: the script takes the longest, not the sum)
#   budgeted_finish NAME                    waits for it; COMMAND's status, or 0 when left
#   run_budgeted NAME SECONDS COMMAND...    both, one after the other
declare -gA SMSTUDIO_JOB_PID=() SMSTUDIO_JOB_FROM=() SMSTUDIO_JOB_END=() SMSTUDIO_JOB_BUDGET=()
smstudio_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
budgeted_start() {
  local name="$1" budget="$2"; shift 2
  local out="$SMSTUDIO_LOG_DIR/$name.log"
  SMSTUDIO_JOB_FROM[$name]="$(stat -c %s "$out" 2>/dev/null || echo 0)"
  ( trap '' HUP; SMSTUDIO_LOG_NAME="$name" "$@" ) >>"$out" 2>&1 </dev/null &
  SMSTUDIO_JOB_PID[$name]=$!
  SMSTUDIO_JOB_END[$name]=$(( $(smstudio_now_ms) + budget * 1000 ))
  SMSTUDIO_JOB_BUDGET[$name]="$budget"
}
budgeted_finish() {
  local name="$1" out="$SMSTUDIO_LOG_DIR/$1.log" pid="${SMSTUDIO_JOB_PID[$1]}" left sleeper
  local done_pid="" status=0
  while [ "$done_pid" != "$pid" ] && kill -0 "$pid" 2>/dev/null; do
    left=$(( SMSTUDIO_JOB_END[$name] - $(smstudio_now_ms) ))
    if [ "$left" -le 0 ]; then
      tail -c "+$((SMSTUDIO_JOB_FROM[$name] + 1))" "$out"
      log_warn "$name: still running after ${SMSTUDIO_JOB_BUDGET[$name]}s, it continues in the background (pid $pid); output in $out"
      return 0
    fi
    if (( BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1) )); then
      # woken by the step's end or its deadline, whichever comes first: no polling delay
      sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))" &
      sleeper=$!
      wait -n -p done_pid "$pid" "$sleeper"
      status=$?
      kill "$sleeper" 2>/dev/null
      wait "$sleeper" 2>/dev/null
    else
      sleep 0.05
    fi
  done
  if [ "$done_pid" != "$pid" ]; then
    wait "$pid"
    status=$?
  fi
  tail -c "+$((SMSTUDIO_JOB_FROM[$name] + 1))" "$out"
  return "$status"
}
run_budgeted() {
  budgeted_start "$@"
  budgeted_finish "$1"
}

# Steps started side by side and the error each logs when it fails, finished in order.
declare -ga SMSTUDIO_PENDING=()
declare -gA SMSTUDIO_PENDING_ERROR=()
step_start() {
  local name="$1" error="$2"; shift 2
  budgeted_start "$name" "$@"
  SMSTUDIO_PENDING+=("$name")
  SMSTUDIO_PENDING_ERROR[$name]="$error"
}
# background_later NAME COMMAND...: run_background, once the steps started side by side
# are done (background work would only slow them down: app starts have few CPUs).
declare -ga SMSTUDIO_LATER=()
background_later() { SMSTUDIO_LATER+=("$(printf '%q ' "$@")"); }
steps_wait() {
  local name later
  for name in "${SMSTUDIO_PENDING[@]}"; do
    budgeted_finish "$name" || log_error "${SMSTUDIO_PENDING_ERROR[$name]}"
  done
  SMSTUDIO_PENDING=()
  for later in "${SMSTUDIO_LATER[@]}"; do
    eval "run_background $later"
  done
  SMSTUDIO_LATER=()
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
  step_start apt "apt: see the lines above; the app starts without the packages named there" \
    "$(smstudio_budget "$SMSTUDIO_APT_BUDGET")" apt_install "$list"
}

# git identity and token helper, then the team's repositories cloned on first start. With
# every repository already on the home there is nothing to wait for: it runs in the
# background once the other steps are done (long before anyone opens a terminal).
step_git() {
  local repos=() py url name missing=0
  if [ -z "$SMSTUDIO_PYTHON" ]; then return 0; fi
  py="$(smstudio_py studio.py)" || return 0
  read -ra repos <<<"$SMSTUDIO_GIT_REPOS"
  for url in "${repos[@]}"; do
    name="${url%/}"; name="${name##*/}"; name="${name%.git}"
    if [ ! -e "$HOME/$name" ]; then missing=1; fi
  done
  # starter content from a git repository still to fetch: it needs the token helper first
  if [[ "$SMSTUDIO_STARTER" == https://* ]] && [ ! -e "$SMSTUDIO_STATE/starter-done" ]; then
    missing=1
  fi
  local setup=("$SMSTUDIO_PYTHON" "$py" git-setup --host "$SMSTUDIO_GIT_HOST"
               --username "$SMSTUDIO_GIT_USERNAME" "${repos[@]}")
  if [ "$missing" -eq 0 ]; then
    background_later git "${setup[@]}"
  else
    step_start git "git: setup failed; see ~/.smstudio/logs/git.log" "$(smstudio_budget 15)" \
      "${setup[@]}"
  fi
}

step_home_usage() {
  local py
  if [ -n "$SMSTUDIO_PYTHON" ] && py="$(smstudio_py studio.py)"; then
    background_later home-usage "$SMSTUDIO_PYTHON" "$py" home-usage \
      --every "$SMSTUDIO_HOME_USAGE_SECONDS"
  fi
}

step_idle_checker() {
  local py
  if [ -z "$SMSTUDIO_IDLE_MINUTES" ] || [ -z "$SMSTUDIO_PYTHON" ]; then
    log_info "idle: no idle shutdown configured for this app"
    return 0
  fi
  py="$(smstudio_py studio.py)" || return 0
  background_later idle "$SMSTUDIO_PYTHON" "$py" idle-watch \
    --minutes "$SMSTUDIO_IDLE_MINUTES"
}

# SSH from the laptop (the image's ssh/start.sh): sshd on 127.0.0.1, SSM registration.
step_ssh() {
  local script=/opt/smstudio/ssh/start.sh
  if [ ! -x "$script" ]; then
    log_info "ssh: no $script in this image, no SSH"
    return 0
  fi
  step_start ssh "ssh: not ready; see ~/.smstudio/logs/ssh.log and sshd.log" \
    "$(smstudio_budget 30)" env SMSTUDIO_SSM_ROLE="$SMSTUDIO_SSM_ROLE" "$script"
}

# Studio Classic has no Docker: the user's own engine on the team's host, as the docker
# context studio-remote (ssh through SSM; the image's ssh/docker_remote.py).
step_docker_remote() {
  local script=/opt/smstudio/ssh/docker_remote.py
  if [ -z "$SMSTUDIO_DOCKER_REMOTE_HOST" ] || [ ! -f "$script" ] || [ -z "$SMSTUDIO_PYTHON" ]; then
    log_info "docker: no remote engine host for this team (or no $script): no studio-remote context"
    return 0
  fi
  steps_wait  # after the steps before it (SSH among them)
  run_budgeted docker "$(smstudio_budget 60)" env SMSTUDIO_DOCKER_REMOTE_HOST="$SMSTUDIO_DOCKER_REMOTE_HOST" \
    "$SMSTUDIO_PYTHON" "$script" \
    || log_error "docker: no studio-remote context; see ~/.smstudio/logs/docker.log"
}

# The team's starter content, copied once into a new home (never over a user's files),
# after git is set up (a private repository is fetched with the user's token).
step_starter() {
  local py
  if [ -z "$SMSTUDIO_STARTER" ] || [ -z "$SMSTUDIO_PYTHON" ]; then return 0; fi
  if [ -e "$SMSTUDIO_STATE/starter-done" ]; then
    log_info "starter: already in this home ($(cat "$SMSTUDIO_STATE/starter-done"))"
    return 0
  fi
  py="$(smstudio_py starter.py)" || return 0
  steps_wait
  run_budgeted starter "$(smstudio_budget "$SMSTUDIO_STARTER_BUDGET")" \
    "$SMSTUDIO_PYTHON" "$py" "$SMSTUDIO_STARTER" \
    || log_error "starter: not copied this time; see ~/.smstudio/logs/starter.log (tried again at the next start)"
}

step_hooks() {
  local hooks=() hook status
  steps_wait  # hooks run once packages, git and SSH are done
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
