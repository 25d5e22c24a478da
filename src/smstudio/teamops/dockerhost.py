"""Per-user Docker engines on a host, for Studio Classic apps (`smstudio docker-host`).

Studio Classic's KernelGateway apps get no Docker from Studio; teams run an engine on a
host the apps reach over SSM. smstudio gives each user an engine of their own there:

- an **engine** container (privileged: dockerd, with the user's images and containers on a
  volume of theirs) that nobody reaches but through Studio's Docker proxy with the remote
  rules (any network and BuildKit, never privileges, host devices or the host's paths);
- a **door** container (unprivileged: sshd on its own 127.0.0.1:22, keys only, each key's
  command the bridge to that proxy), registered with SSM as a managed instance tagged
  `SSHOwner=<user>`, `SSHResourceName=docker-engine`, `SSHHost=<remote_host>`.

IAM lets an app's session (SourceIdentity = its user) send commands and start sessions
only on instances whose `SSHOwner` is that user: the KernelGateway lifecycle script pushes
the app's key with Run Command into its own user's door and makes the docker context
`studio-remote` (`ssh://` through AWS-StartSSHSession). Root in a door is root in an
unprivileged container that reaches only its user's proxy.

Here: the activations (made by the admin, tagged), and the host's setup as one idempotent
bash script (pure text), for a real host or the local Studio's machine.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from smstudio.core import facts
from smstudio.local.engines import DOOR_SOCKET_LABEL, ENGINE_PART, PART_LABEL

ENGINE_RESOURCE = "docker-engine"  # the SSHResourceName of engines' doors
HOST_TAG = "SSHHost"
OWNER_TAG = "SSHOwner"
REMOTE_RULES = json.dumps({"kind": "remote", "mountable": []})
# the engine is part of its user's door (for clean-up) but never where commands run
PART = f"{PART_LABEL}={ENGINE_PART}"


@dataclass(frozen=True)
class Engine:
    user: str
    activation_id: str
    activation_code: str


@dataclass(frozen=True)
class LocalHost:
    """The local Studio's machine as the host: engines and doors without network, the
    registry relayed under ECR's names, registration through the local control plane."""

    code_dir: str
    endpoint_dir: str
    endpoint: str  # the AWS endpoint's URL
    ecr_hosts: tuple[str, ...]
    state_dir: str = ""  # where engines' folders go (short: Unix socket paths)


@dataclass(frozen=True)
class HostSetup:
    namespace: str  # the team's (its domain's name or id)
    domain_id: str
    region: str
    image: str  # the engine image (smstudio/local-engine or the team's copy of it)
    state_dir: str  # per-user folders on the host (the proxy's and the door's sockets)
    engines: tuple[Engine, ...] = ()
    local: LocalHost | None = None
    labels: dict[str, str] = field(default_factory=dict)


def host_key(domain_id: str, user: str) -> str:
    """What the local Studio knows a user's door by (its containers' app-ARN label)."""
    return f"{ENGINE_RESOURCE}/{domain_id}/{user}"


def tags(namespace: str, domain_id: str, user: str, host: str) -> list[dict[str, str]]:
    """The activation's tags, which SSM gives the door's managed instance."""
    return [
        {"Key": OWNER_TAG, "Value": user},
        {"Key": "SSHResourceName", "Value": ENGINE_RESOURCE},
        {"Key": "SSHResourceArn", "Value": host_key(domain_id, user)},
        {"Key": HOST_TAG, "Value": host},
        {"Key": facts.MANAGED_BY_TAG, "Value": namespace},
    ]


def engine_filters(host: str, user: str | None = None) -> list[dict[str, Any]]:
    found = [
        {"Key": "tag:SSHResourceName", "Values": [ENGINE_RESOURCE]},
        {"Key": f"tag:{HOST_TAG}", "Values": [host]},
    ]
    if user is not None:
        found.append({"Key": f"tag:{OWNER_TAG}", "Values": [user]})
    return found


def online_owners(instances: list[dict[str, Any]], tags_of: dict[str, dict[str, str]]) -> set[str]:
    """Users whose engine's door is registered and online."""
    return {
        tags_of.get(i["InstanceId"], {}).get(OWNER_TAG, "")
        for i in instances
        if i.get("PingStatus") == "Online"
    } - {""}


