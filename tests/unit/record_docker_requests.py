"""Record what the docker CLI sends for each command of COMMANDS, for the proxy's unit
tests (tests/unit/data/docker_requests.json). A Unix-socket server answers `_ping` as an
API 1.41 engine, a container inspect as a running container, and refuses everything else;
its first refused request per command is the one recorded.

    python tests/unit/record_docker_requests.py   # needs a docker CLI on PATH
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "data/docker_requests.json"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
COMMANDS = [
    f"docker run --rm --network sagemaker -p 8080:8080 -v /home/sagemaker-user/data:/data {ECR}/smstudio/base:test true",
    "docker run --rm busybox true",
    "docker run --rm --privileged --network sagemaker busybox true",
    "docker run --rm --network bridge busybox true",
    "docker run --rm --network sagemaker -v /var/run/docker.sock:/var/run/docker.sock busybox true",
    "docker build --network sagemaker -t x ctx",
    "docker build -t x ctx",
    f"docker pull {ECR}/smstudio/base:test",
    "docker pull python:3.11",
    "docker push 999999999999.dkr.ecr.us-east-1.amazonaws.com/x:1",
    "docker network create mynet",
    "docker version",
    "DOCKER_BUILDKIT=1 docker build -t x ctx",
    "docker run --rm --network sagemaker --device /dev/null busybox true",
    "docker exec --privileged abc true",
    "docker exec abc true",
]  # fmt: skip


def reply(conn: socket.socket, status: str, body: bytes, kind: str, extra: str = "") -> None:
    conn.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
        + body
    )


def handle(conn: socket.socket, records: list[dict[str, Any]]) -> None:
    reader = conn.makefile("rb")
    line = reader.readline().decode().rstrip()
    if not line:
        return
    headers = {}
    while header := reader.readline().decode().rstrip("\r\n"):
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = reader.read(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", ""):
        while size := int(reader.readline().split(b";")[0].strip() or b"0", 16):
            body += reader.read(size)
            reader.readline()
    method, target, _ = line.split(" ", 2)
    if target.endswith("/_ping"):
        reply(conn, "200 OK", b"OK", "text/plain", "Api-Version: 1.41\r\nOstype: linux\r\n")
    elif target.endswith("/containers/abc/json"):
        reply(conn, "200 OK", b'{"Id":"abc","State":{"Running":true},"Config":{}}', "application/json")
    else:
        is_json = headers.get("content-type", "").startswith("application/json")
        records.append({"method": method, "target": target,
                        "body": json.loads(body) if is_json and body else None})  # fmt: skip
        reply(conn, "500 Internal Server Error", b'{"message":"recorded"}', "application/json")
    conn.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/docker.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(8)
        records: list[dict[str, Any]] = []

        def loop() -> None:
            while True:
                conn, _ = server.accept()
                handle(conn, records)

        threading.Thread(target=loop, daemon=True).start()
        (Path(folder) / "ctx").mkdir()
        (Path(folder) / "ctx/Dockerfile").write_text("FROM x\n")
        recorded = []
        for command in COMMANDS:
            env = {**os.environ, "DOCKER_HOST": f"unix://{path}", "DOCKER_BUILDKIT": "0"}
            before = len(records)
            subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True,
                           timeout=60, check=False)  # fmt: skip
            found = records[before:]
            if found:
                recorded.append({"command": command, **found[0]})
    OUT.write_text(json.dumps({"_about": __doc__.split("\n\n")[0], "requests": recorded}, indent=1) + "\n")
    print(f"{len(recorded)} requests recorded in {OUT}")


if __name__ == "__main__":
    main()
