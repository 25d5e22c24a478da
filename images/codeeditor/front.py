#!/usr/bin/env python3
"""The front of a Code Editor space on port 8888, where Studio's proxy sends
`/codeeditor/default/...`: code-server has no base path (its pages use relative URLs and
expect a proxy that strips the prefix), so this strips it and passes each request on to
code-server on 127.0.0.1 (websockets piped both ways; `--keep-prefix` passes paths on
whole, for AWS's sagemaker-code-editor, which serves under the base path itself). It
also answers Studio's idle
check, `GET /codeeditor/default/api/idle` -> {"lastActiveTimestamp": ...}, the latest of:

- a page or API request from the browser (not the idle check itself, not a websocket's
  own traffic, which an open tab keeps up without anyone there);
- the editor's own activity (the smstudio-activity extension touches ACTIVITY_FILE when
  a document changes, the selection moves or a terminal opens);
- now, while a terminal runs a command (a shell of code-server's pty host has a child).

Standard library only: it runs with the image's python3.

    front.py --port 8888 --upstream 127.0.0.1:8889 --base-path /codeeditor/default
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ACTIVITY_FILE = Path("/tmp/.smstudio-editor-activity")
STARTED = time.time()


class Activity:
    def __init__(self) -> None:
        self.last = STARTED
        self.lock = threading.Lock()

    def touch(self) -> None:
        with self.lock:
            self.last = time.time()

    def latest(self) -> float:
        found = [self.last]
        with contextlib.suppress(OSError):
            found.append(ACTIVITY_FILE.stat().st_mtime)
        if busy_terminal():
            found.append(time.time())
        return max(found)


def _children() -> dict[int, list[tuple[int, str]]]:
    kids: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(parent, []).append((int(entry.name), cmdline))
    return kids


def busy_terminal() -> bool:
    """A shell of code-server's pty host running a command."""
    kids = _children()
    hosts = [pid for group in kids.values() for pid, cmd in group if "ptyHost" in cmd]
    shells = [pid for host in hosts for pid, _ in kids.get(host, [])]
    return any(kids.get(shell) for shell in shells)


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_head(reader: Any) -> tuple[str, list[tuple[str, str]]] | None:
    line = reader.readline(65536)
    if not line:
        return None
    headers = []
    while True:
        header = reader.readline(65536).decode("latin-1").rstrip("\r\n")
        if not header:
            break
        name, _, value = header.partition(":")
        headers.append((name.strip(), value.strip()))
    return line.decode("latin-1").rstrip("\r\n"), headers


def header(headers: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in headers if k.lower() == name.lower()), "")


def reply(client: socket.socket, status: str, body: bytes, kind: str, extra: str = "") -> None:
    client.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n{extra}"
        "Connection: close\r\n\r\n".encode() + body
    )


def pump(reader: Any, sink: socket.socket) -> None:
    try:
        while data := reader.read1(65536):
            sink.sendall(data)
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def stream_body(reader: Any, headers: list[tuple[str, str]], sink: socket.socket) -> None:
    if "chunked" in header(headers, "Transfer-Encoding").lower():
        while True:
            size_line = reader.readline(1024)
            sink.sendall(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                sink.sendall(reader.readline(1024))
                return
            sink.sendall(reader.read(size + 2))
    left = int(header(headers, "Content-Length") or 0)
    while left > 0:
        data = reader.read(min(left, 65536))
        if not data:
            return
        sink.sendall(data)
        left -= len(data)


def handle(client: socket.socket, upstream: tuple[str, int], base: str, activity: Activity,
           keep_prefix: bool = False) -> None:
    reader = client.makefile("rb")
    try:
        head = read_head(reader)
        if head is None:
            return
        line, headers = head
        method, target, version = line.split(" ", 2)
        path = target.split("?", 1)[0]
        if path in (f"{base}/api/idle", f"{base}/api/idle/"):
            body = json.dumps({"lastActiveTimestamp": stamp(activity.latest())}).encode()
            reply(client, "200 OK", body, "application/json")
            return
        if path == base:
            reply(client, "302 Found", b"", "text/plain", f"Location: {base}/\r\n")
            return
        if not path.startswith(base + "/"):
            reply(client, "404 Not Found", b"not under " + base.encode(), "text/plain")
            return
        upgrade = "upgrade" in header(headers, "Connection").lower()
        if not upgrade:
            activity.touch()
        rest = target if keep_prefix else target[len(base) :]
        server = socket.create_connection(upstream, timeout=30)
        server.settimeout(None)
        skip = {"connection", "keep-alive", "upgrade"}
        lines = [f"{method} {rest} {version}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in skip]
        if upgrade:
            lines += ["Connection: Upgrade", f"Upgrade: {header(headers, 'Upgrade')}"]
        else:
            lines.append("Connection: close")
        server.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if upgrade:
            threading.Thread(target=pump, args=(reader, server), daemon=True).start()
        else:
            stream_body(reader, headers, server)
        pump(server.makefile("rb"), client)
        server.close()
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            client.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--upstream", default="127.0.0.1:8889")
    parser.add_argument("--base-path", default="/codeeditor/default")
    parser.add_argument("--keep-prefix", action="store_true",
                        help="pass paths on whole (a server with its own base path)")  # fmt: skip
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    activity = Activity()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", args.port))
    listener.listen(128)
    base = args.base_path.rstrip("/")
    while True:
        client, _ = listener.accept()
        threading.Thread(target=handle, args=(client, (host, int(port)), base, activity,
                                              args.keep_prefix), daemon=True).start()  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
