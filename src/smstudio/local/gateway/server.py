"""The local Studio's AWS endpoint on 127.0.0.1: one front door for every service.

Each request is authenticated (SigV4 against the secret the local Studio issued: the
root key, an IAM user's key, or a role session's), then authorized (the caller's identity
policies against every action, resource and condition key the call implies), and only
then served: SageMaker and the SSM operations of SSH by the control plane, AssumeRole
and GetCallerIdentity here, everything else by moto in this process. Refusals are AWS's
own errors, in each protocol's format.

Routes that are not AWS APIs, each with its own credential:
- GET  /auth?token=T           a presigned domain URL (one use): to the app's login
- GET  /_local/credentials     an app's execution-role session (its container token)
- POST /_local/ssm/register    an app's SSM agent registering (activation id and code,
                               from the app: its credentials token)
- POST /_local/ssm/stream      the Session Manager plugin's data channel (session token)
- POST /_local/ssm/register-host  a user's Docker engine door registering (activation id
                               and code; the door container, which the runtime checks)
- GET  /_local/ssm/connect     the data channel from inside an app (session token): the
                               connection upgraded and piped to a door's sshd
- GET  /_local/docker-host     where engines' doors find the local Studio's code, AWS
                               endpoint and registry sockets (paths, no secrets)
- GET  /_local/ses/sent?region=R  the messages SES sent (moto's record of them)
- POST /_local/clock            {"shift_seconds": N}: the control plane stamps what it makes
                               N seconds from the machine's time (apps' ages, in tests)
                               (both: the local Studio's admin, a request signed with the
                               root key)
- GET  /health
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from smstudio.local.controlplane.model import ApiError, to_wire
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.ssm import Ssm
from smstudio.local.gateway import authz, evaluator, protocol, sigv4, webidentity
from smstudio.local.gateway.identities import AuthFailure, Identities, Refused
from smstudio.local.gateway.motohost import Moto, changes_state
from smstudio.local.gateway.principal import Caller
from smstudio.local.gateway.protocol import Call, RawRequest, Response

SERVICE_PRINCIPAL = "sagemaker.amazonaws.com"
CREDENTIALS = "app-credentials"  # store table: container token -> the app's role session
REFRESH_BEFORE = 300.0  # seconds: a cached app session is renewed this close to expiry
LOCAL_GETS = ("/health", "/auth", "/_local/credentials", "/_local/ssm/connect",
              "/_local/docker-host", "/_local/ses/sent")  # fmt: skip


class Runtime(Protocol):
    def login_url(self, app_arn: str) -> str | None: ...
    def door_key(self, container: str) -> str | None: ...
    def door_socket(self, key: str) -> str | None: ...
    def docker_host_info(self) -> dict[str, str]: ...


@dataclass
class Stats:
    """Time spent authenticating and authorizing, for the latest requests (bench/authz.py)."""

    seconds: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class Gateway:
    def __init__(
        self,
        plane: ControlPlane,
        ssm: Ssm,
        moto: Moto,
        identities: Identities,
        enforce: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plane = plane
        self.ssm = ssm
        self.moto = moto
        self.identities = identities
        self.enforce = enforce
        self.clock = clock
        self.account = plane.account
        self.stats = Stats()
        # the folder holding the CI issuers' key (webidentity): None, no web identities
        self.web_identity_dir: Path | None = None

    # --- Facts (authz's view of the state) -------------------------------------------------

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "sagemaker":
            with self.plane.store.lock:
                tags = self.plane.store.table("tags").get(arn)
                return {t["Key"]: t["Value"] for t in tags} if tags is not None else None
        if service == "ssm":
            return self.ssm.resource_tags(arn)
        if service == "secretsmanager":
            return self.moto.secret_tags(arn)
        if service == "iam":
            return self.moto.iam_tags(arn)
        return None

    def space(self, domain_id: str, name: str) -> dict[str, Any] | None:
        with self.plane.store.lock:
            found = self.plane.store.table("spaces").get(f"{domain_id}/{name}")
            return dict(found) if found else None

    def secret_arn(self, secret_id: str, region: str) -> str | None:
        return self.moto.secret_arn(secret_id, region)

    # --- the front door --------------------------------------------------------------------

    def authenticate(self, request: RawRequest) -> tuple[Caller, str, str] | Response:
        """(caller, service, region), or the error AWS would answer."""
        header = request.header("authorization")
        if not header:
            return protocol.auth_error("json", "missing")
        try:
            signed = sigv4.parse(header)
        except sigv4.Malformed:
            return protocol.auth_error("json", "missing")
        service = protocol.SERVICES.get(signed.service)
        if service is None:
            message = f"the local Studio does not serve {signed.service}"
            return protocol.error("json", "UnknownServiceException", message, 400)
        kind = protocol.protocol_kind(service)
        try:
            caller, secret = self.identities.authenticate(
                signed.access_key, request.header("x-amz-security-token")
            )
        except AuthFailure as failure:
            return protocol.auth_error(kind, failure.family)
        amz_date = request.header("x-amz-date") or ""
        if amz_date[:8] != signed.date:
            message = (
                f"Credential should be scoped to a valid date: {signed.date}, not {amz_date[:8]}"
            )
            return protocol.auth_error(kind, "bad-signature", message)
        canonical = sigv4.canonical_request(
            request.method, request.path, request.query, request.headers, signed, request.body
        )
        if not sigv4.matches(secret, signed, amz_date, canonical):
            return protocol.auth_error(kind, "bad-signature")
        skew = sigv4.skew(amz_date, datetime.fromtimestamp(self.clock(), UTC))
        if skew is None or skew > sigv4.MAX_SKEW_SECONDS:
            message = f"Signature expired: {amz_date} is more than 15 minutes from the time here"
            return protocol.auth_error(kind, "bad-signature", message)
        return caller, service, signed.region

    def authorize(self, call: Call, caller: Caller, region: str) -> Response | None:
        """None when every action the call implies is allowed; else AccessDenied."""
        if caller.root or not self.enforce or call.service == "sts":
            return None  # STS authorizes AssumeRole itself (trust policies)
        policies = self.identities.policies(caller)
        for request in authz.requests_for(call, caller, region, self):
            outcome = evaluator.evaluate(policies, request)
            if not outcome.allowed:
                explicit = outcome.decision is evaluator.Decision.EXPLICIT_DENY
                message = authz.denial(caller, request, explicit)
                return protocol.auth_error(call.protocol, "denied", message)
        return None

    def admin(self, request: RawRequest) -> Response | None:
        """None when the request is signed by the local Studio's admin (the root key);
        else the refusal."""
        who = self.authenticate(request)
        if isinstance(who, Response):
            return who
        if not who[0].root:
            message = f"{who[0].arn} is not the local Studio's admin (the root key)"
            return protocol.error("json", "AccessDeniedException", message, 403)
        return None

    def web_identity(self, request: RawRequest) -> Response | None:
        """An unsigned sts:AssumeRoleWithWebIdentity (its token is the credential); None
        for any other request."""
        if request.header("authorization") or request.method != "POST":
            return None
        form = parse_qs(request.body.decode(errors="replace"))
        if form.get("Action", [""])[0] != "AssumeRoleWithWebIdentity":
            return None
        params = {k: v[0] for k, v in form.items()}
        try:
            if self.web_identity_dir is None:
                raise webidentity.BadToken("InvalidIdentityToken", "no OIDC issuer is known here")
            claims = webidentity.verify(
                self.web_identity_dir, params.get("WebIdentityToken", ""), self.clock()
            )
            result = self.identities.assume_role_with_web_identity(claims, params)
        except webidentity.BadToken as bad:
            return protocol.error("query", bad.code, bad.message, 400)
        except Refused as refusal:
            status = 403 if refusal.code == "AccessDenied" else 400
            return protocol.error("query", refusal.code, refusal.message, status)
        return _query_response("AssumeRoleWithWebIdentity", result)

    def serve(self, request: RawRequest) -> Response:
        started = time.perf_counter()
        unsigned = self.web_identity(request)
        if unsigned is not None:
            return unsigned
        who = self.authenticate(request)
        if isinstance(who, Response):
            return who
        caller, service, region = who
        kind = protocol.protocol_kind(service)
        try:
            call = protocol.read(service, request)
        except protocol.Ambiguous as exc:
            code = {"query": "InvalidParameterValue", "rest-xml": "InvalidArgument"}.get(
                kind, "SerializationException"
            )
            return protocol.error(kind, code, str(exc), 400)
        except (protocol.UnknownOperation, ValueError) as exc:
            code = "InvalidAction" if kind == "query" else "UnknownOperationException"
            return protocol.error(kind, code, f"unknown operation: {exc}", 400)
        refused = self.authorize(call, caller, region)
        self.stats.seconds.append(time.perf_counter() - started)
        if refused is not None:
            return refused
        return self.dispatch(call, caller, region, request)

    def dispatch(self, call: Call, caller: Caller, region: str, request: RawRequest) -> Response:
        try:
            if call.service == "sagemaker":
                return _json(self.plane.handle(call.operation, call.params, region, caller.userid))
            if call.service == "ssm" and call.operation in self.ssm.handlers:
                return _json(self.ssm.handle(call.operation, call.params, region, caller))
            if call.service == "sts":
                return self._sts(call, caller, region)
        except ApiError as exc:
            return protocol.error("json", exc.code, exc.message, exc.status)
        return self.moto.forward(request, record=changes_state(call.operation))

    def _sts(self, call: Call, caller: Caller, region: str) -> Response:
        if call.operation == "GetCallerIdentity":
            result = {"Arn": caller.arn, "UserId": caller.userid, "Account": caller.account}
        elif call.operation == "AssumeRole":
            try:
                result = self.identities.assume_role(caller, call.params, region)
            except Refused as refusal:
                status = 403 if refusal.code == "AccessDenied" else 400
                return protocol.error("query", refusal.code, refusal.message, status)
        else:
            served = "AssumeRole and GetCallerIdentity"
            message = f"the local Studio's STS serves {served}, not {call.operation}"
            return protocol.error("query", "InvalidAction", message, 400)
        return _query_response(call.operation, result)

    # --- apps' credentials ----------------------------------------------------------------------

    def register_app(self, app_arn: str, token: str, role_arn: str, source: str | None) -> None:
        """Serve an app's credentials under `token`. Its role is assumed once now, so a
        role SageMaker may not assume fails the app, as in AWS (Refused)."""
        entry: dict[str, Any] = {"AppArn": app_arn, "RoleArn": role_arn, "SourceIdentity": source}
        entry["Session"] = self._app_session(entry)
        with self.plane.store.lock:
            table = self.plane.store.table(CREDENTIALS)
            for old in [k for k, v in table.items() if v["AppArn"] == app_arn]:
                del table[old]
            table[token] = entry
            self.plane.store.save()

    def forget_app(self, app_arn: str) -> None:
        with self.plane.store.lock:
            table = self.plane.store.table(CREDENTIALS)
            for old in [k for k, v in table.items() if v["AppArn"] == app_arn]:
                del table[old]
            self.plane.store.save()

    def app_of_token(self, token: str) -> str | None:
        """The app whose container holds this credentials token."""
        with self.plane.store.lock:
            entry = self.plane.store.table(CREDENTIALS).get(token) if token else None
            return str(entry["AppArn"]) if entry else None

    def _app_session(self, entry: dict[str, Any]) -> dict[str, str]:
        made = self.identities.assume_as_service(
            entry["RoleArn"], SERVICE_PRINCIPAL, "SageMaker", entry.get("SourceIdentity"), 3600
        )
        return dict(made["Credentials"])

    def container_credentials(self, token: str) -> dict[str, str] | None:
        """What the container credentials endpoint answers for an app's token."""
        with self.plane.store.lock:
            entry = self.plane.store.table(CREDENTIALS).get(token)
            entry = dict(entry) if entry else None
        if entry is None:
            return None
        session = entry.get("Session") or {}
        expires = datetime.strptime(session.get("Expiration", "1970-01-01T00:00:00Z"),
                                    "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)  # fmt: skip
        if expires.timestamp() - self.clock() < REFRESH_BEFORE:
            session = self._app_session(entry)
            with self.plane.store.lock:
                if token in self.plane.store.table(CREDENTIALS):
                    self.plane.store.table(CREDENTIALS)[token]["Session"] = session
                    self.plane.store.save()
        return {
            "AccessKeyId": session["AccessKeyId"],
            "SecretAccessKey": session["SecretAccessKey"],
            "Token": session["SessionToken"],
            "Expiration": session["Expiration"],
        }


def _json(result: dict[str, Any]) -> Response:
    body = json.dumps(to_wire(result)).encode()
    return Response(200, {"Content-Type": "application/x-amz-json-1.1"}, body)


def _xml(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    return escape(str(value))


def _query_response(operation: str, result: dict[str, Any]) -> Response:
    body = (
        f'<{operation}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<{operation}Result>{_xml(result)}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{time.time_ns()}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()
    return Response(200, {"Content-Type": "text/xml"}, body)


def make_handler(gateway: Gateway, runtime: Runtime | None) -> type[BaseHTTPRequestHandler]:
    plane, ssm = gateway.plane, gateway.ssm

    class Handler(BaseHTTPRequestHandler):
        server_version = "smstudio-local-studio"
        protocol_version = "HTTP/1.1"  # keep-alive, as SDKs expect
        disable_nagle_algorithm = True  # else each response waits for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not logged to stderr

        def _respond(self, response: Response) -> None:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if not any(k.lower() == "content-length" for k in response.headers):
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _plain(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self._respond(Response(status, {"Content-Type": "application/json"}, data))

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _raw(self) -> RawRequest:
            path, _, query = self.path.partition("?")
            headers: dict[str, list[str]] = {}
            for key, value in self.headers.items():
                headers.setdefault(key.lower(), []).append(value)
            return RawRequest(self.command, path, query, headers, self._body())

        def _local_get(self, raw: RawRequest) -> bool:
            if raw.path == "/health":
                self._plain(200, {"status": "ok"})
            elif raw.path == "/auth":
                token = parse_qs(raw.query).get("token", [""])[0]
                arn = plane.follow_presigned(token)
                target = runtime.login_url(arn) if arn and runtime else None
                if target is None:
                    self._plain(403, {"message": "the URL is unknown, used or expired"})
                else:
                    self._respond(Response(302, {"Location": target}, b""))
            elif raw.path == "/_local/ses/sent":
                refused = gateway.admin(raw)
                if refused is not None:
                    self._respond(refused)
                else:
                    region = parse_qs(raw.query).get("region", ["us-east-1"])[0]
                    self._plain(200, {"Messages": gateway.moto.ses_sent(region)})
            elif raw.path == "/_local/docker-host":
                self._plain(200, runtime.docker_host_info() if runtime else {})
            elif raw.path == "/_local/ssm/connect":
                self._connect(raw)
            elif raw.path == "/_local/credentials":
                found = gateway.container_credentials(raw.header("authorization") or "")
                if found is None:
                    self._plain(403, {"message": "unknown container credentials token"})
                else:
                    self._plain(200, found)
            else:
                return False
            return True

        def _connect(self, raw: RawRequest) -> None:
            """The Session Manager data channel of a session to a Docker engine's door:
            this connection, upgraded, piped to the door's sshd."""
            query = parse_qs(raw.query)
            try:
                found = ssm.stream(
                    query.get("SessionId", [""])[0], query.get("TokenValue", [""])[0]
                )
            except ApiError as exc:
                self._plain(exc.status, {"__type": exc.code, "message": exc.message})
                return
            path = runtime.door_socket(found["AppArn"]) if runtime else None
            if path is None or found["Port"] != 22:
                self._plain(404, {"message": "the session's target is not a Docker engine's door"})
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(path)
            except OSError as exc:
                self._plain(502, {"message": f"the door does not answer: {exc}"})
                return
            self.send_response(101)
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "smstudio-ssm")
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True

            def up() -> None:
                with contextlib.suppress(OSError, ValueError):
                    while data := self.rfile.read1(65536):
                        upstream.sendall(data)
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_WR)

            threading.Thread(target=up, daemon=True).start()
            with contextlib.suppress(OSError):
                while data := upstream.recv(65536):
                    self.connection.sendall(data)
            upstream.close()

        def _local_post(self, raw: RawRequest) -> None:
            params = json.loads(raw.body or b"{}")
            try:
                if raw.path == "/_local/ssm/register":
                    app = gateway.app_of_token(raw.header("authorization") or "")
                    if app is None:
                        message = "register from the app, with its credentials token"
                        self._plain(403, {"__type": "AccessDeniedException", "message": message})
                        return
                    made = ssm.register(str(params.get("ActivationId")),
                                        str(params.get("ActivationCode")),
                                        str(params.get("ComputerName", "")), app)  # fmt: skip
                    self._plain(200, {"InstanceId": made})
                elif raw.path == "/_local/ssm/register-host":
                    key = runtime.door_key(str(params.get("Container", ""))) if runtime else None
                    if key is None:
                        message = "register from a Docker engine's door container"
                        self._plain(403, {"__type": "AccessDeniedException", "message": message})
                        return
                    made = ssm.register(str(params.get("ActivationId")),
                                        str(params.get("ActivationCode")),
                                        str(params.get("Container", "")), key)  # fmt: skip
                    self._plain(200, {"InstanceId": made})
                elif raw.path == "/_local/clock":
                    refused = gateway.admin(raw)
                    if refused is not None:
                        self._respond(refused)
                        return
                    plane.set_clock(float(params.get("shift_seconds", 0)))
                    self._plain(200, {"shift_seconds": float(params.get("shift_seconds", 0))})
                elif raw.path == "/_local/ssm/stream":
                    found = ssm.stream(str(params.get("SessionId")), str(params.get("TokenValue")))
                    self._plain(200, found)
                else:
                    self._plain(404, {"message": raw.path})
            except ApiError as exc:
                self._plain(exc.status, {"__type": exc.code, "message": exc.message})

        def _handle(self) -> None:
            raw = self._raw()
            try:
                if raw.method == "GET" and raw.path in LOCAL_GETS and self._local_get(raw):
                    return
                if raw.method == "POST" and raw.path.startswith("/_local/"):
                    self._local_post(raw)
                    return
                self._respond(gateway.serve(raw))
            except Exception as exc:  # a bug in the emulator: say so, keep serving
                self._respond(protocol.error("json", "InternalFailure", repr(exc), 500))

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler


class GatewayServer:
    """A running gateway on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(self, gateway: Gateway, port: int = 0, runtime: Runtime | None = None) -> None:
        self.gateway = gateway
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(gateway, runtime))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def plane(self) -> ControlPlane:
        return self.gateway.plane

    def start(self) -> GatewayServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
