#!/usr/bin/env python3
"""The docker context `studio-remote` for this Studio Classic app's user: their own Docker
engine on the team's engine host (`smstudio docker-host setup`), reached with ssh through
SSM (AWS-StartSSHSession), with this app's key pushed into the engine's door by Run Command.

Run at every start by the KernelGateway lifecycle script when the team names the host
(SMSTUDIO_DOCKER_REMOTE_HOST), with the app's execution-role session, whose SourceIdentity
is the user: IAM lets it reach only the door tagged with that user (SSHOwner). Then, in a
notebook terminal:

    docker --context studio-remote run --rm IMAGE ...

Prints one log line per outcome; exits 1 when the context could not be made (the
lifecycle script logs it and goes on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

METADATA = Path("/opt/ml/metadata/resource-metadata.json")
CONTEXT = "studio-remote"
ALIAS = "smstudio-docker-engine"
BEGIN, END = f"# >>> {ALIAS} (smstudio)", f"# <<< {ALIAS}"
# what the key may do in the door: speak to its user's engine through the proxy, nothing else
KEY_COMMAND = (
    'command="python3 /opt/smstudio-engine/relay.py --stdio unix:/proxy/proxy.sock",restrict'
)


def log(level: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} {level} docker: {message}", flush=True)


def find_engine(ssm: Any, host: str, user: str) -> str | None:
    filters = [
        {"Key": "tag:SSHResourceName", "Values": ["docker-engine"]},
        {"Key": "tag:SSHHost", "Values": [host]},
        {"Key": "tag:SSHOwner", "Values": [user]},
        {"Key": "PingStatus", "Values": ["Online"]},
    ]
    found = ssm.describe_instance_information(Filters=filters)["InstanceInformationList"]
    return str(found[0]["InstanceId"]) if found else None


def key_pair(ssh_dir: Path, user: str) -> str:
    key = ssh_dir / "smstudio-docker"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        f"smstudio-docker {user}", "-f", str(key)], check=True)  # fmt: skip
    return (ssh_dir / "smstudio-docker.pub").read_text().strip()


def push_key(ssm: Any, instance: str, public_key: str) -> str:
    """The key into the door's authorized_keys (with its one command); the door's host key."""
    line = f"{KEY_COMMAND} {public_key}"
    script = (
        f"grep -qxF {json.dumps(line)} /root/.ssh/authorized_keys || "
        f"echo {json.dumps(line)} >> /root/.ssh/authorized_keys\n"
        "cat /etc/ssh/ssh_host_ed25519_key.pub\n"
    )
    sent = ssm.send_command(
        InstanceIds=[instance], DocumentName="AWS-RunShellScript",
        Parameters={"commands": [script]}, TimeoutSeconds=60,
    )  # fmt: skip
    command = sent["Command"]["CommandId"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            done = ssm.get_command_invocation(CommandId=command, InstanceId=instance)
        except ssm.exceptions.InvocationDoesNotExist:
            continue
        if done["Status"] == "Success":
            return str(done["StandardOutputContent"]).strip().splitlines()[-1]
        if done["Status"] in ("Failed", "Cancelled", "TimedOut"):
            raise SystemExit(f"the key push failed: {done.get('StandardErrorContent', '')[-300:]}")
    raise SystemExit("the key push did not finish within 60 s")


def write_ssh(ssh_dir: Path, instance: str, host_key: str) -> None:
    known = ssh_dir / "known_hosts"
    lines = [x for x in (known.read_text().splitlines() if known.exists() else [])
             if not x.startswith(f"{ALIAS} ")]  # fmt: skip
    kind, body = host_key.split()[:2]
    known.write_text("\n".join([*lines, f"{ALIAS} {kind} {body}"]) + "\n")
    config = ssh_dir / "config"
    text = config.read_text() if config.exists() else ""
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + text[text.index(END) + len(END) :].lstrip("\n")
    proxy = Path(__file__).with_name("ssm_proxy.py")
    block = "\n".join([
        BEGIN,
        f"Host {ALIAS}",
        f"  HostName {instance}",
        "  User root",
        "  Port 22",
        f"  IdentityFile {ssh_dir / 'smstudio-docker'}",
        "  IdentitiesOnly yes",
        f"  HostKeyAlias {ALIAS}",
        "  StrictHostKeyChecking yes",
        f"  ProxyCommand {sys.executable} {proxy} %h %p",
        END,
    ])  # fmt: skip
    config.write_text(block + "\n" + text)
    config.chmod(0o600)


def make_context() -> None:
    subprocess.run(["docker", "context", "rm", "-f", CONTEXT], capture_output=True, check=False)
    done = subprocess.run(
        ["docker", "context", "create", CONTEXT, "--description",
         "your own Docker engine on the team's engine host (smstudio)",
         "--docker", f"host=ssh://{ALIAS}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"docker context create failed: {done.stderr.strip()[-300:]}")


def main() -> int:
    host = os.environ.get("SMSTUDIO_DOCKER_REMOTE_HOST", "")
    if not host or not METADATA.exists():
        log("INFO", "no remote Docker host for this team: no studio-remote context")
        return 0
    user = json.loads(METADATA.read_text()).get("UserProfileName") or ""
    if not user:
        log("INFO", "not a user's app (a space): no studio-remote context")
        return 0
    ssm = boto3.session.Session().client("ssm")
    instance = find_engine(ssm, host, user)
    if instance is None:
        raise SystemExit(f"no Docker engine of {user} online on {host}: ask the platform team "
                         "to run `smstudio docker-host setup`")  # fmt: skip
    ssh_dir = Path.home() / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    host_key = push_key(ssm, instance, key_pair(ssh_dir, user))
    write_ssh(ssh_dir, instance, host_key)
    make_context()
    log("INFO", f"docker context {CONTEXT}: {user}'s engine, {instance} on {host}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as stop:
        if isinstance(stop.code, str):
            log("ERROR", stop.code)
            sys.exit(1)
        raise
    except Exception as exc:  # logged; the lifecycle script goes on
        log("ERROR", f"the studio-remote context failed: {exc!r}")
        sys.exit(1)
