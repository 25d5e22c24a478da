#!/usr/bin/env bash
# sshd for the app's own user, the way smstudio's SSH expects it: on 127.0.0.1 only (the
# laptop comes in through SSM, or through the container in the local Studio), public keys
# only, no root login, host keys kept on the home so the key a laptop pinned stays valid
# across restarts, and the session's environment the same as a notebook terminal's
# (the app's AWS_* and SAGEMAKER_* variables included, so aws, git and docker work).
# Run by the lifecycle scripts at every start; safe to run again (restarts sshd).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${SMSTUDIO_SSHD_PORT:-2222}"
state="${HOME}/.smstudio/ssh"
run=/tmp/smstudio-sshd
umask 077
mkdir -p "$state" "$run" "${HOME}/.smstudio/logs"
if [ ! -s "$state/ssh_host_ed25519_key" ]; then
  ssh-keygen -q -t ed25519 -N "" -C "smstudio host key" -f "$state/ssh_host_ed25519_key"
fi
touch "$state/authorized_keys"
chmod 600 "$state/authorized_keys"

{
  echo "ListenAddress 127.0.0.1"
  echo "Port $port"
  echo "HostKey $state/ssh_host_ed25519_key"
  echo "PidFile $run/sshd.pid"
  echo "AuthorizedKeysFile $state/authorized_keys .ssh/authorized_keys"
  # keys stored for SageMaker's remote access, read at each login (root-owned script)
  if [ -x "$here/authorized_keys.py" ] && [ "$(stat -c %u "$here/authorized_keys.py")" = 0 ]; then
    echo "AuthorizedKeysCommand $here/authorized_keys.py %u"
    echo "AuthorizedKeysCommandUser $(id -un)"
  fi
  echo "PasswordAuthentication no"
  echo "KbdInteractiveAuthentication no"
  echo "PubkeyAuthentication yes"
  echo "PermitRootLogin no"
  echo "AllowUsers $(id -un)"
  echo "UsePAM no"
  echo "AllowTcpForwarding local"
  echo "X11Forwarding no"
  echo "PrintMotd no"
  echo "Subsystem sftp internal-sftp"
  # The app's environment, for every session (sshd would otherwise start from nothing);
  # one SetEnv line: sshd keeps only the first.
  printf 'SetEnv'
  while IFS='=' read -r -d '' name value; do
    case "$name" in
      AWS_*|SAGEMAKER_*|PATH|VIRTUAL_ENV|LANG|SHELL|PIP_*|REQUESTS_CA_BUNDLE|JUPYTER_*)
        printf ' %s="%s"' "$name" "${value//\"/}" ;;
    esac
  done < <(env -0)
  # VS Code's server unpacks with tar; EFS homes refuse the ownership it would keep.
  printf ' TAR_OPTIONS="--no-same-owner"\n'
} >"$run/sshd_config"
# The app's AWS settings (container credentials, endpoints, region, CA bundle) for the
# AuthorizedKeysCommand, which sshd starts with nothing of them; 0600, like the rest.
env | grep -E '^(AWS_[A-Z_]+|REQUESTS_CA_BUNDLE)=' >"$run/aws.env" || true

if [ -s "$run/sshd.pid" ] && kill -0 "$(cat "$run/sshd.pid")" 2>/dev/null; then
  kill "$(cat "$run/sshd.pid")"
  sleep 0.2
fi
/usr/sbin/sshd -f "$run/sshd_config" -E "${HOME}/.smstudio/logs/sshd.log" </dev/null >/dev/null 2>&1
fingerprint="$(ssh-keygen -l -f "$state/ssh_host_ed25519_key.pub" | awk '{print $2}')"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) INFO ssh: sshd on 127.0.0.1:$port for $(id -un), host key $fingerprint"
