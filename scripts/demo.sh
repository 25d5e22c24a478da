#!/usr/bin/env bash
# The main job, on the local Studio: set up the host, make the offline local base, build
# the default images (base, kernelgateway, jupyterlab) and check each against the Studio
# contract, start the local Studio, apply the example team as the platform admin, then as
# alice (her own role, nothing more) bring up her JupyterLab space, run code in a kernel
# there (and reach the space's own Docker engine), and print the URL that opens it.
# Idempotent: a second run reuses the base, the build cache, the Studio and the space.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-host.sh
smstudio=.venv/bin/smstudio
team=bootstrap/team.example.toml

"$smstudio" images local-base
"$smstudio" images build --local-base default
for image in base kernelgateway jupyterlab; do
  "$smstudio" images check --docker "smstudio/${image}:dev"
done

"$smstudio" local up
eval "$("$smstudio" local env)"               # the platform admin
"$smstudio" apply --team "$team" --tag dev --yes
eval "$("$smstudio" local env --user alice --team "$team")"   # alice, from her laptop
"$smstudio" whoami --team "$team"
url="$("$smstudio" up alice --team "$team")"
"$smstudio" run alice --team "$team" \
  'import platform, getpass; f"{getpass.getuser()} runs Python {platform.python_version()} in Studio"'
# the team file turns Docker access on: alice's space has an engine of its own
"$smstudio" run alice --team "$team" \
  'import subprocess; subprocess.run(["docker", "info", "--format", "Docker {{.ServerVersion}} in the space ({{.Driver}} storage)"], capture_output=True, text=True).stdout.strip()'
# a command in her running space, through its terminal (its output and exit code);
# the quoted words are expanded there, not here
# shellcheck disable=SC2016
"$smstudio" exec alice --team "$team" -- 'echo "$(id -un) has $(ls -A ~ | wc -l) entries in $HOME"'
"$smstudio" status --team "$team"
echo
echo "alice's JupyterLab (one-time link): $url"
echo "a fresh link any time: $smstudio open alice; stop it: $smstudio down alice; the Studio: $smstudio local down"
