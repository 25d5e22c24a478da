"""The door to one app of the local Studio: a port on 127.0.0.1 that lets a connection
through to the app (its Unix socket) only when it carries the app's session cookie, and
gives that cookie only for a one-time grant made when a presigned URL was followed. So an
app is reached only through its presigned URL, as in Studio, and never by guessing a port.

    GET /_smstudio/login?grant=G&next=/jupyterlab/default/lab
        -> 302 to `next`, Set-Cookie: smstudio-app-<id>=<secret>; HttpOnly

Every request must carry the cookie: a request is passed on with `Connection: close` (so
the next one comes on a new connection, checked again) and without any of the local
Studio's app cookies (an app never sees a cookie that would open another app); a
websocket upgrade is passed on likewise, then the connection is the app's for its frames."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import socket
import threading
import time
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from smstudio.local import relay

LOGIN = "/_smstudio/login"
GRANT_SECONDS = 60.0
MAX_HEAD = 65536


def cookie_name(app_arn: str) -> str:
    return "smstudio-app-" + hashlib.sha256(app_arn.encode()).hexdigest()[:12]


def _without_app_cookies(header: str) -> str:
    """A Cookie header without the local Studio's app cookies (apps never see them)."""
    kept = [c.strip() for c in header.split(";") if c.strip()
            and not c.strip().startswith("smstudio-app-")]  # fmt: skip
    return "; ".join(kept)


def _answer(client: socket.socket, status: str, headers: dict[str, str], body: str = "") -> None:
    data = body.encode()
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()),
             f"Content-Length: {len(data)}", "Connection: close", "", ""]  # fmt: skip
    with contextlib.suppress(OSError):
        client.sendall("\r\n".join(lines).encode() + data)


class Gate:
    def __init__(self, app_arn: str, target: str) -> None:
        self.name = cookie_name(app_arn)
        self.secret = secrets.token_urlsafe(32)
        self.connect = relay.connector(f"unix:{target}")
        self.grants: dict[str, float] = {}
        self.lock = threading.Lock()
        self.listener = relay.listen("tcp:0")
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def login_url(self, landing: str) -> str:
        """A one-time URL that sets the app's cookie and goes on to `landing`."""
        grant = secrets.token_urlsafe(24)
        with self.lock:
            now = time.monotonic()
            self.grants = {g: t for g, t in self.grants.items() if t > now}
            self.grants[grant] = now + GRANT_SECONDS
        return f"http://127.0.0.1:{self.port}{LOGIN}?grant={grant}&next={landing}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(30)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
                chunk = client.recv(65536)
                if not chunk:
                    client.close()
                    return
                head += chunk
        except OSError:
            client.close()
            return
        block, _, body = head.partition(b"\r\n\r\n")
        request_line, _, rest = block.partition(b"\r\n")
        target = [*request_line.split(b" "), b"", b""][1].decode(errors="replace")
        path, _, query = target.partition("?")
        headers: list[tuple[str, str]] = []
        for line in rest.split(b"\r\n"):
            key, _, value = line.decode(errors="replace").partition(":")
            if key.strip():
                headers.append((key.strip(), value.strip()))
        named = {k.lower(): v for k, v in headers}
        if path == LOGIN:
            self._login(client, parse_qs(query))
            return
        if not self._has_cookie(named.get("cookie", "")):
            _answer(client, "403 Forbidden", {"Content-Type": "text/plain"},
                    "This Studio app opens only through its presigned URL: "
                    "run `smstudio open USER` and follow the link.\n")  # fmt: skip
            client.close()
            return
        upgrade = "upgrade" in named.get("connection", "").lower() and "upgrade" in named
        passed = []
        for key, value in headers:
            if key.lower() == "cookie":
                value = _without_app_cookies(value)
                if not value:
                    continue
            if key.lower() == "connection" and not upgrade:
                continue
            passed.append(f"{key}: {value}")
        if not upgrade:
            passed.append("Connection: close")
        forwarded = "\r\n".join([request_line.decode(errors="replace"), *passed]).encode()
        try:
            upstream = self.connect()
            upstream.settimeout(None)
            upstream.sendall(forwarded + b"\r\n\r\n" + body)
            if not upgrade and named.get("transfer-encoding", "").lower() != "chunked":
                self._rest_of_body(
                    client, upstream, int(named.get("content-length") or 0) - len(body)
                )
                client.settimeout(None)
                self._answer_then_close(upstream, client)
                return
        except OSError:
            _answer(client, "502 Bad Gateway", {}, "the app is not answering\n")
            client.close()
            return
        client.settimeout(None)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=relay.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _answer_then_close(upstream: socket.socket, client: socket.socket) -> None:
        """The app's one answer, marked `Connection: close` (the client's next request
        comes on a new connection, and is checked), then the connection ends."""
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                head += chunk
            block, found, rest = head.partition(b"\r\n\r\n")
            if found:
                lines = [ln for ln in block.split(b"\r\n")
                         if not ln.lower().startswith(b"connection:")]  # fmt: skip
                head = b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest
            client.sendall(head)
            relay.pump(upstream, client)
        client.close()
        upstream.close()

    @staticmethod
    def _rest_of_body(client: socket.socket, upstream: socket.socket, left: int) -> None:
        """The request's body after what came with its head; the app may answer (and
        close) before it has all of it."""
        with contextlib.suppress(OSError):
            while left > 0:
                chunk = client.recv(min(left, 65536))
                if not chunk:
                    return
                upstream.sendall(chunk)
                left -= len(chunk)

    def _has_cookie(self, header: str) -> bool:
        try:
            jar = SimpleCookie(header)
        except CookieError:
            return False
        found = jar.get(self.name)
        return found is not None and secrets.compare_digest(found.value, self.secret)

    def _login(self, client: socket.socket, query: dict[str, list[str]]) -> None:
        grant = query.get("grant", [""])[0]
        landing = query.get("next", ["/"])[0]
        with self.lock:
            expires = self.grants.pop(grant, 0.0)
        if expires < time.monotonic() or not landing.startswith("/") or landing.startswith("//"):
            message = "This login link is unknown, used or expired: open a new presigned URL.\n"
            _answer(client, "403 Forbidden", {"Content-Type": "text/plain"}, message)
        else:
            cookie = f"{self.name}={self.secret}; Path=/; HttpOnly; SameSite=Lax"
            _answer(client, "302 Found", {"Location": landing, "Set-Cookie": cookie})
        client.close()
