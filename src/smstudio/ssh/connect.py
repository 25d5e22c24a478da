"""The laptop side of SSH into Studio apps: find the app, make the host's key, push the
public key and carry the SSH stream to the app's sshd (127.0.0.1:2222 in the container).

One entry point, `smstudio ssh proxy HOST`, and the same steps everywhere: managed
instance by tags, key through Run Command, then `aws ssm start-session` with
AWS-StartSSHSession. Only the stream differs: AWS's Session Manager plugin in AWS, a
stand-in (smstudio.local.session_plugin) through the container in the local Studio.
Only the public key leaves here.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from smstudio.core import aws, project
from smstudio.core.config import Team
from smstudio.core.errors import SmstudioError
from smstudio.core.sagemaker import App, AppId, SageMaker
from smstudio.ssh import remote, ssm
from smstudio.ssh.sshconfig import USER, StudioHost, parse_host, pin_host_keys
from smstudio.workspaces import apps

ENDPOINT_KEYS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SSM",
                 "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION")  # fmt: skip
ENV_KEYS = (*ENDPOINT_KEYS, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def local_studio() -> bool:
    """Whether the Studio in force (the environment's SageMaker endpoint, which is how the
    local Studio is addressed) is the local one; decided without making a client."""
    url = aws.env_endpoint("sagemaker")
    return url is not None and urlparse(url).hostname == "127.0.0.1"


def ssh_dir() -> Path:
    return project.state_dir() / "ssh"


def key_for(host: StudioHost) -> Path:
    """The host's own key pair, made on first use; the private key never leaves here."""
    key = ssh_dir() / "keys" / host.name
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"smstudio {host.name}",
             "-f", str(key)],
            check=True,
        )  # fmt: skip
    return key


def resolve(sm: SageMaker, team: Team, target: str) -> StudioHost:
    """A user name (their workspace's JupyterLab app) or a Studio host name (a space's app,
    JupyterLab or Code Editor, or a user's KernelGateway app)."""
    if "." in target:
        return parse_host(target)
    ws = apps.workspace(sm, team, target, None)
    return StudioHost("default", ws.space, ws.domain_id)


def running_app(sm: SageMaker, host: StudioHost) -> tuple[App, str]:
    """The app behind a host name, InService, and its owner (the user it registers with
    SSM as); or an error that says what to do."""
    spaces = {s["SpaceName"]: s for s in sm.spaces(host.domain)}
    users = set(sm.profile_names(host.domain))
    if host.owner in spaces:
        space = spaces[host.owner]
        if (space.get("SpaceSharingSettingsSummary") or {}).get("SharingType") == "Shared":
            raise SmstudioError(
                f"{host.name}: {host.owner} is a shared space, which takes no SSH (its app acts "
                "for no single user, so no one can be its SSH owner)",
                f"open its terminal in the browser: `smstudio open USER --space {host.owner}`",
            )
        owner = (space.get("OwnershipSettingsSummary") or {}).get("OwnerUserProfileName", "")
        kind = (space.get("SpaceSettingsSummary") or {}).get("AppType") or "JupyterLab"
        ident: AppId = {"SpaceName": host.owner, "AppType": kind}
        start = f"start it with `smstudio up USER --space {host.owner}`"
    elif host.owner in users:
        owner = host.owner
        ident = {"UserProfileName": host.owner, "AppType": "KernelGateway"}
        start = "start the KernelGateway app from Studio"
    else:
        raise SmstudioError(
            f"{host.name}: no space or user {host.owner!r} in {host.domain}",
            "create the workspace with `smstudio up USER`, then connect again",
        )
    app = sm.app({"DomainId": host.domain, "AppName": host.app, **ident}) or {"Status": "missing"}
    if app["Status"] != "InService":
        raise SmstudioError(
            f"{host.name}: the app is not running ({app['Status']})",
            f"{start}, then connect again",
        )
    return app, owner


def local_plugin_dir() -> Path:
    """A folder with the local Studio's stand-in for the Session Manager plugin."""
    folder = ssh_dir() / "local-session-plugin"
    plugin = folder / "session-manager-plugin"
    text = f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m smstudio.local.session_plugin "$@"\n'
    if not plugin.exists() or plugin.read_text() != text:
        folder.mkdir(parents=True, exist_ok=True)
        plugin.write_text(text)
        plugin.chmod(0o755)
    return folder


def transport_path() -> str | None:
    """PATH for `aws ssm start-session`: as it is for AWS; for the local Studio, its
    stand-in plugin first, then this environment's own AWS CLI."""
    if not local_studio():
        return None
    here = [str(local_plugin_dir()), str(Path(sys.executable).parent)]
    return os.pathsep.join([*here, os.environ.get("PATH", "")])


def preflight(clients: Any, host: StudioHost, region: str) -> str:
    """Everything before the stream, checked so a refusal is a clear error: the app is
    running, its managed instance online, the AWS CLI and the plugin here, the key
    accepted through Run Command (which SSM allows only on your own apps). Returns the
    managed instance's id."""
    ssm_client = clients.client("ssm")
    app, owner = running_app(SageMaker.of(clients), host)
    instance_id = ssm.find_instance(ssm_client, host, app["AppArn"], owner)
    ssm.session_command(instance_id, region, transport_path())  # raises if a tool is missing
    public_key = Path(f"{key_for(host)}.pub").read_text()
    pin(host, ssm.push_key(ssm_client, host, instance_id, public_key))
    return instance_id


