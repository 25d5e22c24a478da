"""SSM managed instances in the local Studio's control plane, through boto3 over HTTP, and
the laptop's SSM steps (smstudio.ssm) against them: lookup by tags, the agent's state,
the key pushed with Run Command, and the SSHOwner rule for a user's own identity."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
import requests

from smstudio import ssm
from smstudio.errors import SmstudioError
from smstudio.local.controlplane import identity
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.server import ControlPlaneServer
from smstudio.local.controlplane.ssm import Ssm
from smstudio.local.controlplane.store import Store
from smstudio.sshconfig import StudioHost

APP = "arn:aws:sagemaker:eu-west-1:123456789012:app/d-1/alice-space/jupyterlab/default"
OTHER = "arn:aws:sagemaker:eu-west-1:123456789012:app/d-1/bob-space/jupyterlab/default"
HOST = StudioHost("default", "alice-space", "d-1")


class BashHost:
    """Instances whose containers are this machine: Run Command's script runs in bash."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.scripts: list[str] = []

    def online(self, app_arn: str) -> bool:
        return app_arn in self.running

    def run_as_root(self, app_arn: str, script: str, timeout: float) -> tuple[int, str, str]:
        self.scripts.append(script)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def host() -> BashHost:
    return BashHost()


@pytest.fixture
def server(tmp_path: Path, host: BashHost) -> Any:
    store = Store(tmp_path / "studio.json")
    plane = ControlPlane(store)
    running = ControlPlaneServer(plane, ssm=Ssm(store, plane.account, host)).start()
    try:
        yield running
    finally:
        running.stop()


def client(server: Any, key: str = "testing", secret: str = "testing") -> Any:
    """An SSM client with these access keys (the identity the control plane sees)."""
    return boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="eu-west-1"
    ).client("ssm", endpoint_url=server.url)


def as_user(server: Any, user: str) -> Any:
    keys = identity.credentials_for(server.plane.store, user)
    return client(server, keys["AccessKeyId"], keys["SecretAccessKey"])


def register(server: Any, admin: Any, owner: str, app_arn: str) -> str:
    made = admin.create_activation(
        IamRole="smstudio-ssm-instance",
        RegistrationLimit=1,
        Tags=[{"Key": "SSHOwner", "Value": owner}, {"Key": "SSHResourceArn", "Value": app_arn}],
    )
    body = {"ActivationId": made["ActivationId"], "ActivationCode": made["ActivationCode"]}
    answer = requests.post(f"{server.url}/_local/ssm/register", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    again = requests.post(f"{server.url}/_local/ssm/register", json=body, timeout=5)
    assert again.status_code == 400  # RegistrationLimit 1
    return str(answer.json()["InstanceId"])


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def start_ssh_session(user: Any, instance_id: str) -> Any:
    """StartSession as `aws ssm start-session` sends it, refusals as the laptop says them."""
    return ssm.on_instance(
        user, HOST, instance_id, "start_session",
        Target=instance_id, DocumentName="AWS-StartSSHSession",
        Parameters={"portNumber": ["2222"]},
    )  # fmt: skip


def test_managed_instances_found_by_tags_and_deregistered(server: Any, host: BashHost) -> None:
    admin = client(server)
    old = register(server, admin, "alice", APP)
    new = register(server, admin, "alice", APP)
    register(server, admin, "bob", OTHER)
    found = admin.describe_instance_information(
        Filters=[{"Key": "tag:SSHResourceArn", "Values": [APP]}]
    )["InstanceInformationList"]
    assert sorted(i["InstanceId"] for i in found) == sorted([old, new])
    assert {i["PingStatus"] for i in found} == {"ConnectionLost"}
    assert all(i["InstanceId"].startswith("mi-") and len(i["InstanceId"]) == 20 for i in found)
    host.running.add(APP)
    online = admin.describe_instance_information(
        Filters=[
            {"Key": "tag:SSHOwner", "Values": ["alice"]},
            {"Key": "PingStatus", "Values": ["Online"]},
        ]
    )["InstanceInformationList"]
    assert len(online) == 2
    admin.deregister_managed_instance(InstanceId=old)
    assert ssm.find_instance(admin, HOST, APP) == new
    tags = admin.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=new)["TagList"]
    assert {"Key": "SSHOwner", "Value": "alice"} in tags
    assert error_of(admin.deregister_managed_instance, InstanceId=old)[0] == "InvalidInstanceId"


