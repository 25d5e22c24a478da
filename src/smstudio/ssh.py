"""The laptop side of SSH into Studio apps: find the app, make the host's key, push the
public key and carry the SSH stream to the app's sshd (127.0.0.1:2222 in the container).

One entry point, `smstudio ssh proxy HOST`, and the same SSM steps everywhere (managed
instance by tags, key through Run Command, StartSession); the stream then goes through
the session-manager plugin in AWS, through the container itself (`docker exec` of a
small stdin/stdout bridge) in the local Studio. Only the public key leaves here.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from smstudio import apps, dockerhost, project, ssm
from smstudio.config import Team
from smstudio.errors import SmstudioError
from smstudio.local import runtime
from smstudio.sshconfig import SSHD_PORT, USER, StudioHost, parse_host

# Runs in the container with its python3: stdin/stdout <-> the app's sshd.
BRIDGE = (
    "import os,socket,sys,threading\n"
    "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
    "def up():\n"
    "    while (d:=os.read(0,65536)):\n"
    "        s.sendall(d)\n"
    "    s.shutdown(socket.SHUT_WR)\n"
    "threading.Thread(target=up,daemon=True).start()\n"
    "while (d:=s.recv(65536)):\n"
    "    os.write(1,d)\n"
)
ENDPOINT_KEYS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SSM",
                 "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION")  # fmt: skip
ENV_KEYS = (*ENDPOINT_KEYS, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def _local_endpoint() -> bool:
    url = os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER") or os.environ.get("AWS_ENDPOINT_URL")
    return bool(url) and urlparse(url).hostname == "127.0.0.1"


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


def is_local(sm: Any) -> bool:
    return bool(urlparse(sm.meta.endpoint_url).hostname == "127.0.0.1")


def resolve(sm: Any, team: Team, target: str) -> StudioHost:
    """A user name (their workspace's JupyterLab app) or a Studio host name."""
    if "." in target:
        return parse_host(target)
    ws = apps.workspace(sm, team, target, None)
    return StudioHost("default", ws.space, ws.domain_id)


def running_app(sm: Any, host: StudioHost) -> dict[str, Any]:
    """The app behind a host name, InService, or an error that says what to do."""
    spaces = {s["SpaceName"] for s in apps.pages(sm, "list_spaces", host.domain)}
    users = {u["UserProfileName"] for u in apps.pages(sm, "list_user_profiles", host.domain)}
    if host.owner in spaces:
        ident = {"SpaceName": host.owner, "AppType": "JupyterLab"}
        start = f"start it with `smstudio up USER --space {host.owner}`"
    elif host.owner in users:
        ident = {"UserProfileName": host.owner, "AppType": "KernelGateway"}
        start = "start the KernelGateway app from Studio"
    else:
        raise SmstudioError(
            f"{host.name}: no space or user {host.owner!r} in {host.domain}",
            "create the workspace with `smstudio up USER`, then connect again",
        )
    try:
        app = sm.describe_app(DomainId=host.domain, AppName=host.app, **ident)
    except sm.exceptions.ResourceNotFound:
        app = {"Status": "missing"}
    if app["Status"] != "InService":
        raise SmstudioError(
            f"{host.name}: the app is not running ({app['Status']})",
            f"{start}, then connect again",
        )
    return dict(app)


def _container(app: dict[str, Any]) -> Any:
    label = f"{runtime.LABEL}={app['AppArn']}"
    found = dockerhost.client().containers.list(filters={"label": label})
    if not found:
        raise SmstudioError(
            f"the local Studio has no container for {app['AppArn']}",
            "check `smstudio status`; restart the app",
        )
    return found[0]


def preflight(clients: Any, host: StudioHost) -> None:
    """What the ProxyCommand will do, checked before ssh starts so a refusal is a clear
    error here rather than a closed connection: app running, managed instance online,
    the key accepted through Run Command (which SSM allows only on your own apps)."""
    sm, ssm_client = clients.client("sagemaker"), clients.client("ssm")
    app = running_app(sm, host)
    instance_id = ssm.find_instance(ssm_client, host, app["AppArn"])
    ssm.push_key(ssm_client, host, instance_id, Path(f"{key_for(host)}.pub").read_text())


def proxy(clients: Any, host: StudioHost, region: str) -> int:
    """ProxyCommand: find the running app and its managed instance, push the key through
    Run Command, start the SSH session (SSM decides whether it is yours), then carry the
    stream: in AWS the AWS CLI and the session-manager plugin; in the local Studio the
    container itself, after the same SSM calls to its control plane."""
    sm, ssm_client = clients.client("sagemaker"), clients.client("ssm")
    app = running_app(sm, host)
    instance_id = ssm.find_instance(ssm_client, host, app["AppArn"])
    public_key = Path(f"{key_for(host)}.pub").read_text()
    if not is_local(sm):
        command = ssm.session_command(instance_id, region)  # pre-flight before any change
        ssm.push_key(ssm_client, host, instance_id, public_key)
        sys.stdout.flush()
        os.execvp(command[0], command)
    ssm.push_key(ssm_client, host, instance_id, public_key)
    ssm.start_session(ssm_client, host, instance_id)
    box = _container(app)
    command = ["docker", "exec", "-i", box.id, "python3", "-c", BRIDGE, str(SSHD_PORT)]
    return subprocess.call(command)


def proxy_command(region: str) -> str:
    """The ProxyCommand for ssh: this interpreter, with the endpoint settings in force now
    (so plain `ssh` reaches the same Studio without sourcing anything). Access keys are
    written into it only for the local Studio's own keys; AWS credentials stay where the
    AWS tools find them (profile, SSO cache)."""
    keys = ENV_KEYS if _local_endpoint() else ENDPOINT_KEYS
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in keys if k in os.environ)
    prefix = f"env {env} " if env else ""
    return f"{prefix}{shlex.quote(sys.executable)} -m smstudio.cli ssh --region {region} proxy"


def ssh_args(host: StudioHost, region: str, extra: list[str]) -> list[str]:
    known = ssh_dir() / "known_hosts"
    return [
        "ssh",
        "-o", f"ProxyCommand={proxy_command(region)} %h",
        "-o", f"User={USER}",
        "-o", f"IdentityFile={key_for(host)}",
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={known}",
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", "LogLevel=ERROR",
        *extra,
        host.name,
    ]  # fmt: skip
