"""Studio's Docker proxy, as the local Studio gives it to apps with Docker access.

In Studio, an app of a domain with `DockerSettings.EnableDockerAccess` reaches the
instance's Docker engine only through a proxy at `unix:///docker/proxy.sock` (the app's
DOCKER_HOST). The proxy speaks Docker Engine API 1.41 and refuses, with its own words:

- any network but `sagemaker` for containers and builds; `sagemaker` shares the app's
  network, so a container's ports are on the app's localhost;
- privileged containers, host devices (and privileged execs);
- in a VpcOnly domain, images other than ECR images of the trusted accounts (the domain's
  own and `VpcOnlyTrustedAccounts`), for pulls, pushes and containers;
- BuildKit (AWS's images set DOCKER_BUILDKIT=0), network creation, swarm and plugins.

The bracketed operation names and the network messages are those users report from
Studio; the local engine's own limits say "(local Studio)". Here `decide` is the pure
part (a request in, a verdict out: refused, or passed on as it is or rewritten), and
`serve` the server: one upstream connection per request, so every request on a client's
connection is checked (a hijacked attach or exec stream is piped as it is). Standard
library only: this file is copied into the engine container and run there.

    python3 dockerproxy.py LISTEN_SOCKET UPSTREAM_SOCKET '{"vpc_only": false, ...}'
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

API_VERSION = "1.41"
SAGEMAKER_NETWORK = "sagemaker"
HOST_NETWORK = "host"  # what `sagemaker` is in the engine, which shares the app's network
MAX_INSPECTED_BODY = 4 * 1024 * 1024
VERSIONED = re.compile(r"^/v(?P<version>\d+\.\d+)(?P<rest>/.*)$")
ECR_IMAGE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/")
# the engine's own files, which no container may mount: its socket, its storage, the proxy
ENGINE_PATHS = ("/var/run", "/run", "/var/lib/docker", "/proxy", "/opt/smstudio-engine")
REFUSED_PREFIXES = ("/swarm", "/services", "/nodes", "/secrets", "/configs", "/plugins", "/tasks")
NETWORK_REFUSAL = "[ContainerCreate] Studio's Docker proxy only allows 'sagemaker' as network input"
BUILD_NETWORK_REFUSAL = "[ImageBuild] 'sagemaker' is the only user allowed network input"


@dataclass(frozen=True)
class Rules:
    """What the app's domain allows: its network mode and trusted ECR accounts."""

    vpc_only: bool = False
    trusted_accounts: tuple[str, ...] = ()
    region: str = "us-east-1"
    mountable: tuple[str, ...] = ("/home/sagemaker-user",)  # shared with the engine
    # "studio": Studio's native Docker access; "remote": a user's own remote engine (for
    # Studio Classic): any network and BuildKit, still no privileges, devices or host paths
    kind: str = "studio"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rules:
        return cls(
            vpc_only=bool(data.get("vpc_only")),
            trusted_accounts=tuple(data.get("trusted_accounts", ())),
            region=str(data.get("region", "us-east-1")),
            mountable=tuple(data.get("mountable", ("/home/sagemaker-user",))),
            kind=str(data.get("kind", "studio")),
        )

    @property
    def studio(self) -> bool:
        return self.kind == "studio"


@dataclass
class Verdict:
    """A refusal (status and message), or the request to send on (maybe rewritten)."""

    target: str
    body: bytes | None = None  # a rewritten body (None: as it came)
    status: int = 0
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers

    @property
    def refused(self) -> bool:
        return self.status != 0


def refuse(message: str, status: int = 403, **headers: str) -> Verdict:
    return Verdict("", status=status, message=message, headers=dict(headers))


def inspects_body(method: str, path: str) -> bool:
    """Whether `decide` needs the request's body (small JSON) to judge it."""
    rest = _unversioned(urlsplit(path).path)
    return method == "POST" and (
        rest == "/containers/create" or bool(re.match(r"^/containers/[^/]+/exec$", rest))
    )


def _unversioned(path: str) -> str:
    found = VERSIONED.match(path)
    return found["rest"] if found else path


