#!/bin/bash
# A Docker engine for Studio, in one of three modes (SMSTUDIO_ENGINE_MODE):
#  app     an app's native Docker access (the local Studio): dockerd with no bridge (the
#          only network is the app's, which containers join as `--network sagemaker`),
#          Studio's Docker proxy on the socket the app sees as /docker/proxy.sock;
#  remote  a user's remote engine (Studio Classic): dockerd with its own bridge, the proxy
#          with the remote rules (no privileges, devices or host paths) on /proxy;
#  door    the door to a remote engine: sshd on 127.0.0.1:22 (keys only; each key's
#          command is the stdio bridge to the engine's proxy), registered with SSM as a
#          managed instance tagged with its user.
# ECR's host names resolve to 127.0.0.1 where the registry is relayed (the local Studio).
set -euo pipefail
code=/opt/smstudio-engine
mode="${SMSTUDIO_ENGINE_MODE:-app}"
registry=/opt/ml/local-endpoint/registry.sock

start_dockerd() {
  rm -f /var/run/docker.sock /var/run/docker.pid
  if [ -S "$registry" ]; then
    python3 "$code/relay.py" "tcp:80=unix:$registry" &
  fi
  dockerd --host unix:///var/run/docker.sock "$@" >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 300); do
    [ -S /var/run/docker.sock ] && return 0
    sleep 0.05
  done
  echo "dockerd did not start:" >&2
  tail -20 /var/log/dockerd.log >&2
  exit 1
}

case "$mode" in
  app)
    start_dockerd --bridge none --iptables=false --ip6tables=false --storage-driver overlay2
    rm -f /proxy/proxy.sock
    exec python3 "$code/dockerproxy.py" /proxy/proxy.sock /var/run/docker.sock "$SMSTUDIO_DOCKER_RULES"
    ;;
  remote)
    start_dockerd --storage-driver overlay2
    rm -f /proxy/proxy.sock
    exec python3 "$code/dockerproxy.py" /proxy/proxy.sock /var/run/docker.sock "$SMSTUDIO_DOCKER_RULES"
    ;;
  door)
    install -d -m 0700 /root/.ssh /run/sshd
    touch /root/.ssh/authorized_keys && chmod 0600 /root/.ssh/authorized_keys
    ssh-keygen -A >/dev/null
    cat >/etc/ssh/sshd_config.d/smstudio.conf <<CONF
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
CONF
    if [ -d /door ]; then  # the local Studio's stand-in for the Session Manager data channel
      rm -f /door/ssh.sock
      python3 "$code/relay.py" "unix:/door/ssh.sock=tcp:22" &
    fi
    if command -v amazon-ssm-agent >/dev/null && [ -n "${SMSTUDIO_ACTIVATION_ID:-}" ]; then
      if [ ! -s /var/lib/amazon/ssm/registration ]; then
        amazon-ssm-agent -register -y -id "$SMSTUDIO_ACTIVATION_ID" \
          -code "$SMSTUDIO_ACTIVATION_CODE" -region "$SMSTUDIO_REGION"
      fi
      amazon-ssm-agent >/var/log/amazon-ssm-agent.log 2>&1 &
    fi
    exec /usr/sbin/sshd -D -e
    ;;
  *)
    echo "unknown SMSTUDIO_ENGINE_MODE $mode: app, remote or door" >&2
    exit 2
    ;;
esac
