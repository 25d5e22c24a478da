#!/usr/bin/env bash
# SSH into this app, at every start (run by the lifecycle scripts): sshd on 127.0.0.1,
# then the app registered with SSM (its earlier registration removed). Each part logs
# one line; a failure is logged and reported in the exit status, never hangs.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
status=0
"$here/start-sshd.sh" || status=$?
python=/opt/smstudio/venv/bin/python
[ -x "$python" ] || python=python3
"$python" "$here/ssm_register.py" || status=$?
exit "$status"