def decide(method: str, target: str, body: bytes | None, rules: Rules) -> Verdict:
    """The proxy's decision on one request (`target` is the request line's path and
    query; `body` is given when `inspects_body` says so)."""
    parts = urlsplit(target)
    found = VERSIONED.match(parts.path)
    if _unversioned(parts.path) in ("/session", "/grpc") and rules.studio:
        return refuse("[ImageBuild] BuildKit is not supported in Studio: set DOCKER_BUILDKIT=0")
    if found is None:
        if parts.path == "/_ping" or not rules.studio:
            return Verdict(target)
        location = f"/v{API_VERSION}{target}"
        return refuse(f"Moved Permanently: use {location}", 301, Location=location)
    if rules.studio and tuple(int(x) for x in found["version"].split(".")) > (1, 41):
        return refuse(
            f"client version {found['version']} is too new. Maximum supported API version "
            f"is {API_VERSION}",
            400,
        )
    rest = found["rest"]
    query = parse_qsl(parts.query, keep_blank_values=True)
    if rest.startswith(REFUSED_PREFIXES):
        return refuse(f"{rest.split('/')[1]} is not supported in Studio")
    if not rules.studio:
        return _remote(method, target, rest, body)
    if method == "POST" and rest == "/networks/create":
        return refuse(
            "[NetworkCreate] Studio's Docker proxy only allows 'sagemaker' as network input"
        )
    if method == "POST" and re.match(r"^/networks/[^/]+/connect$", rest):
        return refuse(NETWORK_REFUSAL.replace("ContainerCreate", "NetworkConnect"))
    if method == "POST" and rest == "/build":
        return _build(target, parts.path, query)
    if method == "POST" and rest == "/images/create":
        image = dict(query).get("fromImage", "")
        if dict(query).get("fromSrc"):
            return Verdict(target)  # an import from the request body: no registry
        return _image(target, image, rules, "ImagePull")
    pushed = re.match(r"^/images/(?P<name>.+)/push$", rest)
    if method == "POST" and pushed:
        return _image(target, pushed["name"], rules, "ImagePush")
    if method == "POST" and rest == "/containers/create":
        return _create(target, body or b"{}", rules)
    if method == "POST" and re.match(r"^/containers/[^/]+/exec$", rest):
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            return refuse("invalid JSON in exec request", 400)
        if spec.get("Privileged"):
            return refuse("[ContainerExec] privileged mode is not allowed in Studio")
    if method == "POST" and re.match(r"^/containers/[^/]+/update$", rest):
        return Verdict(target)  # resources only: no privileges through update
    return Verdict(target)


def _remote(method: str, target: str, rest: str, body: bytes | None) -> Verdict:
    """A user's remote engine (Studio Classic): their own, so any network, image and
    BuildKit; never privileges, host devices or the engine host's paths."""
    if method == "POST" and rest == "/containers/create":
        try:
            host = (json.loads(body or b"{}") or {}).get("HostConfig") or {}
        except (ValueError, AttributeError):
            return refuse("invalid container create request", 400)
        if host.get("Privileged") or host.get("Devices"):
            return refuse("[ContainerCreate] privileged mode and host devices are not allowed "
                          "on a Studio remote engine")  # fmt: skip
        sources = _mount_sources(host)
        if sources:
            return refuse(f"[ContainerCreate] bind mount of {sources[0]} refused: the remote "
                          "engine's host is not yours; use a named volume")  # fmt: skip
    if method == "POST" and re.match(r"^/containers/[^/]+/exec$", rest):
        try:
            if (json.loads(body or b"{}") or {}).get("Privileged"):
                return refuse("[ContainerExec] privileged mode is not allowed on a remote engine")
        except (ValueError, AttributeError):
            return refuse("invalid exec request", 400)
    return Verdict(target)


def _build(target: str, path: str, query: list[tuple[str, str]]) -> Verdict:
    params = dict(query)
    if params.get("version") == "2":
        return refuse("[ImageBuild] BuildKit is not supported in Studio: set DOCKER_BUILDKIT=0")
    if params.get("networkmode", "default") != SAGEMAKER_NETWORK:
        return refuse(BUILD_NETWORK_REFUSAL)
    rewritten = [(k, HOST_NETWORK if k == "networkmode" else v) for k, v in query]
    return Verdict(f"{path}?{urlencode(rewritten)}")


