"""Credentials the local Studio issues and recognizes, and the part of STS that makes them.

- the account's root key (the platform admin: `smstudio local env`), made once;
- IAM users' access keys (CreateAccessKey, kept by moto's IAM);
- role sessions from AssumeRole: a temporary key, secret and session token with an
  expiry, the role's tags overlaid by session tags as principal tags, and a
  SourceIdentity that, once set, stays through role chaining. AssumeRole checks the
  role's trust policy (and, when the trust names only the account, the caller's
  identity policy) for sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity, as AWS
  does. Services (SageMaker starting an app) assume roles through `assume_as_service`.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from smstudio.local.controlplane.store import Store
from smstudio.local.gateway import evaluator
from smstudio.local.gateway.authz import global_context, request_tags
from smstudio.local.gateway.evaluator import Decision, Policy, Principal, Request
from smstudio.local.gateway.principal import Caller
from smstudio.local.gateway.webidentity import Claims

TABLE = "credentials"
NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
DEFAULT_DURATION, MIN_DURATION, CHAINED_MAX = 3600, 900, 3600


class AuthFailure(Exception):
    """Authentication failed; `family` names the AWS error (unknown-key, expired)."""

    def __init__(self, family: str) -> None:
        super().__init__(family)
        self.family = family


class Refused(Exception):
    """An STS refusal: AWS's code and message (AccessDenied, ValidationError)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RoleInfo:
    arn: str
    id: str
    name: str
    tags: Mapping[str, str]
    trust: Policy
    policies: tuple[Policy, ...]
    max_session: int = DEFAULT_DURATION


@dataclass(frozen=True)
class UserInfo:
    arn: str
    id: str
    name: str
    secret: str
    active: bool
    tags: Mapping[str, str]
    policies: tuple[Policy, ...]


class IamView(Protocol):
    """IAM's state (moto's, in the local Studio)."""

    def role_by_arn(self, arn: str) -> RoleInfo | None: ...
    def user_by_key(self, access_key: str) -> UserInfo | None: ...
    def oidc_provider(self, arn: str) -> list[str] | None: ...  # its audiences


def _random(
    prefix: str, length: int, alphabet: str = string.ascii_uppercase + string.digits
) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length - len(prefix)))


def _stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _session_name(params: Mapping[str, Any]) -> str:
    """RoleSessionName, as STS validates it."""
    session = str(params.get("RoleSessionName", ""))
    if not NAME.match(session):
        raise Refused("ValidationError", f"1 validation error detected: Value '{session}' at "
                      "'roleSessionName' failed to satisfy constraint: Member must satisfy "
                      r"regular expression pattern: [\w+=,.@-]*")  # fmt: skip
    return session


def _duration(params: Mapping[str, Any], limit: int) -> int:
    """DurationSeconds (default one hour), within the role's (or a chain's) limit."""
    duration = int(params.get("DurationSeconds") or DEFAULT_DURATION)
    if not MIN_DURATION <= duration <= limit:
        raise Refused("ValidationError", "The requested DurationSeconds exceeds the "
                      f"MaxSessionDuration set for this role ({limit}).")  # fmt: skip
    return duration


