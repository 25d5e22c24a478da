#!/usr/bin/env bash
# The main job on the local machine: set up the host, make the offline local base,
# build the default images (base, kernelgateway, jupyterlab) and check each one against
# the Studio contract. Idempotent: a second run reuses the base and the build cache.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-host.sh
smstudio=.venv/bin/smstudio
"$smstudio" images local-base
"$smstudio" images build --local-base default
for image in base kernelgateway jupyterlab; do
  "$smstudio" images check "smstudio/${image}:dev"
done
"$smstudio" images list
