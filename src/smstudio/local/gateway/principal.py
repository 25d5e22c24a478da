"""Who a request comes from, once its signature checked out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TYPES = {"root": "Account", "user": "User", "session": "AssumedRole"}


@dataclass(frozen=True)
class Caller:
    kind: str  # root | user | session
    account: str
    arn: str  # what GetCallerIdentity answers (assumed-role/ROLE/SESSION for sessions)
    userid: str  # aws:userid: the account (root), AIDA... (user), AROA...:session
    principal_arn: str  # aws:PrincipalArn: the role for sessions
    tags: Mapping[str, str] = field(default_factory=dict)  # aws:PrincipalTag/*
    source_identity: str | None = None
    username: str | None = None  # IAM users
    issued: float | None = None  # sessions: aws:TokenIssueTime
    access_key: str = ""

    @property
    def root(self) -> bool:
        return self.kind == "root"

    @property
    def role_name(self) -> str | None:
        if self.kind != "session":
            return None
        return self.principal_arn.rsplit("/", 1)[-1]

    @property
    def session_name(self) -> str | None:
        return self.arn.rsplit("/", 1)[-1] if self.kind == "session" else None
