"""Serve the control plane over the JSON 1.1 protocol on 127.0.0.1, so boto3, the AWS CLI
and smstudio reach it through AWS_ENDPOINT_URL_SAGEMAKER (and AWS_ENDPOINT_URL_SSM for
managed instances). Two local routes stand in for what has no public API: an app's SSM
agent registering (`/_local/ssm/register`), the Session Manager plugin's data channel
(`/_local/ssm/stream`: which app and port a started session reaches) and issuing a
user's local access key (`/_local/identity`)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from smstudio.local.controlplane import identity
from smstudio.local.controlplane.model import ApiError, to_wire
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.ssm import Ssm

_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
TARGET_PREFIX = "SageMaker."
SSM_PREFIX = "AmazonSSM."


def make_handler(plane: ControlPlane, ssm: Ssm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "smstudio-local-studio"

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not logged to stderr

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            elif self.path.startswith("/auth?"):
                token = parse_qs(urlparse(self.path).query).get("token", [""])[0]
                target = plane.follow_presigned(token)
                if target is None:
                    self._send(403, {"message": "the URL is unknown, used or expired"})
                    return
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, {"__type": "NotFound", "message": self.path})

        def _local(self, params: dict[str, Any]) -> None:
            if self.path == "/_local/ssm/register":
                instance_id = ssm.register(
                    str(params.get("ActivationId")),
                    str(params.get("ActivationCode")),
                    str(params.get("ComputerName", "")),
                )
                self._send(200, {"InstanceId": instance_id})
            elif self.path == "/_local/ssm/stream":
                found = ssm.stream(str(params.get("SessionId")), str(params.get("TokenValue")))
                self._send(200, found)
            elif self.path == "/_local/identity":
                try:
                    made = identity.credentials_for(plane.store, str(params.get("User")))
                except ValueError as exc:
                    self._send(400, {"__type": "ValidationException", "message": str(exc)})
                    return
                self._send(200, made)
            else:
                self._send(404, {"__type": "NotFound", "message": self.path})

        def do_POST(self) -> None:
            target = self.headers.get("X-Amz-Target", "")
            authorization = self.headers.get("Authorization", "")
            found = _REGION.search(authorization)
            region = found.group(1) if found else "us-east-1"
            try:
                length = int(self.headers.get("Content-Length") or 0)
                params = json.loads(self.rfile.read(length) or b"{}")
                if self.path.startswith("/_local/"):
                    self._local(params)
                    return
                if target.startswith(TARGET_PREFIX):
                    result = plane.handle(target.removeprefix(TARGET_PREFIX), params, region)
                elif target.startswith(SSM_PREFIX):
                    who = identity.caller(plane.store, authorization)
                    result = ssm.handle(target.removeprefix(SSM_PREFIX), params, region, who)
                else:
                    self._send(400, {"__type": "UnknownOperationException", "message": target})
                    return
            except ApiError as exc:
                self._send(exc.status, {"__type": exc.code, "message": exc.message})
                return
            except json.JSONDecodeError as exc:
                self._send(400, {"__type": "SerializationException", "message": str(exc)})
                return
            except Exception as exc:  # a bug in the emulator: say so, keep serving
                self._send(500, {"__type": "InternalFailure", "message": repr(exc)})
                return
            self._send(200, to_wire(result))

    return Handler


class ControlPlaneServer:
    """A running control plane on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(self, plane: ControlPlane, port: int = 0, ssm: Ssm | None = None) -> None:
        self.plane = plane
        self.ssm = ssm or Ssm(plane.store, plane.account)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(plane, self.ssm))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ControlPlaneServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
