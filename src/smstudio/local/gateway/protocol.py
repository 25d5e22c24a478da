"""What an HTTP request to the AWS endpoint asks for, read with botocore's own service
models: the service (from the SigV4 credential scope), the operation (JSON's X-Amz-Target,
the query protocol's Action, or the REST route), its parameters; and errors written the
way each protocol writes them, so SDKs and the AWS CLI parse them as AWS's."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import OperationModel, ServiceModel

# SigV4 signing name -> botocore service name, for the services the local Studio serves.
SERVICES = {
    "sagemaker": "sagemaker", "ssm": "ssm", "sts": "sts", "iam": "iam",
    "secretsmanager": "secretsmanager", "logs": "logs", "s3": "s3", "ecr": "ecr",
    "ses": "ses", "email": "ses", "events": "events", "lambda": "lambda",
    "elasticfilesystem": "efs",
}  # fmt: skip
# botocore service name -> IAM service prefix, where they differ.
IAM_PREFIX = {"efs": "elasticfilesystem"}


@dataclass
class RawRequest:
    method: str
    path: str  # as received, percent-encoded
    query: str  # as received
    headers: Mapping[str, Sequence[str]]  # lower-case name -> values
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass
class Call:
    service: str  # botocore name
    operation: str  # botocore operation name
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return protocol_of(self.service)


class UnknownOperation(ValueError):
    pass


@cache
def model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def protocol_of(service: str) -> str:
    return str(model(service).metadata["protocol"])


def iam_prefix(service: str) -> str:
    return IAM_PREFIX.get(service, service)


# --- reading requests ----------------------------------------------------------------


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Query-protocol parameters (`Tags.member.1.Key=k`) as nested dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        node: Any = out
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part in ("member", "entry") and not last and parts[index + 1].isdigit():
                continue
            if part.isdigit() and index > 0 and parts[index - 1] in ("member", "entry"):
                position = int(part) - 1
                while len(node) <= position:
                    node.append({} if not last else None)
                if last:
                    node[position] = value
                else:
                    if not isinstance(node[position], dict | list):
                        node[position] = {}
                    node = node[position]
                continue
            if last:
                node[part] = value
            else:
                listy = parts[index + 1] in ("member", "entry")
                node = node.setdefault(part, [] if listy else {})
    return out


@dataclass(frozen=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    query: tuple[str, ...]  # literal query keys of the requestUri
    literal: int  # length of the path's literal part
    headers: tuple[str, ...]  # header-bound members the operation requires
    operation: str


@cache
def _routes(service: str) -> list[_Route]:
    routes = []
    for name in model(service).operation_names:
        operation = model(service).operation_model(name)
        http = operation.http
        path, _, query = http.get("requestUri", "/").partition("?")
        literal = tuple(p.split("=", 1)[0] for p in query.split("&") if p)
        pattern = ""
        for piece in re.split(r"(\{[^}]+\})", path):
            if piece.startswith("{"):
                label = piece.strip("{}")
                group = re.sub(r"\W", "_", label.rstrip("+"))
                pattern += f"(?P<{group}>.+)" if label.endswith("+") else f"(?P<{group}>[^/]+)"
            else:
                pattern += re.escape(piece)
        shape = operation.input_shape
        required = set(shape.required_members) if shape else set()
        headers = tuple(
            member.serialization.get("name", key).lower()
            for key, member in (shape.members.items() if shape else [])
            if member.serialization.get("location") == "header" and key in required
        )
        length = len(re.sub(r"\{[^}]+\}", "", path))
        regex = re.compile(pattern.rstrip("/") + "/?")
        routes.append(_Route(http.get("method", "POST"), regex, literal, length, headers, name))
    return routes


def _route(service: str, request: RawRequest) -> tuple[str, dict[str, str]]:
    """The operation a REST request is: method and path match, its literal query keys
    and required headers are there; the most specific such operation."""
    keys = {k for k, _ in parse_qsl(request.query, keep_blank_values=True)}
    best: tuple[tuple[int, int, int], str, dict[str, str]] | None = None
    for route in _routes(service):
        if route.method != request.method or not set(route.query) <= keys:
            continue
        if any(request.header(h) is None for h in route.headers):
            continue
        found = route.regex.fullmatch(request.path or "/")
        if found is None:
            continue
        score = (len(route.query), len(route.headers), route.literal)
        if best is None or score > best[0]:
            values = {k: unquote(v) for k, v in found.groupdict().items()}
            best = (score, route.operation, values)
    if best is None:
        raise UnknownOperation(f"{request.method} {request.path}")
    return best[1], best[2]


class Ambiguous(ValueError):
    """A request that could be read as more than one thing: refused, so that what is
    authorized is exactly what is served."""


def _known_keys(service: str, operation: str, params: dict[str, Any]) -> None:
    shape = model(service).operation_model(operation).input_shape
    members = set(shape.members) if shape else set()
    unknown = sorted(k for k in params if k not in members)
    if unknown:
        raise Ambiguous(f"{operation} takes no parameter {', '.join(unknown)}")


def read(service: str, request: RawRequest) -> Call:
    """The call a request makes. Refused (Ambiguous) when a service could read it
    otherwise: the JSON and query protocols are POSTed to `/`, with their parameters in
    one place; a REST request's query keys are the operation's; parameters not in the
    operation's input are refused."""
    kind = protocol_of(service)
    methods = {"json": ("POST",), "query": ("POST", "GET")}.get(kind)
    if methods and (request.path not in ("/", "") or request.method not in methods):
        raise Ambiguous(f"{service} takes its requests at /, not {request.method} {request.path}")
    if kind == "json":
        if request.query:
            raise Ambiguous(f"{service} takes no query string")
        target = request.header("x-amz-target") or ""
        prefix, _, operation = target.rpartition(".")
        if operation not in model(service).operation_names or prefix != model(service).metadata.get(
            "targetPrefix"
        ):
            raise UnknownOperation(target or "(no X-Amz-Target)")
        params = json.loads(request.body or b"{}")
        if not isinstance(params, dict):
            raise Ambiguous("the JSON body is not an object")
        _known_keys(service, operation, params)
        return Call(service, operation, params)
    if kind == "query":
        if request.body and request.query:
            raise Ambiguous(f"{service} takes its parameters in the body or the query, not both")
        text = request.body.decode() if request.body else (request.query or "")
        pairs = parse_qsl(text, keep_blank_values=True)
        names = [k for k, _ in pairs]
        if len(set(names)) != len(names):
            raise Ambiguous("a parameter is given twice")
        form = dict(pairs)
        operation = form.get("Action", "")
        if operation not in model(service).operation_names:
            raise UnknownOperation(operation or "(no Action)")
        params = _unflatten([(k, v) for k, v in pairs if k not in ("Action", "Version")])
        _known_keys(service, operation, params)
        return Call(service, operation, params)
    operation, found = _route(service, request)
    params = dict(found)
    shape = model(service).operation_model(operation).input_shape
    members = shape.members if shape else {}
    literal = set(next(r.query for r in _routes(service) if r.operation == operation))
    wires = {m.serialization.get("name", n) for n, m in members.items()
             if m.serialization.get("location") == "querystring"}  # fmt: skip
    query = parse_qsl(request.query, keep_blank_values=True)
    stray = sorted({k for k, _ in query} - wires - literal)
    if stray:
        raise Ambiguous(f"{operation} takes no query parameter {', '.join(stray)}")
    for name, member in members.items():
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        value = request.header(wire) if where == "header" else None
        if value is not None:
            params[name] = value
        elif where == "querystring":
            given = [v for k, v in query if k == wire]
            if len(given) > 1 and member.type_name != "list":
                raise Ambiguous(f"the query parameter {wire} is given twice")
            if given:
                params[name] = given if member.type_name == "list" else given[0]
        elif where == "uri" and wire in params:
            params[name] = params.pop(wire)
    if kind == "rest-json" and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            params = {**body, **params}
    _known_keys(service, operation, params)
    return Call(service, operation, params)