def known_hosts() -> Path:
    return ssh_dir() / "known_hosts"


def pin(host: StudioHost, keys: list[str]) -> None:
    """Write the app's host keys (read through SSM) as the only ones ssh accepts for it."""
    path = known_hosts()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    current = path.read_text() if path.exists() else ""
    wanted = pin_host_keys(current, host.name, keys)
    if wanted != current:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(wanted)
        temporary.replace(path)


READY = "SMSTUDIO_SSH_READY"  # "<host> <instance>": the pre-flight ran just now


def ready_env(host: StudioHost, instance_id: str) -> dict[str, str]:
    """The environment for ssh after `preflight`: its ProxyCommand skips what was just
    done (lookup, key push) and goes straight to start-session, which SSM authorizes."""
    return {**os.environ, READY: f"{host.name} {instance_id}"}


TRANSPORTS = ("ssm", "remote-access", "auto")


def remote_access_enabled(sm: SageMaker, host: StudioHost) -> bool:
    """Whether the host's space (from ListSpaces) has SpaceSettings.RemoteAccess on."""
    for space in sm.spaces(host.domain):
        if space["SpaceName"] == host.owner:
            return (space.get("SpaceSettingsSummary") or {}).get("RemoteAccess") == "ENABLED"
    return False


def remote_proxy(clients: Any, host: StudioHost, region: str) -> None:
    """ProxyCommand over SageMaker's remote access: the laptop's public key into the
    user's remote-access secret, StartSession on the space's app, then the Session
    Manager plugin in place of this process."""
    sm = SageMaker.of(clients)
    app, owner = running_app(sm, host)
    if not app.get("SpaceName"):
        raise SmstudioError(
            f"{host.name}: remote access reaches spaces; {host.owner}'s KernelGateway app is "
            "not in one",
            "connect with SSH over SSM instead (`smstudio ssh`, or `ssh-config --transport ssm`)",
        )
    public_key = Path(f"{key_for(host)}.pub").read_text()
    remote.store_key(clients.client("secretsmanager"), host.domain, owner, public_key)
    session = remote.start(clients.client("sagemaker"), host, app["AppArn"])
    path = transport_path()
    endpoint = remote.ssm_endpoint(region, aws.env_endpoint("ssm"))
    become(remote.plugin_command(session, region, app["AppArn"], endpoint, path), path)


def become(command: list[str], path: str | None) -> None:
    """Replace this process (the ProxyCommand: stdin/stdout are ssh's stream) with the
    stream's carrier, found on `path` when given."""
    env = dict(os.environ) if path is None else {**os.environ, "PATH": path}
    env.pop(READY, None)
    sys.stdout.flush()
    os.execvpe(command[0], command, env)


def proxy(clients: Any, host: StudioHost, region: str, transport: str = "ssm") -> int:
    """ProxyCommand: the pre-flight (key pushed), then `aws ssm start-session` with
    AWS-StartSSHSession in place of this process; the same in AWS and in the local
    Studio, where only the Session Manager plugin is its stand-in. With `remote-access`
    (or `auto`, for a space that has it), SageMaker's StartSession instead."""
    if transport == "remote-access" or (
        transport == "auto" and remote_access_enabled(SageMaker.of(clients), host)
    ):
        remote_proxy(clients, host, region)
        return 0  # not reached
    name, _, instance_id = os.environ.get(READY, "").partition(" ")
    if name != host.name or not instance_id:
        instance_id = preflight(clients, host, region)
    path = transport_path()
    become(ssm.session_command(instance_id, region, path), path)
    return 0  # not reached


def proxy_command(region: str, transport: str = "ssm") -> str:
    """The ProxyCommand for ssh: this interpreter, with the endpoint settings in force now
    (so plain `ssh` reaches the same Studio without sourcing anything). Access keys are
    written into it only for the local Studio's own keys; AWS credentials stay where the
    AWS tools find them (profile, SSO cache)."""
    keys = ENV_KEYS if local_studio() else ENDPOINT_KEYS
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in keys if k in os.environ)
    prefix = f"env {env} " if env else ""
    choice = f" --transport {transport}" if transport != "ssm" else ""
    return f"{prefix}{shlex.quote(sys.executable)} -m smstudio.sshproxy --region {region}{choice}"


def host_key_checking(transport: str) -> str:
    """SSM pins the app's host keys (read through Run Command) before ssh connects;
    remote access has no such channel, so the first key seen is kept (on the home, it
    stays the same across restarts) and any other is refused."""
    return "yes" if transport == "ssm" else "accept-new"


def ssh_args(host: StudioHost, region: str, extra: list[str], transport: str = "ssm") -> list[str]:
    known = known_hosts()
    return [
        "ssh",
        "-o", f"ProxyCommand={proxy_command(region, transport)} %h",
        "-o", f"User={USER}",
        "-o", f"IdentityFile={key_for(host)}",
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={known}",
        "-o", f"StrictHostKeyChecking={host_key_checking(transport)}",
        "-o", "LogLevel=ERROR",
        *extra,
        host.name,
    ]  # fmt: skip
