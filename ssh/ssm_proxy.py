#!/usr/bin/env python3
"""ssh's ProxyCommand inside a Studio app: a Session Manager session (AWS-StartSSHSession)
to a managed instance, with the app's own credentials, as stdin/stdout.

    ProxyCommand python3 /opt/smstudio/ssh/ssm_proxy.py %h 22

In AWS the session goes through AWS's session-manager-plugin (in the image when it was
built with the plugin); in the local Studio its data channel is the AWS endpoint's own
(an upgraded connection piped to the instance). IAM decides whose instances the app may
reach: for a user's Docker engine, only its own user's (SSHOwner).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from urllib.parse import quote, urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def local_endpoint() -> tuple[str, int] | None:
    url = os.environ.get("AWS_ENDPOINT_URL_SSM") or os.environ.get("AWS_ENDPOINT_URL", "")
    parsed = urlparse(url)
    if url and parsed.hostname == "127.0.0.1":
        return "127.0.0.1", parsed.port or 80
    return None


def pipe_local(where: tuple[str, int], session: dict[str, str]) -> int:
    sock = socket.create_connection(where, timeout=10)
    query = f"SessionId={quote(session['SessionId'])}&TokenValue={quote(session['TokenValue'])}"
    sock.sendall(
        f"GET /_local/ssm/connect?{query} HTTP/1.1\r\nHost: {where[0]}:{where[1]}\r\n"
        "Connection: Upgrade\r\nUpgrade: smstudio-ssm\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            break
        head += data
    status, _, rest = head.partition(b"\r\n\r\n")
    if not status.startswith(b"HTTP/1.1 101") and not status.startswith(b"HTTP/1.0 101"):
        print(f"ssm_proxy: the session was refused: {rest.decode(errors='replace')[:300]}",
              file=sys.stderr)  # fmt: skip
        return 1
    sock.settimeout(None)

    def up() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(0, 65536):
                sock.sendall(data)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=up, daemon=True).start()
    if rest:
        os.write(1, rest)
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            os.write(1, data)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: ssm_proxy.py INSTANCE_ID PORT (ssh's ProxyCommand)", file=sys.stderr)
        return 2
    target, port = argv
    ssm = boto3.session.Session().client("ssm")
    parameters = {"portNumber": [port]}
    try:
        session = ssm.start_session(
            Target=target, DocumentName="AWS-StartSSHSession", Parameters=parameters
        )
    except (ClientError, BotoCoreError) as exc:
        print(f"ssm_proxy: no session to {target}: {exc}", file=sys.stderr)
        return 1
    where = local_endpoint()
    if where is not None:
        return pipe_local(where, session)
    plugin = shutil.which("session-manager-plugin")
    if plugin is None:
        print("ssm_proxy: no session-manager-plugin in this image (build it with the plugin)",
              file=sys.stderr)  # fmt: skip
        return 1
    region = ssm.meta.region_name
    response = {k: session[k] for k in ("SessionId", "StreamUrl", "TokenValue")}
    request = {"Target": target, "DocumentName": "AWS-StartSSHSession", "Parameters": parameters}
    return subprocess.call([plugin, json.dumps(response), region, "StartSession", "",
                            json.dumps(request), ssm.meta.endpoint_url])  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
