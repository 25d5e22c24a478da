"""SSM for SSH into Studio apps, the laptop's side: the app's managed instance found by
its tags, the laptop's public key pushed inline with Run Command, the session started
with AWS-StartSSHSession. Each refusal becomes an error that says what to do."""

from __future__ import annotations

import shlex
import shutil
from typing import Any

from botocore.exceptions import ClientError

from smstudio.core import wait
from smstudio.core.errors import SmstudioError
from smstudio.ssh.sshconfig import SSHD_PORT, StudioHost

RESOURCE_ARN = "SSHResourceArn"
OWNER = "SSHOwner"
SSH_DOCUMENT = "AWS-StartSSHSession"
SHELL_DOCUMENT = "AWS-RunShellScript"
SSHD_CONFIG = "/tmp/smstudio-sshd/sshd_config"
NO_SSHD = 3  # the key script's exit code when sshd is not running
TERMINAL = {"Success", "Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"}


HOST_KEY_MARK = "smstudio-host-key "


def key_script(public_key: str) -> str:
    """Run as root by the SSM agent: add the key to the file the app's sshd reads (from
    its own config), owned by the app's user; once only; then print sshd's host public
    keys (the laptop pins them). Exit 3 when sshd is down."""
    key = shlex.quote(public_key.strip())
    return "\n".join(
        [
            "set -eu",
            f"c={SSHD_CONFIG}",
            'p=$(sed -n "s/^PidFile //p" "$c" 2>/dev/null || true)',
            f'if [ -z "$p" ] || ! kill -0 "$(cat "$p" 2>/dev/null)" 2>/dev/null; then '
            f'echo "sshd is not running" >&2; exit {NO_SSHD}; fi',
            "f=$(sed -n 's/^AuthorizedKeysFile \\([^ ]*\\).*/\\1/p' \"$c\")",
            'o=$(stat -c %u:%g "$(dirname "$f")")',
            'touch "$f"; chown "$o" "$f"; chmod 600 "$f"',
            f'grep -qxF {key} "$f" || echo {key} >>"$f"',
            'echo "key authorized"',
            'for h in $(sed -n "s/^HostKey //p" "$c"); do '
            f'printf "{HOST_KEY_MARK}%s\\n" "$(cut -d" " -f1,2 "$h.pub")"; done',
        ]
    )


def host_keys(output: str) -> list[str]:
    """The host keys the key script printed."""
    return [line.removeprefix(HOST_KEY_MARK).strip() for line in output.splitlines()
            if line.startswith(HOST_KEY_MARK)]  # fmt: skip


def find_instance(ssm: Any, host: StudioHost, app_arn: str, owner: str) -> str:
    """The newest managed instance registered for the app by its owner, online. An
    instance that names the app but another owner is not the app: it is never used."""
    listed: list[dict[str, Any]] = []
    pages = ssm.get_paginator("describe_instance_information").paginate(
        Filters=[
            {"Key": f"tag:{RESOURCE_ARN}", "Values": [app_arn]},
            {"Key": f"tag:{OWNER}", "Values": [owner]},
        ]
    )
    for page in pages:
        listed += page["InstanceInformationList"]
    if not listed:
        raise SmstudioError(
            f"{host.name}: the app is not registered with SSM",
            "its lifecycle log (step `ssh`) says why; the image needs the SSM agent and the "
            "AWS CLI (bake variables SSM_AGENT_URL/AWSCLI_URL), then restart the app",
        )
    newest = max(listed, key=lambda i: i.get("RegistrationDate") or 0)
    if newest.get("PingStatus") != "Online":
        raise SmstudioError(
            f"{host.name}: the SSM agent of {newest['InstanceId']} is offline "
            f"({newest.get('PingStatus')})",
            "restart the app (it registers again at start); if it stays offline, see the "
            "app's lifecycle log, step `ssh`",
        )
    return str(newest["InstanceId"])


