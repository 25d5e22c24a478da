"""Docker for Studio Classic, in the local Studio with real engines: the admin gives each
user an engine of their own on the engine host (`smstudio docker-host setup --run`); a
KernelGateway app's lifecycle script makes the context `studio-remote` (ssh through SSM,
the key pushed by Run Command into its user's door); `docker --context studio-remote run`
works there; the engine takes no privileged containers; bob's app cannot reach alice's
engine: IAM refuses the session, and her door refuses his key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from smstudio.core import dockerhost
from smstudio.images import push
from smstudio.local import relay, runtime
from tests.e2e.conftest import Studio, container_of, local_studio, log_lines, settle
from tests.emulator.conftest import TEAM, write_team

HOST = "mi-0123456789abcdef0"
REMOTE_TEAM = TEAM.replace("[[users]]", f'[docker]\nremote_host = "{HOST}"\n\n[[users]]', 1)
LIMIT = 120
LOGIN = (
    "python3 -c 'import base64, boto3; d = boto3.client(\"ecr\").get_authorization_token()"
    "[\"authorizationData\"][0]; print(base64.b64decode(d[\"authorizationToken\"]).decode()"
    ".split(\":\", 1)[1])' | docker --context studio-remote login --username AWS --password-stdin "
    "\"$(echo {base} | cut -d/ -f1)\""
)  # fmt: skip


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str], local_base: str
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("remote-docker")
    with local_studio(root, write_team(root, REMOTE_TEAM), built_images, LIMIT) as running:
        printed = running.cli(None, "docker-host", "setup")  # for a host: a script to run there
        assert printed.returncode == 0 and printed.stdout.startswith("#!/bin/bash"), printed.stderr
        assert "\nengine alice " in printed.stdout and "\nengine bob " in printed.stdout
        done = running.cli(None, "docker-host", "setup", "--run")
        assert done.returncode == 0, done.stderr
        assert "alice: engine" in done.stderr and "bob: engine" in done.stderr, done.stderr
        again = running.cli(None, "docker-host", "setup", "--run")
        assert again.returncode == 0 and "has an engine online" in again.stderr, again.stderr
        pushed = push.push(local_base, "local-base", "bookworm", running["clients"], Console(stderr=True))
        yield {"studio": running, "base": pushed.uri}


def classic_app(studio: Studio, user: str) -> tuple[Any, Any]:
    sm = studio.user(user).client("sagemaker")
    app = {"DomainId": studio["domain"], "UserProfileName": user, "AppType": "KernelGateway",
           "AppName": "docker"}  # fmt: skip
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    found = settle(sm, app)
    assert found["Status"] == "InService", found.get("FailureReason")
    lines = log_lines(studio["logs"], app)
    assert any("docker context studio-remote" in line for line in lines), lines
    return sm, container_of(sm, app)


def sh(box: Any, script: str) -> tuple[int, str]:
    done = box.exec_run(["bash", "-lc", script], user="1000:100", workdir="/home/sagemaker-user")
    return done.exit_code, done.output.decode(errors="replace")


def door_of(domain: str, user: str) -> Any:
    key = f"docker-engine/{domain}/{user}"
    (door,) = dockerhost.client().containers.list(filters={"label": [f"{runtime.LABEL}={key}",
                                                                      runtime.DOOR_SOCKET]})  # fmt: skip
    return door


def test_a_classic_app_runs_containers_on_its_users_own_engine(studio: dict[str, Any]) -> None:
    running, base = studio["studio"], studio["base"]
    _, alice = classic_app(running, "alice")
    code, out = sh(alice, LOGIN.format(base=base) + f" && docker --context studio-remote pull -q {base}")
    assert code == 0, out
    code, out = sh(alice, f"docker --context studio-remote run --rm {base} echo from-alices-engine")
    assert code == 0 and "from-alices-engine" in out, out
    code, out = sh(alice, f"docker --context studio-remote tag {base} alices-secret && "
                          f"docker --context studio-remote run -d --name alices-box {base} sleep 600")  # fmt: skip
    assert code == 0, out
    code, out = sh(alice, f"docker --context studio-remote run --rm --privileged {base} true")
    assert code != 0 and "privileged mode and host devices are not allowed" in out, out


def test_ssh_and_ide_reach_a_classic_app(studio: dict[str, Any], tmp_path: Path) -> None:
    """SSH, forward's preflight and `ide vscode` against a KernelGateway app, as alice."""
    running = studio["studio"]
    host = f"docker.alice.{running['domain']}.studio.sagemaker"
    env = {**running.user_env("alice"), "SMSTUDIO_STATE_DIR": str(tmp_path / "laptop")}
    team = str(running["team"])
    ssh = [sys.executable, "-m", "smstudio.cli", "ssh", "--team", team, host, "--", "bash", "-lc",
           "'echo $(id -un) $SAGEMAKER_APP_TYPE'"]  # fmt: skip
    done = subprocess.run(ssh, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stdout.split() == ["sagemaker-user", "KernelGateway"], done.stderr
    ide = [sys.executable, "-m", "smstudio.cli", "ide", "vscode", "--team", team, host]
    done = subprocess.run(ide, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and f"Connect to Host... -> {host}" in done.stdout, done.stderr


def test_bob_cannot_reach_alices_engine(studio: dict[str, Any], tmp_path: Path) -> None:
    running = studio["studio"]
    _, bob = classic_app(running, "bob")
    code, out = sh(bob, "docker --context studio-remote ps -a --format '{{.Names}}'; "
                        "docker --context studio-remote images --format '{{.Repository}}'")  # fmt: skip
    assert code == 0 and "alices" not in out, out
    # IAM: his app's session may not start a session on alice's door
    ssm = running["clients"].client("ssm")
    (alices,) = ssm.describe_instance_information(Filters=[
        {"Key": "tag:SSHOwner", "Values": ["alice"]},
        {"Key": "tag:SSHResourceName", "Values": ["docker-engine"]}])["InstanceInformationList"]  # fmt: skip
    code, out = sh(bob, f"/opt/smstudio/venv/bin/python /opt/smstudio/ssh/ssm_proxy.py {alices['InstanceId']} 22 </dev/null")
    assert code != 0 and "AccessDenied" in out and "ssm:StartSession" in out, out
    # the host: alice's door takes only alice's keys
    key = tmp_path / "bobs-key"
    key.write_bytes(bob.exec_run(["cat", "/home/sagemaker-user/.ssh/smstudio-docker"], user="1000:100").output)
    key.chmod(0o600)
    door = door_of(running["domain"], "alice")
    proxy = f"{sys.executable} {relay.__file__} --stdio unix:{door.labels[runtime.DOOR_SOCKET]}"
    tried = subprocess.run(["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", f"ProxyCommand={proxy}", "root@alices-door", "true"],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert tried.returncode != 0 and "Permission denied" in tried.stderr, tried.stderr
