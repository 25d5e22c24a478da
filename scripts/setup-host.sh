#!/usr/bin/env bash
# Host setup for smstudio, shared by both README commands. Idempotent:
#  - installs what is missing on Debian/Ubuntu (Docker engine with BuildKit named contexts,
#    the Docker client, buildx, the distribution registry, debootstrap);
#  - starts dockerd in the background when it is not answering, and waits for its socket;
#  - creates the project virtualenv (.venv) with the package and its dev tools;
#  - with --browser, installs headless Chromium (Debian's chromium) for the tests that open
#    Studio's pages in a real browser.
# On other systems it prints exactly what to install and exits non-zero.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

VENV="${SMSTUDIO_VENV:-$here/.venv}"
log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root for: $* (run as root or install sudo)"; fi
}

buildx_ok() { docker buildx version >/dev/null 2>&1; }
engine_new_enough() {
  # BuildKit named contexts (bake `contexts = { base = "target:base" }`) need engine >= 23.
  local v
  v="$(docker version --format '{{.Server.Version}}' 2>/dev/null)" || return 1
  [ "${v%%.*}" -ge 23 ]
}

install_debian_packages() {
  [ -r /etc/os-release ] || die "unknown system; install Docker Engine >= 23 with buildx, the distribution registry and debootstrap"
  # shellcheck disable=SC1091
  . /etc/os-release
  case "${ID:-}:${ID_LIKE:-}" in
    debian:*|ubuntu:*|*:*debian*) ;;
    *) die "unsupported system ${PRETTY_NAME:-?}: install Docker Engine >= 23 with the buildx plugin, the distribution registry ('registry' binary) and debootstrap, then re-run";;
  esac
  local need=()
  command -v dockerd >/dev/null || need+=(docker)
  # Debian's docker.io ships no client: that is docker-cli (a docker in /usr/local/bin, as
  # some machines have, is used as it is).
  command -v docker >/dev/null || need+=(cli)
  [ -x /usr/libexec/docker/cli-plugins/docker-buildx ] || [ -x /usr/lib/docker/cli-plugins/docker-buildx ] \
    || buildx_ok || need+=(buildx)
  command -v docker-registry >/dev/null || need+=(registry)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v ssh >/dev/null || need+=(ssh)    # smstudio ssh / forward, the laptop side
  command -v curl >/dev/null || need+=(curl)  # images/base/fetch-verified.sh, in the tests
  [ "${#need[@]}" -eq 0 ] && return 0
  log "installing: ${need[*]}"
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    # bookworm's docker.io (20.10) lacks BuildKit named contexts: take trixie's engine and
    # buildx, pinned low so nothing else is upgraded from trixie.
    if [ ! -f /etc/apt/sources.list.d/smstudio-trixie.sources ]; then
      as_root tee /etc/apt/sources.list.d/smstudio-trixie.sources >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
      as_root tee /etc/apt/preferences.d/smstudio-trixie >/dev/null <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    fi
  fi
  as_root apt-get update -qq
  local pkgs=()
  for n in "${need[@]}"; do
    case "$n" in
      docker) if [ "${VERSION_CODENAME:-}" = bookworm ]; then pkgs+=(docker.io/trixie); else pkgs+=(docker.io); fi;;
      cli) case "${ID:-}:${VERSION_CODENAME:-}" in
             debian:bookworm) pkgs+=(docker-cli/trixie);;
             debian:*) pkgs+=(docker-cli);;
             *) pkgs+=(docker.io);;  # Ubuntu's docker.io carries the client
           esac;;
      buildx) if [ "${VERSION_CODENAME:-}" = bookworm ]; then pkgs+=(docker-buildx/trixie); else pkgs+=(docker-buildx); fi;;
      registry) pkgs+=(docker-registry);;
      debootstrap) pkgs+=(debootstrap);;
      ssh) pkgs+=(openssh-client);;
      curl) pkgs+=(curl);;
    esac
  done
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
    "${pkgs[@]}" iptables ca-certificates >&2
  # The distribution registry's own service is not wanted: smstudio runs its own instance.
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null || die "dockerd not found after install"
  log "starting dockerd"
  mkdir -p /var/log/smstudio
  # Without systemd: run in the background, in a session of its own, so ending (or
  # killing) the shell or job that started it leaves it running.
  as_root sh -c 'setsid nohup dockerd >/var/log/smstudio/dockerd.log 2>&1 &'
  local i
  for i in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then log "dockerd ready after ${i}s"; return 0; fi
    sleep 1
  done
  tail -n 30 /var/log/smstudio/dockerd.log >&2 || true
  die "dockerd did not answer within 60s; see /var/log/smstudio/dockerd.log"
}

setup_venv() {
  local stamp="$VENV/.smstudio-installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then return 0; fi
  log "creating virtualenv $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q -e ".[dev]" >&2
  touch "$stamp"
}

install_browser() {
  command -v chromium >/dev/null && return 0
  log "installing: chromium (the tests' browser)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
    chromium fonts-dejavu-core >&2
}

main() {
  local venv=1 browser=0 arg
  for arg in "$@"; do
    case "$arg" in
      --no-venv) venv=0;;
      --browser) browser=1;;
      *) die "unknown option $arg (use --no-venv, --browser)";;
    esac
  done
  install_debian_packages
  start_dockerd
  engine_new_enough || die "Docker Engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) is too old: BuildKit named contexts need >= 23"
  buildx_ok || die "docker buildx is missing: install the buildx plugin (Debian: docker-buildx)"
  if [ "$browser" -eq 1 ]; then install_browser; fi
  if [ "$venv" -eq 1 ]; then setup_venv; fi
}

main "$@"
