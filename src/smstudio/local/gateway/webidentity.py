"""OIDC web identities in the local Studio: stand-ins for the CI systems' token issuers
(GitHub Actions, GitLab) and STS's checks of their tokens.

A CI system gives each job a signed JWT (RS256) naming its repository and ref in `sub`;
STS's AssumeRoleWithWebIdentity takes it unsigned by AWS keys, finds the account's IAM
OIDC provider for the token's issuer, checks the signature, the expiry and the audience,
then the role's trust policy with `<issuer>:sub` and `<issuer>:aud` as condition keys.
The local Studio holds one signing key (in its folder, mode 600) for every issuer it
stands in for: `smstudio local ci-token` signs a job's token with it, as the CI system
would; nothing else can."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from smstudio.core import facts
from smstudio.local import durable

KEY_FILE = "ci-issuer-key.pem"
LIFETIME = 300  # seconds: GitHub's tokens last 5 minutes (GitLab's are per job)


class BadToken(Exception):
    """The token is not one STS accepts: (code, message) as STS answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(state: Path) -> rsa.RSAPrivateKey:
    """The issuers' key, made once per local Studio."""
    path = state / KEY_FILE
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        durable.write(path, pem.decode(), mode=0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def mint(state: Path, issuer: str, subject: str, audience: str, now: float | None = None,
         lifetime: int = LIFETIME, extra: dict[str, Any] | None = None) -> str:  # fmt: skip
    """A job's token, as the CI system at `issuer` (a host) signs it."""
    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "smstudio-local"}
    claims = {"iss": f"https://{issuer}", "sub": subject, "aud": audience,
              "iat": issued, "nbf": issued, "exp": issued + lifetime, **(extra or {})}  # fmt: skip
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = signing_key(state).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


@dataclass(frozen=True)
class Claims:
    issuer: str  # the host, as IAM names the provider: token.actions.githubusercontent.com
    subject: str
    audience: str
    expires: int
    raw: dict[str, Any]


def verify(state: Path, token: str, now: float) -> Claims:
    """The token's claims once its signature and times hold."""
    try:
        head, body, signature = token.split(".")
        header = json.loads(_unb64(head))
        claims = json.loads(_unb64(body))
        signed = _unb64(signature)
    except (ValueError, TypeError) as exc:
        raise BadToken("InvalidIdentityToken", "Couldn't parse the web identity token") from exc
    if header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise BadToken("InvalidIdentityToken", "The web identity token's algorithm is not RS256")
    try:
        signing_key(state).public_key().verify(
            signed, f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise BadToken(
            "InvalidIdentityToken", "The web identity token's signature could not be verified"
        ) from None
    expires = int(claims.get("exp", 0))
    if expires <= now:
        stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(expires))
        raise BadToken("ExpiredTokenException", f"Token expired: current date/time must be "
                       f"before the expiration date/time {stamp}")  # fmt: skip
    issuer = str(claims.get("iss", "")).removeprefix("https://").rstrip("/")
    audience = claims.get("aud")
    audience = audience[0] if isinstance(audience, list) and audience else audience
    return Claims(issuer, str(claims.get("sub", "")), str(audience or ""), expires, claims)


def job_subject(provider: str, repository: str, branch: str, pull_request: bool) -> str:
    """The `sub` a CI job's token carries: a push to `branch`, or a pull request (GitHub
    names no branch then; GitLab names the merge request's source branch)."""
    if provider == "github" and pull_request:
        return f"repo:{repository}:pull_request"
    return facts.ci_subject(provider, repository, branch)
