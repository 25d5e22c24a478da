#!/bin/bash
# The local Studio's Docker engine for one app: dockerd on its own socket (no bridge: the
# only network is the app's, which containers join as `--network sagemaker`), ECR's host
# names relayed to the local registry, and Studio's Docker proxy in front, on the socket
# the app sees as /docker/proxy.sock. The proxy's code and rules come from the runtime.
set -euo pipefail
code=/opt/smstudio-engine
rm -f /var/run/docker.sock /var/run/docker.pid /proxy/proxy.sock
# ECR host names resolve to 127.0.0.1 (the app's hosts file): port 80 there is the registry
python3 "$code/relay.py" "tcp:80=unix:/opt/ml/local-endpoint/registry.sock" &
dockerd --host unix:///var/run/docker.sock --bridge none --iptables=false --ip6tables=false \
  --storage-driver overlay2 >/var/log/dockerd.log 2>&1 &
for _ in $(seq 1 300); do
  [ -S /var/run/docker.sock ] && break
  sleep 0.05
done
if [ ! -S /var/run/docker.sock ]; then
  echo "dockerd did not start:" >&2
  tail -20 /var/log/dockerd.log >&2
  exit 1
fi
exec python3 "$code/dockerproxy.py" /proxy/proxy.sock /var/run/docker.sock "$SMSTUDIO_DOCKER_RULES"