def test_laptop_lookup_errors(server: Any, host: BashHost) -> None:
    admin = client(server)
    with pytest.raises(SmstudioError, match="not registered with SSM") as info:
        ssm.find_instance(admin, HOST, APP)
    assert "SSM_AGENT_URL" in info.value.fix
    instance = register(server, admin, "alice", APP)
    with pytest.raises(SmstudioError, match=f"SSM agent of {instance} is offline"):
        ssm.find_instance(admin, HOST, APP)


def test_run_command_runs_the_script_and_reports(server: Any, host: BashHost) -> None:
    admin = client(server)
    host.running.add(APP)
    instance = register(server, admin, "alice", APP)
    sent = admin.send_command(
        InstanceIds=[instance],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["echo out", "echo err >&2", "exit 4"]},
    )["Command"]
    assert sent["Status"] == "InProgress"
    waiter = admin.get_waiter("command_executed")
    with pytest.raises(botocore.exceptions.WaiterError):  # Failed ends the waiter with an error
        waiter.wait(CommandId=sent["CommandId"], InstanceId=instance, WaiterConfig={"Delay": 1})
    done = admin.get_command_invocation(CommandId=sent["CommandId"], InstanceId=instance)
    assert (done["Status"], done["ResponseCode"]) == ("Failed", 4)
    assert (done["StandardOutputContent"], done["StandardErrorContent"]) == ("out\n", "err\n")
    code, _ = error_of(
        admin.send_command, InstanceIds=[instance], DocumentName="AWS-ConfigureDocker"
    )
    assert code == "InvalidDocument"


def sshd_state(root: Path, running: bool) -> tuple[Path, Path]:
    """A stand-in for the app's sshd files at the paths the key script reads."""
    config = Path(ssm.SSHD_CONFIG)
    config.parent.mkdir(parents=True, exist_ok=True)
    keys = root / "home" / ".smstudio" / "ssh" / "authorized_keys"
    keys.parent.mkdir(parents=True)
    pid = root / "sshd.pid"
    pid.write_text(str(os.getpid() if running else 999999999))
    config.write_text(f"PidFile {pid}\nAuthorizedKeysFile {keys} .ssh/authorized_keys\n")
    return config, keys


def test_key_push_through_run_command(server: Any, host: BashHost, tmp_path: Path) -> None:
    """The laptop's push: the script SSM runs adds the key once, mode 600; a stopped
    sshd is reported as such."""
    if Path(ssm.SSHD_CONFIG).exists():
        pytest.skip(f"{ssm.SSHD_CONFIG} belongs to a running sshd on this machine")
    admin = client(server)
    host.running.add(APP)
    instance = register(server, admin, "alice", APP)
    config, keys = sshd_state(tmp_path, running=True)
    try:
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMP laptop"
        ssm.push_key(admin, HOST, instance, key + "\n")
        ssm.push_key(admin, HOST, instance, key)
        assert keys.read_text() == key + "\n"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        assert "AWS-RunShellScript" not in host.scripts[0]  # the script itself, inline
        (tmp_path / "sshd.pid").write_text("999999999")
        with pytest.raises(SmstudioError, match="sshd is not running"):
            ssm.push_key(admin, HOST, instance, key)
    finally:
        config.unlink()


