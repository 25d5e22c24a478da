"""Run code in a Jupyter kernel over a server's REST and websocket APIs (JupyterLab
spaces and kernel gateways speak the same kernel protocol)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import requests
import websocket

from smstudio.core.errors import SmstudioError


def websocket_url(base: str, path: str) -> str:
    """A websocket URL on the server at `base` (http -> ws, https -> wss)."""
    scheme, rest = base.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"


def xsrf_headers(session: requests.Session) -> dict[str, str]:
    """What a state-changing request carries: the _xsrf cookie back as a header."""
    xsrf = session.cookies.get("_xsrf")
    return {"X-XSRFToken": xsrf} if xsrf else {}


def cookie_header(session: requests.Session) -> str:
    """The session's cookies, for a websocket's Cookie header."""
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


def execute(
    ws_url: str, code: str, timeout: float = 60, headers: dict[str, str] | None = None
) -> str:
    """Run code on a kernel's channels websocket; the text/plain of its execute_result
    (or its printed output when there is no result)."""
    ws = websocket.create_connection(ws_url, timeout=timeout, header=headers or {})
    try:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "smstudio",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "buffers": [],
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                    },
                }
            )
        )
        printed: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg: dict[str, Any] = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_result":
                return str(content["data"]["text/plain"])
            if kind == "stream":
                printed.append(content["text"])
            if kind == "error":
                raise SmstudioError(f"the kernel raised {content['ename']}: {content['evalue']}")
            if kind == "status" and content.get("execution_state") == "idle" and printed:
                return "".join(printed).rstrip("\n")
        raise SmstudioError(f"no result from the kernel within {timeout:.0f}s")
    finally:
        ws.close()


def run_in_server(
    base_url: str,
    code: str,
    kernel: str = "python3",
    timeout: float = 60,
    session: requests.Session | None = None,
) -> str:
    """Start a kernel on a Jupyter server (e.g. http://127.0.0.1:PORT/jupyterlab/default),
    run code, shut the kernel down. `session`: one holding the cookies that let it in
    (the local Studio's app login, from following a presigned URL)."""
    session = session or requests.Session()
    if "_xsrf" not in session.cookies:  # a page load sets it, as in a browser
        session.get(f"{base_url}/lab", timeout=10)
    headers = xsrf_headers(session)
    started = session.post(
        f"{base_url}/api/kernels", json={"name": kernel}, headers=headers, timeout=30
    )
    if started.status_code != 201:
        raise SmstudioError(
            f"could not start a {kernel} kernel: HTTP {started.status_code} {started.text[:200]}"
        )
    kernel_id = started.json()["id"]
    ws_url = websocket_url(base_url, f"/api/kernels/{kernel_id}/channels")
    try:
        return execute(ws_url, code, timeout, headers={"Cookie": cookie_header(session)})
    finally:
        session.delete(f"{base_url}/api/kernels/{kernel_id}", headers=headers, timeout=10)
