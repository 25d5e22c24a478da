"""The Code Editor image's front (images/codeeditor/front.py), on 127.0.0.1: code-server
gets paths without Studio's base path; AWS's sagemaker-code-editor, which serves under it
itself, gets them whole (`--keep-prefix`); the idle check is answered by the front."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from tests.helpers import wait_for

FRONT = Path(__file__).resolve().parents[2] / "images/codeeditor/front.py"


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        Recorder.seen.append(self.path)
        body = b"editor"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def front(*extra: str) -> Iterator[str]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(FRONT), "--port", str(port), "--upstream",
                             f"127.0.0.1:{upstream.server_address[1]}", *extra])  # fmt: skip
    url = f"http://127.0.0.1:{port}/codeeditor/default"
    try:
        wait_for(lambda: _answers(url), 10, "the front listening")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        upstream.shutdown()
        upstream.server_close()


def _answers(url: str) -> bool | None:
    try:
        return requests.get(f"{url}/api/idle", timeout=1).status_code == 200 or None
    except requests.ConnectionError:
        return None


@pytest.mark.parametrize(("extra", "wanted"), [((), "/static/x.js?v=1"),
                                                (("--keep-prefix",), "/codeeditor/default/static/x.js?v=1")])  # fmt: skip
def test_paths_reach_the_server_as_it_serves_them(extra: tuple[str, ...], wanted: str) -> None:
    Recorder.seen = []
    with front(*extra) as url:
        answer = requests.get(f"{url}/static/x.js?v=1", timeout=5)
        assert answer.status_code == 200 and answer.text == "editor"
        assert Recorder.seen == [wanted]
        idle = requests.get(f"{url}/api/idle", timeout=5).json()
        assert set(idle) == {"lastActiveTimestamp"} and Recorder.seen == [wanted]