def _denied(ssm: Any, host: StudioHost, instance_id: str, exc: ClientError) -> SmstudioError:
    owner = "someone else"
    try:
        tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=instance_id)
        owner = next((t["Value"] for t in tags["TagList"] if t["Key"] == OWNER), owner)
    except ClientError:
        pass
    return SmstudioError(
        f"{host.name} is not yours: SSM refused it ({exc.response['Error']['Message']}); "
        f"the app belongs to {owner}",
        "connect to your own apps (`smstudio ssh YOUR-NAME`); in AWS your identity's "
        "studiouserid tag must equal the app's SSHOwner tag",
    )


def on_instance(ssm: Any, host: StudioHost, instance_id: str, operation: str, **params: Any) -> Any:
    """Call an SSM operation on the app's managed instance; a refusal (SSM allows these
    only where the SSHOwner tag is yours) becomes an error that names the owner."""
    try:
        return getattr(ssm, operation)(**params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("AccessDeniedException", "AccessDenied"):
            raise _denied(ssm, host, instance_id, exc) from exc
        raise


def push_key(ssm: Any, host: StudioHost, instance_id: str, public_key: str) -> list[str]:
    """Authorize the laptop's public key in the app through Run Command; wait for it. The
    app's host keys, read on the way back through SSM (which only the owner can use)."""
    sent = on_instance(
        ssm, host, instance_id, "send_command",
        InstanceIds=[instance_id],
        DocumentName=SHELL_DOCUMENT,
        Comment=f"smstudio: authorize an SSH key for {host.owner}"[:100],
        Parameters={"commands": [key_script(public_key)]},
        TimeoutSeconds=30,
    )  # fmt: skip
    command_id = sent["Command"]["CommandId"]

    def finished() -> dict[str, Any] | None:
        try:
            done = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:  # right after SendCommand it may not exist yet
            if exc.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
            return None
        return dict(done) if done["Status"] in TERMINAL else None

    try:  # quick for a fast agent, gentle on the API after
        done = wait.until(finished, 60, 0.05, backoff=1.5, max_interval=1.0)
    except wait.TimedOut:
        raise SmstudioError(
            f"{host.name}: the SSM agent did not run the key command within 60 s",
            "check the app is healthy; try again",
        ) from None
    if done["Status"] == "Success":
        keys = host_keys(done.get("StandardOutputContent", ""))
        if not keys:
            raise SmstudioError(
                f"{host.name}: the app did not report its sshd host key",
                "restart the app (its lifecycle step `ssh` writes the host key)",
            )
        return keys
    if done.get("ResponseCode") == NO_SSHD:
        raise SmstudioError(
            f"{host.name}: sshd is not running in the app",
            "restart the app; its lifecycle log (step `ssh`) says why sshd did not start",
        )
    raise SmstudioError(
        f"{host.name}: authorizing the key failed ({done['Status']}): "
        f"{done.get('StandardErrorContent', '').strip()[:300]}"
    )


def session_command(instance_id: str, region: str, path: str | None = None) -> list[str]:
    """The AWS CLI's start-session, which runs the session-manager plugin for the stream
    (both looked up on `path`, default PATH)."""
    tools = ("aws", "session-manager-plugin")
    missing = [tool for tool in tools if shutil.which(tool, path=path) is None]
    if "aws" in missing:
        raise SmstudioError(
            "the AWS CLI v2 (`aws`) is not installed on this machine",
            "install it (https://docs.aws.amazon.com/cli/latest/userguide/"
            "getting-started-install.html), then connect again",
        )
    if missing:
        raise SmstudioError(
            "the Session Manager plugin (`session-manager-plugin`) is not installed",
            "install it (https://docs.aws.amazon.com/systems-manager/latest/userguide/"
            "session-manager-working-with-install-plugin.html), then connect again",
        )
    return [
        "aws", "ssm", "start-session",
        "--target", instance_id,
        "--document-name", SSH_DOCUMENT,
        "--parameters", f"portNumber={SSHD_PORT}",
        "--region", region,
    ]  # fmt: skip
