"""Who is calling the local Studio: the access key in a request's SigV4 Authorization
header names an identity. Unknown keys (the default `testing` ones) are the platform
admin, as in an account where the admin may do everything; keys made by
`smstudio local env --user NAME` are that Studio user, carrying the `studiouserid`
principal tag the user policy's conditions compare with."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

from smstudio.local.controlplane.store import Store

_KEY = re.compile(r"Credential=([A-Za-z0-9]+)/")
TABLE = "identities"
USER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # a user profile's name


@dataclass(frozen=True)
class Caller:
    key_id: str
    user: str | None  # None: the admin (or an app's execution role)

    @property
    def name(self) -> str:
        return self.user or "admin"

    def arn(self, account: str) -> str:
        if self.user is None:
            return f"arn:aws:iam::{account}:user/admin"
        return f"arn:aws:sts::{account}:assumed-role/smstudio-user/{self.user}"


def caller(store: Store, authorization: str) -> Caller:
    found = _KEY.search(authorization)
    key_id = found.group(1) if found else ""
    with store.lock:
        known = store.table(TABLE).get(key_id)
    return Caller(key_id, known["User"] if known else None)


def credentials_for(store: Store, user: str) -> dict[str, str]:
    """The user's local access key (made once, kept with the Studio's state)."""
    if not USER_NAME.match(user):
        raise ValueError(f"{user!r} is not a user profile name")
    with store.lock:
        table = store.table(TABLE)
        for key_id, known in table.items():
            if known["User"] == user:
                return {"AccessKeyId": key_id, "SecretAccessKey": known["Secret"]}
        alphabet = string.ascii_uppercase + string.digits
        key_id = "AKIALOCAL" + "".join(secrets.choice(alphabet) for _ in range(11))
        table[key_id] = {"User": user, "Secret": secrets.token_urlsafe(30)}
        store.save()
        return {"AccessKeyId": key_id, "SecretAccessKey": table[key_id]["Secret"]}