@dataclass
class Identities:
    store: Store
    iam: IamView
    account: str
    clock: Callable[[], float] = field(default=time.time)

    # --- the root key ------------------------------------------------------------------

    def root_key(self) -> dict[str, str]:
        """The account's root access key (the platform admin), made on first use."""
        with self.store.lock:
            table = self.store.table(TABLE)
            for key_id, entry in table.items():
                if entry["Kind"] == "root":
                    return {"AccessKeyId": key_id, "SecretAccessKey": entry["Secret"]}
            key_id = _random("AKIA", 20)
            secret = _random("", 40, string.ascii_letters + string.digits + "+/")
            table[key_id] = {"Kind": "root", "Secret": secret}
            self.store.save()
            return {"AccessKeyId": key_id, "SecretAccessKey": secret}

    def root_caller(self) -> Caller:
        arn = f"arn:aws:iam::{self.account}:root"
        return Caller("root", self.account, arn, self.account, arn)

    # --- authentication ------------------------------------------------------------------

    def authenticate(self, key_id: str, token: str | None) -> tuple[Caller, str]:
        """The caller behind an access key and the secret its signature must use."""
        with self.store.lock:
            entry = self.store.table(TABLE).get(key_id)
            entry = dict(entry) if entry else None
        if entry is not None and entry["Kind"] == "root":
            return self.root_caller(), str(entry["Secret"])
        if entry is not None and entry["Kind"] == "session":
            if not token or not secrets.compare_digest(str(entry["Token"]), token):
                raise AuthFailure("unknown-key")
            if entry["Expires"] <= self.clock():
                raise AuthFailure("expired")
            return self._session_caller(key_id, entry), str(entry["Secret"])
        user = self.iam.user_by_key(key_id)
        if user is None or not user.active:
            raise AuthFailure("unknown-key")
        caller = Caller("user", self.account, user.arn, user.id, user.arn, dict(user.tags),
                        username=user.name, access_key=key_id)  # fmt: skip
        return caller, user.secret

    def _session_caller(self, key_id: str, entry: Mapping[str, Any]) -> Caller:
        role = self.iam.role_by_arn(entry["RoleArn"])
        tags = {k.lower(): (k, v) for k, v in (role.tags if role else {}).items()}
        tags.update({k.lower(): (k, v) for k, v in entry.get("Tags", {}).items()})
        return Caller(
            "session",
            self.account,
            f"arn:aws:sts::{self.account}:assumed-role/{entry['RoleName']}/{entry['Session']}",
            f"{entry['RoleId']}:{entry['Session']}",
            entry["RoleArn"],
            dict(tags.values()),
            source_identity=entry.get("SourceIdentity"),
            issued=entry.get("Issued"),
            access_key=key_id,
        )

    def policies(self, caller: Caller) -> tuple[Policy, ...]:
        """The caller's identity policies (the root user has none: it may do anything)."""
        if caller.kind == "user":
            user = self.iam.user_by_key(caller.access_key)
            return user.policies if user else ()
        if caller.kind == "session":
            role = self.iam.role_by_arn(caller.principal_arn)
            return role.policies if role else ()
        return ()

    # --- STS ---------------------------------------------------------------------------

    def _trust_check(
        self,
        caller: Caller | None,
        who: Principal,
        role: RoleInfo,
        action: str,
        context: dict[str, Any],
    ) -> bool:
        request = Request(action, role.arn, context)
        trusted = evaluator.principal_allowed(role.trust, who, request)
        if trusted is not None and trusted.decision is not Decision.ALLOW:
            return False
        if caller is None or caller.root:
            return trusted is not None or who.service is None
        identity = evaluator.evaluate(self.policies(caller), request)
        if identity.decision is Decision.EXPLICIT_DENY:
            return False
        return trusted is not None or identity.allowed

    def assume_role(self, caller: Caller, params: Mapping[str, Any], region: str) -> dict[str, Any]:
        """sts:AssumeRole, authorized by the role's trust and the caller's policies."""
        role_arn = str(params.get("RoleArn", ""))
        session = _session_name(params)
        source = params.get("SourceIdentity")
        if caller.source_identity and source and source != caller.source_identity:
            raise Refused("ValidationError", "SourceIdentity cannot be changed in a role chain")
        source = caller.source_identity or source
        tags = request_tags(dict(params)) or {}
        role = self.iam.role_by_arn(role_arn)
        denied = Refused(
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
            f"{role_arn}",
        )
        if role is None:
            raise denied
        context = global_context(caller, region)
        context.update({"sts:RoleSessionName": session})
        context.update({f"iam:ResourceTag/{k}": v for k, v in role.tags.items()})
        if tags:
            context.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
            context["aws:TagKeys"] = sorted(tags)
        if source:
            context["sts:SourceIdentity"] = source
        who = Principal(caller.principal_arn, self.account)
        wanted = ["sts:AssumeRole"]
        if tags:
            wanted.append("sts:TagSession")
        if params.get("SourceIdentity") and not caller.source_identity:
            wanted.append("sts:SetSourceIdentity")
        for action in wanted:
            if not self._trust_check(caller, who, role, action, context):
                raise Refused(
                    "AccessDenied",
                    f"User: {caller.arn} is not authorized to perform: {action} on resource: "
                    f"{role_arn}",
                )
        limit = CHAINED_MAX if caller.kind == "session" else role.max_session
        return self._issue(role, session, _duration(params, limit), source, tags)

    def assume_role_with_web_identity(
        self, claims: Claims, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """sts:AssumeRoleWithWebIdentity with a token whose signature and expiry hold:
        the account's OIDC provider for its issuer, its audience, then the role's trust
        with `<issuer>:sub` and `<issuer>:aud`."""
        role_arn = str(params.get("RoleArn", ""))
        session = _session_name(params)
        provider = f"arn:aws:iam::{self.account}:oidc-provider/{claims.issuer}"
        audiences = self.iam.oidc_provider(provider)
        if audiences is None:
            raise Refused("InvalidIdentityToken", "No OpenIDConnect provider found in your "
                          f"account for https://{claims.issuer}")  # fmt: skip
        if claims.audience not in audiences:
            raise Refused("InvalidIdentityToken", "Incorrect token audience")
        role = self.iam.role_by_arn(role_arn)
        denied = Refused("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        if role is None:
            raise denied
        context: dict[str, Any] = {
            f"{claims.issuer}:sub": claims.subject,
            f"{claims.issuer}:aud": claims.audience,
            "sts:RoleSessionName": session,
        }
        who = Principal(provider, self.account, federated=provider)
        if not self._trust_check(None, who, role, "sts:AssumeRoleWithWebIdentity", context):
            raise denied
        made = self._issue(role, session, _duration(params, role.max_session), None, {})
        return {**made, "SubjectFromWebIdentityToken": claims.subject,
                "Provider": provider, "Audience": claims.audience}  # fmt: skip

    def assume_as_service(
        self, role_arn: str, service: str, session: str, source: str | None, duration: int
    ) -> dict[str, Any]:
        """A service (sagemaker.amazonaws.com) assuming a role for a resource it runs;
        the role must trust the service for sts:AssumeRole (and sts:SetSourceIdentity)."""
        role = self.iam.role_by_arn(role_arn)
        if role is None:
            raise Refused("AccessDenied", f"{service} could not assume {role_arn}: no such role")
        who = Principal(role_arn, self.account, service=service)
        context: dict[str, Any] = {"sts:RoleSessionName": session}
        if source:
            context["sts:SourceIdentity"] = source
        for action in ["sts:AssumeRole"] + (["sts:SetSourceIdentity"] if source else []):
            if not self._trust_check(None, who, role, action, context):
                raise Refused(
                    "AccessDenied",
                    f"{service} is not allowed to perform {action} on {role_arn}: its trust "
                    f"policy must allow {service} {action}",
                )
        return self._issue(role, session, min(duration, role.max_session), source, {})

    def _issue(
        self,
        role: RoleInfo,
        session: str,
        duration: int,
        source: str | None,
        tags: Mapping[str, str],
    ) -> dict[str, Any]:
        now = self.clock()
        key_id = _random("ASIA", 20)
        secret = _random("", 40, string.ascii_letters + string.digits + "+/")
        token = secrets.token_urlsafe(96)
        entry = {
            "Kind": "session",
            "Secret": secret,
            "Token": token,
            "RoleArn": role.arn,
            "RoleId": role.id,
            "RoleName": role.name,
            "Session": session,
            "SourceIdentity": source,
            "Tags": dict(tags),
            "Issued": now,
            "Expires": now + duration,
        }
        with self.store.lock:
            table = self.store.table(TABLE)
            for old in [k for k, v in table.items() if v.get("Expires", now) < now - 86400]:
                del table[old]  # a day past expiry: forgotten
            table[key_id] = entry
            self.store.save()
        return {
            "Credentials": {
                "AccessKeyId": key_id,
                "SecretAccessKey": secret,
                "SessionToken": token,
                "Expiration": _stamp(now + duration),
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role.id}:{session}",
                "Arn": f"arn:aws:sts::{self.account}:assumed-role/{role.name}/{session}",
            },
            "SourceIdentity": source,
        }

    def expire(self, key_id: str) -> None:
        """End a session now (tests: an expired session)."""
        with self.store.lock:
            entry = self.store.table(TABLE).get(key_id)
            if entry is not None and entry["Kind"] == "session":
                entry["Expires"] = self.clock() - 1
                self.store.save()
