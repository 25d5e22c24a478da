"""The door to an app (smstudio.local.gate), against a real HTTP server on a Unix socket:
nothing without the cookie, the cookie only through a one-time login, every request
checked on a connection of its own, and no app cookie ever reaching an app."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests

from smstudio.local import gate


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"path": self.path, "cookie": self.headers.get("Cookie", ""),
                           "connection": self.headers.get("Connection", "")}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.headers.get("Connection", "").lower() == "close":
            self.close_connection = True

    do_POST = do_GET


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def door(tmp_path: Path) -> Iterator[gate.Gate]:
    path = str(tmp_path / "app.sock")
    server = UnixServer(path, Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    opened = gate.Gate("arn:aws:sagemaker:us-east-1:1:app/d-1/alice-space/jupyterlab/default", path)
    try:
        yield opened
    finally:
        opened.close()
        server.shutdown()
        server.server_close()


def test_nothing_without_the_login(door: gate.Gate) -> None:
    base = f"http://127.0.0.1:{door.port}"
    refused = requests.get(f"{base}/jupyterlab/default/api/status", timeout=5)
    assert refused.status_code == 403 and "presigned URL" in refused.text
    forged = requests.get(f"{base}/x", cookies={door.name: "guess"}, timeout=5)
    assert forged.status_code == 403
    assert requests.get(f"{base}{gate.LOGIN}?grant=made-up&next=/x", timeout=5).status_code == 403


def test_a_login_opens_it_once_and_every_request_is_checked(door: gate.Gate) -> None:
    browser = requests.Session()
    url = door.login_url("/jupyterlab/default/lab")
    landed = browser.get(url, timeout=5)
    assert landed.status_code == 200 and landed.json()["path"] == "/jupyterlab/default/lab"
    assert requests.get(url, timeout=5).status_code == 403  # the grant is used
    # another app's cookie in the same browser (cookies ignore ports) is never passed on
    browser.cookies.set("smstudio-app-0123456789ab", "other-apps-secret")
    browser.cookies.set("_xsrf", "jupyters-own")
    seen = browser.get(f"http://127.0.0.1:{door.port}/api/kernels", timeout=5).json()
    assert seen["cookie"] == "_xsrf=jupyters-own"
    assert seen["connection"].lower() == "close"  # the next request comes on a new connection
    posted = browser.post(f"http://127.0.0.1:{door.port}/api/kernels", data=b"x" * 100000, timeout=5)
    assert posted.status_code == 200
    # a second request on a connection that was let in is not passed on unchecked
    with socket.create_connection(("127.0.0.1", door.port)) as raw:
        cookie = f"{door.name}={browser.cookies[door.name]}"
        raw.sendall(f"GET /a HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"
                    "GET /b HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # fmt: skip
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.count(b"HTTP/1.1 200") == 1 and b'"/a"' in answer and b'"/b"' not in answer


def test_login_goes_only_to_a_path_of_the_app(door: gate.Gate) -> None:
    url = door.login_url("//evil.example/")
    assert requests.get(url, timeout=5, allow_redirects=False).status_code == 403
