"""SageMaker's remote access, the laptop's side: SSH into a space's app through
`sagemaker:StartSession` instead of an SSM managed instance.

StartSession (as the user, on a space whose SpaceSettings.RemoteAccess is ENABLED) gives
the same triple as `ssm:StartSession` (SessionId, StreamUrl, TokenValue); the Session
Manager plugin carries the SSH stream over it to the app's sshd. There is no Run Command
to push the laptop's key, so the key goes where the app's sshd looks it up at each login
(`AuthorizedKeysCommand`, the image's ssh/authorized_keys.py): the user's own secret
`smstudio/<domain>/<user>/remote-access-keys`, which only they may write and only their
apps' sessions may read. Only public keys are stored there.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from botocore.exceptions import ClientError

from smstudio.core import facts
from smstudio.core.errors import SmstudioError
from smstudio.ssh.sshconfig import StudioHost

MAX_KEYS = 20  # the newest keys kept (one per laptop and space)
PLUGIN = "session-manager-plugin"


def keys_secret(domain_id: str, user: str) -> str:
    return facts.user_secret_name(domain_id, user, facts.ACCESS_KEYS)


def merged_keys(current: str, public_key: str) -> str | None:
    """The secret's new text with `public_key` in it (newest last, at most MAX_KEYS), or
    None when it is there already."""
    wanted = " ".join(public_key.split()[:2])  # type and base64; the comment may vary
    lines = [line.strip() for line in current.splitlines() if line.strip()]
    if any(" ".join(line.split()[:2]) == wanted for line in lines):
        return None
    return "\n".join([*lines, public_key.strip()][-MAX_KEYS:]) + "\n"


def store_key(secrets: Any, domain_id: str, user: str, public_key: str) -> str:
    """Put the laptop's public key in the user's remote-access secret; 'created',
    'added' or 'present'."""
    name = keys_secret(domain_id, user)
    try:
        current = secrets.get_secret_value(SecretId=name)["SecretString"]
    except secrets.exceptions.ResourceNotFoundException:
        secrets.create_secret(
            Name=name,
            SecretString=public_key.strip() + "\n",
            Description=f"public keys of {user}'s laptops, for remote access in {domain_id}",
            Tags=[
                {"Key": facts.STUDIO_USER_TAG, "Value": user},
                {"Key": "managed-by", "Value": "smstudio"},
            ],
        )
        return "created"
    merged = merged_keys(current, public_key)
    if merged is None:
        return "present"
    secrets.put_secret_value(SecretId=name, SecretString=merged)
    return "added"


def start(sagemaker: Any, host: StudioHost, app_arn: str) -> dict[str, str]:
    """StartSession on the space's app; a refusal becomes an error that says what to do."""
    try:
        found = sagemaker.start_session(ResourceIdentifier=app_arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code == "ValidationException" and "remote access" in message.lower():
            raise SmstudioError(
                f"{host.name}: remote access is not enabled for space {host.owner} ({message})",
                f"ask the platform team to set `remote_access = true` for space {host.owner} "
                "in the team file and run `smstudio apply`, or use SSH over SSM "
                "(`smstudio ssh`)",
            ) from None
        raise
    return {k: str(found[k]) for k in ("SessionId", "TokenValue", "StreamUrl")}


def plugin_command(
    session: dict[str, str], region: str, target: str, endpoint: str, path: str | None
) -> list[str]:
    """The Session Manager plugin as the AWS CLI runs it for a started session:
    RESPONSE REGION StartSession PROFILE PARAMETERS ENDPOINT."""
    found = shutil.which(PLUGIN, path=path)
    if found is None:
        raise SmstudioError(
            f"the Session Manager plugin (`{PLUGIN}`) is not installed",
            "install it (https://docs.aws.amazon.com/systems-manager/latest/userguide/"
            "session-manager-working-with-install-plugin.html), then connect again",
        )
    profile = os.environ.get("AWS_PROFILE", "")
    return [found, json.dumps(session), region, "StartSession", profile,
            json.dumps({"Target": target}), endpoint]  # fmt: skip


def ssm_endpoint(region: str, configured: str | None) -> str:
    """Where the plugin's data channel is set up: the SSM endpoint in force."""
    return configured or f"https://ssm.{region}.amazonaws.com"