def script(setup: HostSetup) -> str:
    """The host's setup: idempotent (a running engine is kept with its containers; a
    user's door is made again with a new registration)."""
    q = shlex.quote
    local = setup.local
    network = "--network none" if local else ""
    engine_extra = door_extra = ""
    if local:
        engine_extra = (
            f"-v {q(local.code_dir)}:/opt/smstudio-engine:ro "
            f"-v {q(local.endpoint_dir)}:/opt/ml/local-endpoint:ro "
            + " ".join(f"--add-host {h}:127.0.0.1" for h in local.ecr_hosts)
        )
        door_extra = f'-v {q(local.code_dir)}:/opt/smstudio-engine:ro -v "$dir/door:/door"'
    labels = " ".join(f"--label {q(f'{k}={v}')}" for k, v in sorted(setup.labels.items()))
    lines = [
        "#!/bin/bash",
        f"# smstudio docker-host setup: a Docker engine per user of {setup.namespace}, for",
        "# Studio Classic apps. Run as root on the host. Idempotent: running engines are kept.",
        "set -euo pipefail",
        f"image={q(setup.image)}",
        f"state={q(setup.state_dir)}",
        "if ! command -v docker >/dev/null; then",
        "  apt-get update -q && apt-get install -y -q --no-install-recommends docker.io",
        "fi",
        'docker image inspect "$image" >/dev/null 2>&1 || docker pull "$image"',
        "",
        "engine() {  # USER ACTIVATION_ID ACTIVATION_CODE HOST_KEY",
        f'  local user="$1" name="smstudio-docker-{setup.domain_id}-$1"',
        f'  local dir="$state/{setup.domain_id}/$1"',
        '  install -d -m 0700 "$dir" "$dir/proxy" "$dir/door"',
        '  running="$(docker inspect -f "{{.State.Running}}" "$name-engine" 2>/dev/null || true)"',
        '  if [ "$running" != true ]; then',
        '    docker rm -f "$name-engine" >/dev/null 2>&1 || true',
        '    docker run -d --name "$name-engine" --privileged --restart unless-stopped \\',
        f"      {network} \\",
        f"      -e SMSTUDIO_ENGINE_MODE=remote -e SMSTUDIO_DOCKER_RULES={q(REMOTE_RULES)} \\",
        f'      -v "$name:/var/lib/docker" -v "$dir/proxy:/proxy" {engine_extra} \\',
        f'      {labels} --label "io.smstudio.app-arn=$4" --label {PART} "$image" >/dev/null',
        "  fi",
        '  docker rm -f "$name-door" >/dev/null 2>&1 || true',
        f'  docker run -d --name "$name-door" --restart unless-stopped {network} \\',
        '      -e SMSTUDIO_ENGINE_MODE=door -e SMSTUDIO_ACTIVATION_ID="$2" \\',
        f'      -e SMSTUDIO_ACTIVATION_CODE="$3" -e SMSTUDIO_REGION={q(setup.region)} \\',
        f'      -v "$dir/proxy:/proxy" {door_extra} {labels} \\',
        '      --label "io.smstudio.app-arn=$4" \\',
        f'      --label "{DOOR_SOCKET_LABEL}=$dir/door/ssh.sock" \\',
        '      "$image" >/dev/null',
    ]
    if local:
        lines += [
            '  for _ in $(seq 1 100); do [ -S "$dir/door/ssh.sock" ] && break; sleep 0.1; done',
            "  curl -fsS -X POST -H 'Content-Type: application/json' \\",
            f"    {q(local.endpoint + '/_local/ssm/register-host')} \\",
            '    -d "{\\"ActivationId\\": \\"$2\\", \\"ActivationCode\\": \\"$3\\", '
            '\\"Container\\": \\"$name-door\\"}" >/dev/null',
        ]
    lines += [
        '  echo "$user: engine $name-engine, door $name-door"',
        "}",
        "",
    ]
    for e in setup.engines:
        key = host_key(setup.domain_id, e.user)
        lines.append(f"engine {q(e.user)} {q(e.activation_id)} {q(e.activation_code)} {q(key)}")
    return "\n".join(lines) + "\n"


def missing_users(ssm: Any, host: str, users: list[str]) -> list[str]:
    """The team's users with no online engine on `host` (in the team file's order)."""
    pages = ssm.get_paginator("describe_instance_information").paginate(
        Filters=engine_filters(host)
    )
    instances = [i for page in pages for i in page["InstanceInformationList"]]
    tags_of = {}
    for instance in instances:
        found = ssm.list_tags_for_resource(
            ResourceType="ManagedInstance", ResourceId=instance["InstanceId"]
        )["TagList"]
        tags_of[instance["InstanceId"]] = {t["Key"]: t["Value"] for t in found}
    online = online_owners(instances, tags_of)
    return [u for u in users if u not in online]


def activate(ssm: Any, role: str, found_tags: list[dict[str, str]]) -> tuple[str, str]:
    """An activation for one door (one registration, the managed-instance role)."""
    made = ssm.create_activation(
        Description="smstudio: a user's Docker engine for Studio Classic",
        IamRole=role,
        RegistrationLimit=1,
        Tags=found_tags,
    )
    return str(made["ActivationId"]), str(made["ActivationCode"])


def local_host(endpoint: str, account: str, region: str) -> LocalHost | None:
    """The local Studio's paths for engines on this machine, if `endpoint` is it."""
    import requests  # here: the rest of the module is pure

    if not endpoint.startswith("http://127.0.0.1:"):
        return None
    try:
        info = requests.get(f"{endpoint}/_local/docker-host", timeout=10).json()
    except (requests.RequestException, ValueError):
        return None
    if not info.get("CodeDir"):
        return None
    ecr = f"{account}.dkr.ecr.{region}.amazonaws.com"
    return LocalHost(info["CodeDir"], info["EndpointDir"], endpoint, (ecr,), info["StateDir"])
