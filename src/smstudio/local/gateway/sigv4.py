"""AWS Signature Version 4, the verifying side: parse the Authorization header, rebuild the
canonical request from what arrived, and compare signatures in constant time. Pure.

The canonical request follows the SigV4 specification as botocore signs it: the path
URI-encoded once more for every service but S3, the query re-encoded and sorted, the
signed headers trimmed and joined, the payload hash from `x-amz-content-sha256` when the
client sent one (S3's UNSIGNED-PAYLOAD and streaming forms included), else SHA-256 of
the body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request,\s*SignedHeaders=(?P<headers>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


class Malformed(ValueError):
    """The Authorization header is not a SigV4 one."""


@dataclass(frozen=True)
class Signed:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse(authorization: str) -> Signed:
    found = _AUTH.match(authorization.strip())
    if found is None:
        raise Malformed(authorization.split(" ", 1)[0] or "(empty)")
    return Signed(
        access_key=found["key"],
        date=found["date"],
        region=found["region"],
        service=found["service"],
        signed_headers=tuple(found["headers"].split(";")),
        signature=found["signature"],
    )


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, as botocore applies it (empty segments dropped too)."""
    kept: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if kept:
                kept.pop()
        elif part and part != ".":
            kept.append(part)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and kept else ""
    return first + "/".join(kept) + last


def _uri(raw_path: str, service: str) -> str:
    path = raw_path or "/"
    if service == "s3":
        return path
    return quote(_remove_dot_segments(path) or "/", safe="/~")


def _query(raw_query: str) -> str:
    if not raw_query:
        return ""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, Sequence[str]],
    signed: Signed,
    body: bytes,
) -> str:
    """`headers`: lower-case name -> every value received for it."""
    lines = []
    for name in signed.signed_headers:
        values = headers.get(name, ())
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}")
    payload = next(iter(headers.get("x-amz-content-sha256", ())), None)
    if signed.service != "s3" or payload is None or re.fullmatch(r"[0-9a-f]{64}", payload):
        payload = hashlib.sha256(body).hexdigest()  # a claimed hash must be the body's
    return "\n".join(
        [
            method.upper(),
            _uri(raw_path, signed.service),
            _query(raw_query),
            "\n".join(lines) + "\n",
            ";".join(signed.signed_headers),
            payload,
        ]
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(secret: str, signed: Signed, amz_date: str, canonical: str) -> str:
    to_sign = "\n".join(
        [ALGORITHM, amz_date, signed.scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secret).encode(), signed.date)
    for part in (signed.region, signed.service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def matches(secret: str, signed: Signed, amz_date: str, canonical: str) -> bool:
    return hmac.compare_digest(signature(secret, signed, amz_date, canonical), signed.signature)


def skew(amz_date: str, now: datetime | None = None) -> float | None:
    """Seconds between the request's X-Amz-Date and now; None when it does not parse."""
    try:
        stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return abs(((now or datetime.now(UTC)) - stamp).total_seconds())
