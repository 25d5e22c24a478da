"""The local Studio's stand-in for AWS's Session Manager plugin.

`aws ssm start-session` (the AWS CLI) calls StartSession, then runs
`session-manager-plugin RESPONSE REGION StartSession PROFILE PARAMETERS ENDPOINT`, with
RESPONSE (SessionId, TokenValue, StreamUrl) in the environment variable it names. The
real plugin opens the WebSocket data channel to the SSM agent in the instance; this one
asks the local control plane which app and port the session reaches (with the session's
token, as the data channel would) and carries stdin/stdout to that port inside the app's
container. Used only when SSH goes to the local Studio (`smstudio ssh proxy` puts it
first on PATH then); AWS's own plugin is never shadowed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

VERSION = "1.2.764.0"  # what it reports: AWS CLI's recommended minimum, env-var response
LABEL = "io.smstudio.app-arn"  # smstudio.local.runtime.LABEL (not imported: start-up time)

# Runs in the container with its python3: stdin/stdout <-> 127.0.0.1:PORT there.
BRIDGE = (
    "import os,socket,sys,threading\n"
    "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
    "def up():\n"
    "    while (d:=os.read(0,65536)):\n"
    "        s.sendall(d)\n"
    "    s.shutdown(socket.SHUT_WR)\n"
    "threading.Thread(target=up,daemon=True).start()\n"
    "while (d:=s.recv(65536)):\n"
    "    os.write(1,d)\n"
)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print(VERSION)
        return 0
    if len(argv) < 6 or argv[2] != "StartSession":
        print("usage: session-manager-plugin RESPONSE REGION StartSession PROFILE "
              "PARAMETERS ENDPOINT (run by `aws ssm start-session`)", file=sys.stderr)  # fmt: skip
        return 2
    import requests  # here, not at the top: `--version` is asked on every connection

    raw = os.environ.get(argv[0], argv[0])
    response = json.loads(raw)
    endpoint = argv[5]
    answer = requests.post(
        f"{endpoint}/_local/ssm/stream",
        json={"SessionId": response["SessionId"], "TokenValue": response["TokenValue"]},
        timeout=10,
    )
    if answer.status_code != 200:
        print(f"session {response['SessionId']}: {answer.json().get('message')}", file=sys.stderr)
        return 1
    stream = answer.json()
    found = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label={LABEL}={stream['AppArn']}"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if not found:
        print(f"session {response['SessionId']}: the app is not running", file=sys.stderr)
        return 1
    command = ["docker", "exec", "-i", found[0], "python3", "-c", BRIDGE, str(stream["Port"])]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