def operation_model(call: Call) -> OperationModel:
    return model(call.service).operation_model(call.operation)


# --- writing errors -------------------------------------------------------------------

# (code, message, HTTP status) per protocol family, as AWS answers.
_AUTH_ERRORS: dict[str, dict[str, tuple[str, str, int]]] = {
    "unknown-key": {
        "json": ("UnrecognizedClientException",
                 "The security token included in the request is invalid.", 400),
        "query": ("InvalidClientTokenId",
                  "The security token included in the request is invalid.", 403),
        "rest-xml": ("InvalidAccessKeyId",
                     "The AWS Access Key Id you provided does not exist in our records.", 403),
        "rest-json": ("UnrecognizedClientException",
                      "The security token included in the request is invalid.", 403),
    },
    "bad-signature": {
        "json": ("InvalidSignatureException", "", 400),
        "query": ("SignatureDoesNotMatch", "", 403),
        "rest-xml": ("SignatureDoesNotMatch", "", 403),
        "rest-json": ("InvalidSignatureException", "", 403),
    },
    "expired": {
        "json": ("ExpiredTokenException", "The security token included in the request is expired",
                 400),
        "query": ("ExpiredToken", "The security token included in the request is expired", 403),
        "rest-xml": ("ExpiredToken", "The provided token has expired.", 400),
        "rest-json": ("ExpiredTokenException",
                      "The security token included in the request is expired", 403),
    },
    "missing": {
        "json": ("MissingAuthenticationTokenException", "Missing Authentication Token", 400),
        "query": ("MissingAuthenticationToken", "Request is missing Authentication Token", 403),
        "rest-xml": ("AccessDenied", "Access Denied", 403),
        "rest-json": ("MissingAuthenticationTokenException", "Missing Authentication Token", 403),
    },
    "denied": {
        "json": ("AccessDeniedException", "", 400),
        "query": ("AccessDenied", "", 403),
        "rest-xml": ("AccessDenied", "", 403),
        "rest-json": ("AccessDeniedException", "", 403),
    },
}  # fmt: skip
SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation "
    "for details."
)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def error(kind: str, code: str, message: str, status: int) -> Response:
    """An error body as protocol `kind` (json, query, rest-xml, rest-json) writes it."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if kind == "query":
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
            f"<Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return Response(status, {**headers, "Content-Type": "text/xml"}, body)
    if kind == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return Response(status, {**headers, "Content-Type": "application/xml"}, body)
    headers["Content-Type"] = "application/x-amz-json-1.1"
    if kind == "rest-json":
        headers["x-amzn-ErrorType"] = code
        headers["Content-Type"] = "application/json"
    payload = {"__type": code, "message": message, "Message": message}
    return Response(status, headers, json.dumps(payload).encode())


def auth_error(kind: str, family: str, message: str | None = None) -> Response:
    code, default, status = _AUTH_ERRORS[family][kind if kind in _AUTH_ERRORS[family] else "json"]
    return error(kind, code, message or default or SIGNATURE_MESSAGE, status)


def protocol_kind(service: str | None) -> str:
    """The error family for a service (json for an unknown one)."""
    if service is None:
        return "json"
    kind = protocol_of(service)
    return kind if kind in ("json", "query", "rest-xml", "rest-json") else "json"