def _image(target: str, image: str, rules: Rules, operation: str) -> Verdict:
    if not rules.vpc_only:
        return Verdict(target)
    found = ECR_IMAGE.match(image)
    if found is None or found["account"] not in rules.trusted_accounts:
        trusted = ", ".join(rules.trusted_accounts) or "none"
        return refuse(
            f"[ValidateVPCOnlyModeImage] {operation} of {image or '(no image)'} refused: in a "
            f"VpcOnly domain only Amazon ECR images of trusted accounts ({trusted}) can be used"
        )
    return Verdict(target)


def _create(target: str, body: bytes, rules: Rules) -> Verdict:
    try:
        spec = json.loads(body)
    except ValueError:
        return refuse("invalid JSON in container create request", 400)
    if not isinstance(spec, dict):
        return refuse("invalid container create request", 400)
    host = spec.setdefault("HostConfig", {}) or {}
    spec["HostConfig"] = host
    if host.get("Privileged"):
        return refuse("[ContainerCreate] privileged mode is not allowed in Studio")
    if host.get("Devices"):
        return refuse("[ContainerCreate] host devices are not allowed in Studio")
    if host.get("NetworkMode") != SAGEMAKER_NETWORK:
        return refuse(NETWORK_REFUSAL)
    endpoints = (spec.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    if set(endpoints) - {SAGEMAKER_NETWORK}:
        return refuse(NETWORK_REFUSAL)
    for source in _mount_sources(host):
        if not any(source == m or source.startswith(m.rstrip("/") + "/") for m in rules.mountable):
            return refuse(
                f"[ContainerCreate] bind mount of {source} refused: only paths under "
                f"{', '.join(rules.mountable)} are shared with the engine (local Studio)"
            )
    if rules.vpc_only:
        judged = _image(target, str(spec.get("Image", "")), rules, "ContainerCreate")
        if judged.refused:
            return judged
    host["NetworkMode"] = HOST_NETWORK
    if endpoints:
        spec["NetworkingConfig"]["EndpointsConfig"] = {HOST_NETWORK: endpoints[SAGEMAKER_NETWORK]}
    return Verdict(target, body=json.dumps(spec).encode())


def _mount_sources(host: dict[str, Any]) -> list[str]:
    """Host paths a container would mount (named volumes are the engine's own: fine)."""
    sources = [b.split(":", 1)[0] for b in host.get("Binds") or []]
    sources += [m.get("Source", "") for m in host.get("Mounts") or [] if m.get("Type") == "bind"]
    return [os.path.normpath(s) for s in sources if s.startswith("/")]


# --- the server ----------------------------------------------------------------------


class Request:
    """One HTTP request read from a client: its head, and its body read on demand."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        line = reader.readline(65536)
        if not line:
            raise EOFError
        self.method, self.target, self.version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        self.headers: list[tuple[str, str]] = []
        while True:
            header = reader.readline(65536).decode("latin-1").rstrip("\r\n")
            if not header:
                break
            name, _, value = header.partition(":")
            self.headers.append((name.strip(), value.strip()))

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    @property
    def chunked(self) -> bool:
        return "chunked" in self.header("Transfer-Encoding").lower()

    @property
    def upgrade(self) -> bool:
        return "upgrade" in self.header("Connection").lower()

    def body(self, limit: int) -> bytes:
        """The whole body (at most `limit` bytes)."""
        if self.chunked:
            data = b"".join(self.chunks())
        else:
            data = self.reader.read(int(self.header("Content-Length") or 0))
        if len(data) > limit:
            raise ValueError("request body too large")
        return data

    def chunks(self) -> Any:
        while True:
            size = int(self.reader.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.reader.readline(1024)
                return
            yield self.reader.read(size)
            self.reader.readline(1024)

    def drain(self) -> None:
        if self.chunked:
            for _ in self.chunks():
                pass
            return
        left = int(self.header("Content-Length") or 0)
        while left > 0 and (data := self.reader.read(min(left, 65536))):
            left -= len(data)

    def stream_body(self, sink: socket.socket) -> None:
        """The body sent on as it came (chunked or of a length)."""
        if self.chunked:
            for chunk in self.chunks():
                sink.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sink.sendall(b"0\r\n\r\n")
            return
        left = int(self.header("Content-Length") or 0)
        while left > 0:
            data = self.reader.read(min(left, 65536))
            if not data:
                raise EOFError
            sink.sendall(data)
            left -= len(data)


def answer(client: socket.socket, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"message": message}).encode()
    reason = {301: "Moved Permanently", 400: "Bad Request", 403: "Forbidden"}.get(status, "Error")
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    client.sendall(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: "
        f"{len(body)}\r\n{extra}Api-Version: {API_VERSION}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def handle(client: socket.socket, upstream_path: str, rules: Rules) -> None:
    """One client connection: each request judged, then sent on its own upstream
    connection; the response is sent back and the connection closed (a client opens a new
    one), or, for an attach or exec that hijacks the stream, piped both ways."""
    reader = client.makefile("rb")
    try:
        request = Request(reader)
    except (EOFError, ValueError):
        client.close()
        return
    try:
        body = (
            request.body(MAX_INSPECTED_BODY)
            if inspects_body(request.method, request.target)
            else None
        )
        verdict = decide(request.method, request.target, body, rules)
    except ValueError as exc:
        verdict = refuse(str(exc), 400)
    if verdict.refused:
        if body is None:  # read what the client sends before it reads the refusal
            with contextlib.suppress(OSError, ValueError, EOFError):
                request.drain()
        answer(client, verdict.status, verdict.message, verdict.headers)
        client.close()
        return
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(upstream_path)
        _send_head(upstream, request, verdict, body)
        if body is not None:
            upstream.sendall(verdict.body if verdict.body is not None else body)
        else:
            request.stream_body(upstream)
        _relay_response(client, upstream, request)
    except (OSError, EOFError):
        pass
    finally:
        upstream.close()
        client.close()


def _send_head(
    upstream: socket.socket, request: Request, verdict: Verdict, body: bytes | None
) -> None:
    skip = {"connection", "keep-alive", "upgrade", "proxy-connection"}
    if body is not None:
        skip |= {"content-length", "transfer-encoding"}
    lines = [f"{request.method} {verdict.target} {request.version}"]
    lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in skip]
    if body is not None:
        sent = verdict.body if verdict.body is not None else body
        lines.append(f"Content-Length: {len(sent)}")
    if request.upgrade and request.header("Upgrade"):
        lines += ["Connection: Upgrade", f"Upgrade: {request.header('Upgrade')}"]
    else:
        lines.append("Connection: close")
    upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _relay_response(client: socket.socket, upstream: socket.socket, request: Request) -> None:
    reader = upstream.makefile("rb")
    status_line = reader.readline(65536)
    head = [status_line]
    while True:
        line = reader.readline(65536)
        head.append(line)
        if line in (b"\r\n", b"\n", b""):
            break
    status = status_line.split(b" ")[1] if len(status_line.split(b" ")) > 1 else b""
    out = []
    for line in head:
        if line.lower().startswith(b"api-version:"):
            line = f"Api-Version: {API_VERSION}\r\n".encode()
        out.append(line)
    client.sendall(b"".join(out))
    if request.upgrade and status in (b"101", b"200"):  # a hijacked stream: both ways
        threading.Thread(target=_pump_reader, args=(request.reader, upstream), daemon=True).start()
    _pump_reader(reader, client)


def _pump_reader(reader: Any, sink: socket.socket) -> None:
    try:
        while data := reader.read1(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def serve(listen_path: str, upstream_path: str, rules: Rules) -> socket.socket:
    Path(listen_path).unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(listen_path)
    os.chmod(listen_path, 0o666)  # the app's user (the socket's folder is the app's only)
    listener.listen(64)

    def loop() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(
                target=handle, args=(client, upstream_path, rules), daemon=True
            ).start()

    threading.Thread(target=loop, daemon=True).start()
    return listener


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rules = Rules.from_json(json.loads(argv[2]))
    serve(argv[0], argv[1], rules)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
