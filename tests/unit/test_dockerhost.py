"""The remote engines' host setup for Studio Classic, as text: a script shellcheck
accepts, one engine and one door per user, registrations tagged with the user."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from smstudio.teamops import dockerhost
from smstudio.teamops.dockerhost import Engine, HostSetup, LocalHost

SHELLCHECK = Path(sys.executable).parent / "shellcheck"
ENGINES = (Engine("alice", "act-1", "code-1"), Engine("bob", "act-2", "code-2"))
AWS = HostSetup("ml-team", "d-000000000001", "eu-west-1", "engine:1", "/var/lib/smstudio-docker",
                ENGINES)  # fmt: skip
LOCAL = HostSetup("ml-team", "d-000000000001", "us-east-1", "smstudio/local-engine:26.1",
                  "/tmp/smstudio-x/hosts", ENGINES,
                  LocalHost("/tmp/c", "/tmp/e", "http://127.0.0.1:4566",
                            ("123456789012.dkr.ecr.us-east-1.amazonaws.com",)))  # fmt: skip


def check(script: str, tmp_path: Path) -> None:
    path = tmp_path / "setup.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    done = subprocess.run([str(SHELLCHECK), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_a_host_gets_one_engine_and_one_door_per_user(tmp_path: Path) -> None:
    text = dockerhost.script(AWS)
    check(text, tmp_path)
    assert text.splitlines()[-2:] == [
        "engine alice act-1 code-1 docker-engine/d-000000000001/alice",
        "engine bob act-2 code-2 docker-engine/d-000000000001/bob",
    ]
    assert "--privileged" in text and "SMSTUDIO_ENGINE_MODE=door" in text
    door = text[text.index('docker run -d --name "$name-door"'):]
    assert "--privileged" not in door  # root in a door is root in an unprivileged container
    engine = text[text.index('docker run -d --name "$name-engine"'):text.index('docker run -d --name "$name-door"')]
    assert "io.smstudio.app-part=docker-engine" in engine  # never where Run Command runs
    assert "io.smstudio.app-part" not in door
    assert "--network none" not in text and "register-host" not in text  # the agent registers


def test_the_local_studio_host_has_no_network_and_registers_locally(tmp_path: Path) -> None:
    text = dockerhost.script(LOCAL)
    check(text, tmp_path)
    assert text.count("--network none") == 2
    assert "--add-host 123456789012.dkr.ecr.us-east-1.amazonaws.com:127.0.0.1" in text
    assert "http://127.0.0.1:4566/_local/ssm/register-host" in text


def test_registrations_are_tagged_with_their_user_and_host() -> None:
    found = {t["Key"]: t["Value"] for t in dockerhost.tags("ml-team", "d-1", "alice", "mi-0123")}
    assert found == {"SSHOwner": "alice", "SSHResourceName": "docker-engine",
                     "SSHResourceArn": "docker-engine/d-1/alice", "SSHHost": "mi-0123",
                     "smstudio:managed-by": "ml-team"}  # fmt: skip
    instances = [{"InstanceId": "mi-1", "PingStatus": "Online"},
                 {"InstanceId": "mi-2", "PingStatus": "ConnectionLost"}]  # fmt: skip
    tags_of = {"mi-1": {"SSHOwner": "alice"}, "mi-2": {"SSHOwner": "bob"}}
    assert dockerhost.online_owners(instances, tags_of) == {"alice"}
