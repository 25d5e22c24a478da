"""The local Studio's admin routes, which are not AWS APIs: read back what SES sent
(moto's record of it) and shift the control plane's clock (so apps get ages without
waiting). Each request is signed with SigV4 by the admin's (root) key, as the gateway
requires."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from smstudio.core.errors import SmstudioError


def _call(
    endpoint: str, keys: dict[str, str], method: str, path: str, body: dict[str, Any] | None,
    region: str = "us-east-1",
) -> dict[str, Any]:  # fmt: skip
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method, endpoint.rstrip("/") + path, data=data,
                         headers={"Content-Type": "application/json"})  # fmt: skip
    credentials = Credentials(
        keys["AccessKeyId"], keys["SecretAccessKey"], keys.get("SessionToken")
    )
    SigV4Auth(credentials, "sagemaker", region).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(prepared.url, data=data or None, method=method,
                                  headers=dict(prepared.headers.items()))  # fmt: skip
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            return dict(json.loads(answer.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        raise SmstudioError(
            f"the local Studio refused {method} {path}: {exc.code} {exc.read()[:300]!r}",
            "sign it with the local Studio's admin (root) key",
        ) from None
    except OSError as exc:
        raise SmstudioError(
            f"the local Studio at {endpoint} does not answer: {exc}", "start it: smstudio local up"
        ) from None


def ses_sent(endpoint: str, keys: dict[str, str], region: str) -> list[dict[str, Any]]:
    """The messages SES sent in `region`, oldest first."""
    found = _call(endpoint, keys, "GET", f"/_local/ses/sent?region={region}", None, region)
    return list(found["Messages"])


def set_clock(endpoint: str, keys: dict[str, str], shift_seconds: float) -> None:
    """From now on the control plane stamps what it makes `shift_seconds` from the
    machine's time (negative: in the past); 0 sets it back."""
    _call(endpoint, keys, "POST", "/_local/clock", {"shift_seconds": shift_seconds})