def test_users_reach_only_their_own_instances(server: Any, host: BashHost) -> None:
    """The user policy's rule: ssm:SendCommand and ssm:StartSession only where
    ssm:resourceTag/SSHOwner is the caller's studiouserid."""
    admin = client(server)
    host.running.update({APP, OTHER})
    alices = register(server, admin, "alice", APP)
    bobs = register(server, admin, "bob", OTHER)
    bob = as_user(server, "bob")
    code, message = error_of(
        bob.start_session, Target=alices, DocumentName="AWS-StartSSHSession",
        Parameters={"portNumber": ["2222"]},
    )  # fmt: skip
    assert code == "AccessDeniedException"
    assert (
        "assumed-role/smstudio-user/bob is not authorized to perform: ssm:StartSession" in message
    )
    assert f"managed-instance/{alices}" in message
    with pytest.raises(SmstudioError, match="is not yours") as info:
        ssm.push_key(bob, HOST, alices, "ssh-ed25519 AAAA bob")
    assert "studiouserid" in info.value.fix
    with pytest.raises(SmstudioError, match="is not yours"):
        start_ssh_session(bob, alices)
    assert host.scripts == []  # nothing ran in alice's app
    # nor may bob read its tags, register, or deregister (not in the user policy)
    code, _ = error_of(bob.list_tags_for_resource, ResourceType="ManagedInstance",
                       ResourceId=alices)  # fmt: skip
    assert code == "AccessDeniedException"
    assert error_of(bob.deregister_managed_instance, InstanceId=alices)[0] == code
    assert len(bob.describe_instance_information()["InstanceInformationList"]) == 2
    session_id = start_ssh_session(bob, bobs)["SessionId"]
    assert session_id.startswith("bob-")
    # the data channel: only with the session's token, once
    stream = f"{server.url}/_local/ssm/stream"
    wrong = requests.post(stream, json={"SessionId": session_id, "TokenValue": "x"}, timeout=5)
    assert wrong.status_code == 403
    started = bob.start_session(Target=bobs, DocumentName="AWS-StartSSHSession",
                                Parameters={"portNumber": ["2222"]})  # fmt: skip
    body = {"SessionId": started["SessionId"], "TokenValue": started["TokenValue"]}
    answer = requests.post(stream, json=body, timeout=5)
    assert answer.json() == {"AppArn": OTHER, "Port": 2222}
    assert requests.post(stream, json=body, timeout=5).status_code == 403
    assert bob.terminate_session(SessionId=started["SessionId"])["SessionId"]
    code, _ = error_of(bob.send_command, InstanceIds=[bobs], DocumentName="AWS-ConfigureDocker")
    assert code == "AccessDeniedException"
    # a plain shell session (the default document) is not one the user policy names
    assert error_of(bob.start_session, Target=bobs)[0] == "AccessDeniedException"
    host.running.discard(OTHER)
    code, _ = error_of(bob.start_session, Target=bobs, DocumentName="AWS-StartSSHSession")
    assert code == "TargetNotConnected"
    # identities: one key per user, kept; bad names refused
    assert (
        identity.credentials_for(server.plane.store, "bob")["AccessKeyId"]
        == (identity.credentials_for(server.plane.store, "bob")["AccessKeyId"])
    )
    answer = requests.post(f"{server.url}/_local/identity", json={"User": "no/such"}, timeout=5)
    assert answer.status_code == 400


def test_session_command_preflight(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SmstudioError, match=r"AWS CLI v2 \(`aws`\) is not installed"):
        ssm.session_command("mi-0123456789abcdef0", "eu-west-1")
    (tmp_path / "aws").write_text("#!/bin/sh\n")
    (tmp_path / "aws").chmod(0o755)
    with pytest.raises(SmstudioError, match="session-manager-plugin"):
        ssm.session_command("mi-0123456789abcdef0", "eu-west-1")
    (tmp_path / "session-manager-plugin").write_text("#!/bin/sh\n")
    (tmp_path / "session-manager-plugin").chmod(0o755)
    assert ssm.session_command("mi-0123456789abcdef0", "eu-west-1") == [
        "aws", "ssm", "start-session", "--target", "mi-0123456789abcdef0",
        "--document-name", "AWS-StartSSHSession", "--parameters", "portNumber=2222",
        "--region", "eu-west-1",
    ]  # fmt: skip
