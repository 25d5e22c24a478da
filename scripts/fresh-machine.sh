#!/usr/bin/env bash
# The README's two commands on a really fresh machine: a privileged container from the
# offline local base (a debootstrapped Debian bookworm: python3, CA certificates, nothing
# else) with its own dockerd storage volume gets this repository (HEAD, through a git
# bundle, with git as the only thing installed by hand, as anyone who clones would have),
# then runs scripts/demo.sh and scripts/test.sh exactly as the README says. By default the
# test command runs the fast tests (tests/unit); --full runs the whole suite (long: every
# image is built without a cache). The container and its volume are removed on any exit.
#
#   scripts/fresh-machine.sh [--full]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tests=(tests/unit)
if [ "${1:-}" = "--full" ]; then tests=(); fi
base=smstudio/local-base:bookworm
name="smstudio-fresh-$$"
volume="smstudio-fresh-docker-$$"
bundle="$(mktemp -d)"

# shellcheck disable=SC2329  # called by the trap below
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm -f "$volume" >/dev/null 2>&1 || true
  rm -rf "$bundle"
}
trap cleanup EXIT

if ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "fresh-machine: no $base here; run scripts/setup-host.sh and .venv/bin/smstudio images local-base" >&2
  exit 2
fi
git bundle create -q "$bundle/smstudio.bundle" HEAD
docker volume create "$volume" >/dev/null
docker run -d --privileged --name "$name" -v "$volume:/var/lib/docker" \
  --entrypoint sleep "$base" infinity >/dev/null
docker cp "$bundle/smstudio.bundle" "$name:/tmp/smstudio.bundle"
started=$(date +%s)
docker exec "$name" bash -c '
  set -euo pipefail
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends git >/dev/null
  git clone -q /tmp/smstudio.bundle /root/smstudio
  echo "fresh-machine: on $(. /etc/os-release && echo "$PRETTY_NAME"), docker: $(command -v docker || echo none)"
'
status=0
docker exec "$name" bash -c 'cd /root/smstudio && scripts/demo.sh' || status=$?
demo=$(( $(date +%s) - started ))
echo "fresh-machine: scripts/demo.sh exited $status after ${demo}s"
if [ "$status" -eq 0 ]; then
  docker exec "$name" bash -c "cd /root/smstudio && scripts/test.sh ${tests[*]:-}" || status=$?
  echo "fresh-machine: scripts/test.sh ${tests[*]:-} exited $status after $(( $(date +%s) - started - demo ))s"
fi
exit "$status"
