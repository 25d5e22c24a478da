"""moto, in the gateway's process: the services it emulates (IAM, ECR, S3, Secrets
Manager, CloudWatch Logs, SES, EventBridge, Lambda, EFS) are reached only through the
gateway, which authorized the request first. Its state is kept by a journal of the
requests that changed something, appended (and fsynced) as they are served and replayed
at the next start: each entry encrypted with a key of its own (journal.key, 0600) and
without the request's credentials, so no secret lies in it in plain text. The gateway
also reads moto's IAM and Secrets Manager state here to authorize (roles, users and their
keys, policies, tags); this is the one module that knows moto's models."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from smstudio.local import durable
from smstudio.local.gateway.identities import RoleInfo, UserInfo
from smstudio.local.gateway.protocol import RawRequest, Response

READ_ONLY = ("Get", "List", "Describe", "Head", "BatchGet", "Filter", "Lookup", "Search",
             "Test", "Validate", "Simulate")  # fmt: skip


def changes_state(operation: str) -> bool:
    return not operation.startswith(READ_ONLY)


@lru_cache(maxsize=1024)
def _document(text: str) -> dict[str, Any]:
    try:
        return dict(json.loads(text))
    except ValueError:
        return dict(json.loads(unquote(text)))


SCOPE = re.compile(r"Credential=[^/]+/(?P<scope>\d{8}/[^/]+/[^/]+)/aws4_request")


def _scrubbed(headers: dict[str, list[str]]) -> dict[str, list[str]]:
    """The headers without credentials; the signature's scope (service, region) stays, as
    moto needs it to know the service."""
    out = {k: v for k, v in headers.items() if k not in ("x-amz-security-token", "authorization")}
    found = SCOPE.search((headers.get("authorization") or [""])[0])
    if found:
        out["authorization"] = [f"AWS4-HMAC-SHA256 Credential=REPLAY/{found['scope']}/aws4_request"
                                ", SignedHeaders=host, Signature=" + "0" * 64]  # fmt: skip
    return out


class Moto:
    def __init__(self, account: str, journal: Path | None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.account = account
        self.journal = journal
        self.app = DomainDispatcherApplication(create_backend_app)
        self.lock = threading.RLock()
        self.replay_failures: list[str] = []
        self._cipher: Any = None

    def _fernet(self) -> Any:
        """The journal's cipher; its key made on first use, beside the journal."""
        from cryptography.fernet import Fernet

        if self._cipher is None and self.journal is not None:
            key_file = self.journal.with_name("journal.key")
            found, _ = durable.read_json(key_file)
            if not isinstance(found, dict) or "key" not in found:
                found = {"key": Fernet.generate_key().decode()}
                durable.write(key_file, json.dumps(found))
            self._cipher = Fernet(str(found["key"]).encode())
        return self._cipher

    # --- serving ----------------------------------------------------------------------

    def forward(self, request: RawRequest, record: bool) -> Response:
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        # moto reads S3 buckets from a Host that is not an address: always an address here,
        # so it serves the bucket that was authorized (the one in the path)
        headers = [(k, v) for k, values in request.headers.items() for v in values
                   if k not in ("content-length", "transfer-encoding", "host")]  # fmt: skip
        headers.append(("host", "127.0.0.1"))
        builder = EnvironBuilder(
            path=unquote(request.path) or "/",
            method=request.method,
            headers=headers,
            data=request.body,
            query_string=request.query,
        )
        environ = builder.get_environ()
        environ["RAW_URI"] = environ["REQUEST_URI"] = request.path + (
            f"?{request.query}" if request.query else ""
        )
        with self.lock:
            body_iter, status, response_headers = run_wsgi_app(self.app, environ)
            body = b"".join(body_iter)
            if hasattr(body_iter, "close"):
                body_iter.close()
            if record and int(status.split()[0]) < 300:
                self._record(request)
        hop = ["transfer-encoding", "connection"]
        if request.method != "HEAD":  # HEAD answers keep the length of what GET would send
            hop.append("content-length")
        out_headers = {k: v for k, v in response_headers.items() if k.lower() not in hop}
        return Response(int(status.split()[0]), out_headers, body)

    def _record(self, request: RawRequest) -> None:
        if self.journal is None:
            return
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": _scrubbed({k: list(v) for k, v in request.headers.items()}),
            "body": base64.b64encode(request.body).decode(),
        }
        sealed = self._fernet().encrypt(json.dumps(entry).encode()).decode()
        with self.journal.open("a") as out:
            out.write(json.dumps({"sealed": sealed}) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.journal.chmod(0o600)

    def replay(self) -> int:
        """Serve the journal again (at start); the number of requests replayed. A line cut
        short by a crash is dropped."""
        if self.journal is None or not self.journal.exists():
            return 0
        lines = self.journal.read_text().splitlines()
        done = 0
        kept = []
        for line in lines:
            try:
                entry = json.loads(line)
                if "sealed" in entry:
                    entry = json.loads(self._fernet().decrypt(entry["sealed"].encode()))
            except Exception:  # a line cut short by a crash, or not this journal's key
                continue
            request = RawRequest(entry["method"], entry["path"], entry["query"],
                                 entry["headers"], base64.b64decode(entry["body"]))  # fmt: skip
            answer = self.forward(request, record=False)
            if answer.status >= 300:
                self.replay_failures.append(f"{request.method} {request.path}: {answer.status}")
            kept.append(line)
            done += 1
        if len(kept) != len(lines):
            self.journal.write_text("".join(f"{line}\n" for line in kept))
        return done

    @staticmethod
    def reset() -> None:
        """Forget every moto backend's state (in-process tests)."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    # --- IAM's state, for authorization --------------------------------------------------

    def _iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.account]["aws"]

    @staticmethod
    def _managed(policies: Iterable[Any]) -> list[dict[str, Any]]:
        out = []
        for policy in policies:
            version = next((v for v in policy.versions if v.is_default), None)
            if version is not None:
                out.append(_document(version.document))
        return out

    def _attached(self, holder: Any) -> list[dict[str, Any]]:
        inline = [_document(text) for text in holder.policies.values()]
        return inline + self._managed(holder.managed_policies.values())

    def role_by_arn(self, arn: str) -> RoleInfo | None:
        with self.lock:
            for role in list(self._iam().roles.values()):
                if role.arn == arn:
                    return RoleInfo(
                        arn=role.arn,
                        id=role.id,
                        name=role.name,
                        tags={t["Key"]: t["Value"] for t in role.tags or []},
                        trust=_document(role.assume_role_policy_document),
                        policies=tuple(self._attached(role)),
                        max_session=int(role.max_session_duration or 3600),
                    )
        return None

    def oidc_provider(self, arn: str) -> list[str] | None:
        """The audiences (client IDs) of the account's OIDC provider `arn`; None when
        there is none."""
        with self.lock:
            found = self._iam().open_id_providers.get(arn)
            return list(found.client_id_list) if found is not None else None

    def user_by_key(self, access_key: str) -> UserInfo | None:
        with self.lock:
            backend = self._iam()
            for user in list(backend.users.values()):
                key = next((k for k in user.access_keys if k.access_key_id == access_key), None)
                if key is None:
                    continue
                policies = self._attached(user)
                for group in backend.groups.values():
                    if user in group.users:
                        policies += self._attached(group)
                tags = backend.tagger.list_tags_for_resource(user.arn)["Tags"]
                return UserInfo(
                    arn=user.arn,
                    id=user.id,
                    name=user.name,
                    secret=key.secret_access_key,
                    active=key.status == "Active",
                    tags={t["Key"]: t["Value"] for t in tags},
                    policies=tuple(policies),
                )
        return None

    def iam_tags(self, arn: str) -> dict[str, str] | None:
        with self.lock:
            backend = self._iam()
            if ":role/" in arn:
                for role in list(backend.roles.values()):
                    if role.arn == arn:
                        return {t["Key"]: t["Value"] for t in role.tags or []}
            if ":user/" in arn:
                for user in list(backend.users.values()):
                    if user.arn == arn:
                        tags = backend.tagger.list_tags_for_resource(arn)["Tags"]
                        return {t["Key"]: t["Value"] for t in tags}
        return None

    # --- Secrets Manager's state ---------------------------------------------------------------

    def _secret(self, secret_id: str, region: str) -> Any:
        from moto.secretsmanager.models import secretsmanager_backends

        return secretsmanager_backends[self.account][region].secrets.get(secret_id)

    def secret_arn(self, secret_id: str, region: str) -> str | None:
        with self.lock:
            found = self._secret(secret_id, region)
            return str(found.arn) if found is not None else None

    def secret_tags(self, arn: str) -> dict[str, str] | None:
        region = arn.split(":")[3]
        with self.lock:
            found = self._secret(arn, region)
            if found is None:
                return None
            return {t["Key"]: t["Value"] for t in found.tags or []}

    # --- SES's sent messages (the local Studio's admin reads them back) -------------------

    def ses_sent(self, region: str) -> list[dict[str, Any]]:
        """What SES sent in this region, oldest first: templated messages with their
        template and data, plain ones with their subject and body."""
        from moto.ses.models import ses_backends

        with self.lock:
            backend = ses_backends[self.account][region]
            out = []
            for message in list(backend.sent_messages):
                entry: dict[str, Any] = {
                    "MessageId": getattr(message, "id", None),
                    "Source": message.source,
                    "Destination": message.destinations,
                }
                for attribute, key in (("template", "Template"), ("template_data", "TemplateData"),
                                       ("subject", "Subject"), ("body", "Body"),
                                       ("raw_data", "RawData")):  # fmt: skip
                    if hasattr(message, attribute):
                        entry[key] = getattr(message, attribute)
                out.append(entry)
            return out
