"""SSM managed instances in the local Studio's control plane, through boto3 over HTTP, and
the laptop's SSM steps (smstudio.ssh.ssm) against them: lookup by tags, the agent's state,
the key pushed with Run Command, and the SSHOwner rule, as IAM decides it for the users'
own roles (smstudio's user policy) and for apps' execution-role sessions (smstudio's
execution role policy, the app's user as SourceIdentity)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import requests

from smstudio.core.errors import SmstudioError
from smstudio.register import iam
from smstudio.ssh import ssm
from smstudio.ssh.sshconfig import StudioHost
from tests.emulator.conftest import ACCOUNT, LocalAws, start

APP = "arn:aws:sagemaker:eu-west-1:123456789012:app/d-1/alice-space/jupyterlab/default"
OTHER = "arn:aws:sagemaker:eu-west-1:123456789012:app/d-1/bob-space/jupyterlab/default"
HOST = StudioHost("default", "alice-space", "d-1")


class BashHost:
    """Instances whose containers are this machine: Run Command's script runs in bash."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.scripts: list[str] = []
        self.where: list[str] = []  # the app each script ran in

    def online(self, app_arn: str) -> bool:
        return app_arn in self.running

    def run_as_root(self, app_arn: str, script: str, timeout: float) -> tuple[int, str, str]:
        self.scripts.append(script)
        self.where.append(app_arn)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def host() -> BashHost:
    return BashHost()


@pytest.fixture
def local(tmp_path: Path, host: BashHost) -> Any:
    running = start(tmp_path, host=host)
    try:
        yield LocalAws(running)
    finally:
        running.stop()


SCOPE = iam.Scope(ACCOUNT, "eu-west-1", "d-1")
NAMES = iam.Names("ml-team")


def as_user(local: LocalAws, user: str) -> Any:
    """SSM as `user`'s own role with smstudio's user access policy (SSH is there)."""
    keys = local.user(user, policy=iam.user_access_policy(SCOPE))
    return local.client("ssm", keys)


def as_app_of(local: LocalAws, user: str | None) -> Any:
    """SSM as an app's execution-role session (SourceIdentity = its user; none: a shared
    space), made as SageMaker makes it."""
    iam_client = local.client("iam")
    name = NAMES.execution_role
    if name not in local.made:
        iam_client.create_role(RoleName=name,
                               AssumeRolePolicyDocument=json.dumps(iam.sagemaker_trust_policy()))  # fmt: skip
        policy = iam.execution_role_policy(SCOPE, "bucket", NAMES.ssm_instance_role)
        iam_client.put_role_policy(
            RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy)
        )
        local.made.append(name)
    made = local.server.gateway.identities.assume_as_service(
        f"arn:aws:iam::{ACCOUNT}:role/{name}", "sagemaker.amazonaws.com", "SageMaker", user, 3600
    )["Credentials"]
    return local.client("ssm", {"AccessKeyId": made["AccessKeyId"],
                                "SecretAccessKey": made["SecretAccessKey"],
                                "SessionToken": made["SessionToken"]})  # fmt: skip


def token_of(local: LocalAws, app_arn: str) -> str:
    """The container credentials token of app `app_arn` (as the runtime makes it)."""
    as_app_of(local, None)  # the execution role exists
    token = f"token-{abs(hash(app_arn))}"
    role = f"arn:aws:iam::{ACCOUNT}:role/{NAMES.execution_role}"
    local.server.gateway.register_app(app_arn, token, role, None)
    return token


def register(local: LocalAws, admin: Any, owner: str, app_arn: str, where: str | None = None) -> str:
    """An activation for `app_arn`'s owner, registered from the app `where` (default: it)."""
    made = admin.create_activation(
        IamRole=NAMES.ssm_instance_role,
        RegistrationLimit=1,
        Tags=[{"Key": "SSHOwner", "Value": owner}, {"Key": "SSHResourceArn", "Value": app_arn}],
    )
    body = {"ActivationId": made["ActivationId"], "ActivationCode": made["ActivationCode"]}
    url = f"{local.url}/_local/ssm/register"
    assert requests.post(url, json=body, timeout=5).status_code == 403  # not from an app
    headers = {"Authorization": token_of(local, where or app_arn)}
    answer = requests.post(url, json=body, headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text
    again = requests.post(url, json=body, headers=headers, timeout=5)
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


def test_managed_instances_found_by_tags_and_deregistered(local: LocalAws, host: BashHost) -> None:
    admin = local.client("ssm")
    old = register(local, admin, "alice", APP)
    new = register(local, admin, "alice", APP)
    register(local, admin, "bob", OTHER)
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
    assert ssm.find_instance(admin, HOST, APP, "alice") == new
    tags = admin.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=new)["TagList"]
    assert {"Key": "SSHOwner", "Value": "alice"} in tags
    assert error_of(admin.deregister_managed_instance, InstanceId=old)[0] == "InvalidInstanceId"


def test_laptop_lookup_errors(local: LocalAws, host: BashHost) -> None:
    admin = local.client("ssm")
    with pytest.raises(SmstudioError, match="not registered with SSM") as info:
        ssm.find_instance(admin, HOST, APP, "alice")
    assert "SSM_AGENT_URL" in info.value.fix
    instance = register(local, admin, "alice", APP)
    with pytest.raises(SmstudioError, match=f"SSM agent of {instance} is offline"):
        ssm.find_instance(admin, HOST, APP, "alice")
    # an instance that names alice's app but another owner is never alice's app
    host.running.add(APP)
    spoof = register(local, admin, "mallory", APP)
    assert ssm.find_instance(admin, HOST, APP, "alice") == instance != spoof


def test_run_command_runs_the_script_and_reports(local: LocalAws, host: BashHost) -> None:
    admin = local.client("ssm")
    host.running.add(APP)
    instance = register(local, admin, "alice", APP)
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
    host_key = root / "ssh_host_ed25519_key"
    host_key.with_suffix(".pub").write_text("ssh-ed25519 AAAAHOSTKEY smstudio host key\n")
    config.write_text(f"PidFile {pid}\nHostKey {host_key}\n"
                      f"AuthorizedKeysFile {keys} .ssh/authorized_keys\n")  # fmt: skip
    return config, keys


def test_key_push_through_run_command(local: LocalAws, host: BashHost, tmp_path: Path) -> None:
    """The laptop's push: the script SSM runs adds the key once, mode 600, and reports
    sshd's host keys (the laptop pins them); a stopped sshd is reported as such."""
    if Path(ssm.SSHD_CONFIG).exists():
        pytest.skip(f"{ssm.SSHD_CONFIG} belongs to a running sshd on this machine")
    admin = local.client("ssm")
    host.running.add(APP)
    instance = register(local, admin, "alice", APP)
    config, keys = sshd_state(tmp_path, running=True)
    try:
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMP laptop"
        assert ssm.push_key(admin, HOST, instance, key + "\n") == ["ssh-ed25519 AAAAHOSTKEY"]
        ssm.push_key(admin, HOST, instance, key)
        assert keys.read_text() == key + "\n"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600
        assert "AWS-RunShellScript" not in host.scripts[0]  # the script itself, inline
        (tmp_path / "sshd.pid").write_text("999999999")
        with pytest.raises(SmstudioError, match="sshd is not running"):
            ssm.push_key(admin, HOST, instance, key)
    finally:
        config.unlink()


def test_users_reach_only_their_own_instances(local: LocalAws, host: BashHost) -> None:
    """The user policy's rule, as IAM applies it: ssm:SendCommand and ssm:StartSession
    only where ssm:resourceTag/SSHOwner is the caller's studiouserid."""
    admin = local.client("ssm")
    host.running.update({APP, OTHER})
    alices = register(local, admin, "alice", APP)
    bobs = register(local, admin, "bob", OTHER)
    bob = as_user(local, "bob")
    code, message = error_of(
        bob.start_session, Target=alices, DocumentName="AWS-StartSSHSession",
        Parameters={"portNumber": ["2222"]},
    )  # fmt: skip
    assert code == "AccessDeniedException"
    assert "assumed-role/user-bob/bob is not authorized to perform: ssm:StartSession" in message
    assert f"managed-instance/{alices}" in message
    with pytest.raises(SmstudioError, match="is not yours") as info:
        ssm.push_key(bob, HOST, alices, "ssh-ed25519 AAAA bob")
    assert "studiouserid" in info.value.fix
    with pytest.raises(SmstudioError, match="is not yours"):
        start_ssh_session(bob, alices)
    assert host.scripts == []  # nothing ran in alice's app
    # nor may bob read its tags, register, re-tag or deregister (not in the user policy)
    for call, kwargs in (
        (bob.list_tags_for_resource, {"ResourceType": "ManagedInstance", "ResourceId": alices}),
        (bob.add_tags_to_resource, {"ResourceType": "ManagedInstance", "ResourceId": alices,
                                    "Tags": [{"Key": "SSHOwner", "Value": "bob"}]}),
        (bob.deregister_managed_instance, {"InstanceId": alices}),
        (bob.create_activation, {"IamRole": NAMES.ssm_instance_role}),
    ):  # fmt: skip
        assert error_of(call, **kwargs)[0] == "AccessDeniedException"
    assert len(bob.describe_instance_information()["InstanceInformationList"]) == 2
    session_id = start_ssh_session(bob, bobs)["SessionId"]
    assert session_id.startswith("bob-")
    # the data channel: only with the session's token, once
    stream = f"{local.url}/_local/ssm/stream"
    wrong = requests.post(stream, json={"SessionId": session_id, "TokenValue": "x"}, timeout=5)
    assert wrong.status_code == 403
    started = bob.start_session(Target=bobs, DocumentName="AWS-StartSSHSession",
                                Parameters={"portNumber": ["2222"]})  # fmt: skip
    body = {"SessionId": started["SessionId"], "TokenValue": started["TokenValue"]}
    answer = requests.post(stream, json=body, timeout=5)
    assert answer.json() == {"AppArn": OTHER, "Port": 2222}
    assert requests.post(stream, json=body, timeout=5).status_code == 403
    # sessions end only by whoever started them (their aws:ssmmessages:session-id tag)
    alice = as_user(local, "alice")
    assert error_of(alice.terminate_session, SessionId=started["SessionId"])[0] == code
    assert bob.terminate_session(SessionId=started["SessionId"])["SessionId"]
    code, _ = error_of(bob.send_command, InstanceIds=[bobs], DocumentName="AWS-ConfigureDocker")
    assert code == "AccessDeniedException"
    # a plain shell session (the default document) is not one the user policy names
    assert error_of(bob.start_session, Target=bobs)[0] == "AccessDeniedException"
    host.running.discard(OTHER)
    code, _ = error_of(bob.start_session, Target=bobs, DocumentName="AWS-StartSSHSession")
    assert code == "TargetNotConnected"


def test_apps_register_only_as_their_own_user(local: LocalAws, host: BashHost) -> None:
    """The execution role lets an app's session register, tag and retire managed
    instances only as its own user (the SourceIdentity SageMaker sets); a shared space's
    session, which has none, not at all."""
    host.running.update({APP, OTHER})
    bobs = register(local, local.client("ssm"), "bob", OTHER)
    alices_app = as_app_of(local, "alice")

    def activation(owner: str, app: str, **extra: str) -> dict[str, Any]:
        tags = {"SSHOwner": owner, "SSHResourceArn": app, **extra}
        return {"IamRole": NAMES.ssm_instance_role, "RegistrationLimit": 1,
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}  # fmt: skip

    made = alices_app.create_activation(**activation("alice", APP, SSHCreator="x"))
    assert made["ActivationId"]
    denied = "AccessDeniedException"
    code, message = error_of(alices_app.create_activation, **activation("bob", OTHER))
    assert code == denied and "ssm:CreateActivation" in message
    assert error_of(alices_app.create_activation, **activation("alice", APP, Name="x"))[0] == denied
    retag = {"ResourceType": "ManagedInstance", "ResourceId": bobs,
             "Tags": [{"Key": "SSHOwner", "Value": "alice"}]}  # fmt: skip
    assert error_of(alices_app.add_tags_to_resource, **retag)[0] == denied
    assert error_of(alices_app.deregister_managed_instance, InstanceId=bobs)[0] == denied
    own = register(local, local.client("ssm"), "alice", APP)
    alices_app.deregister_managed_instance(InstanceId=own)
    # an instance registered from bob's app runs commands in bob's app, whatever its tags
    # name: naming alice's app does not reach it
    spoof = register(local, local.client("ssm"), "bob", APP, where=OTHER)
    bob = as_user(local, "bob")
    sent = bob.send_command(InstanceIds=[spoof], DocumentName="AWS-RunShellScript",
                            Parameters={"commands": ["id"]})["Command"]  # fmt: skip
    bob.get_waiter("command_executed").wait(CommandId=sent["CommandId"], InstanceId=spoof,
                                            WaiterConfig={"Delay": 1})  # fmt: skip
    assert host.where == [OTHER]
    shared = as_app_of(local, None)
    assert error_of(shared.create_activation, **activation("alice", APP))[0] == denied
    # the managed-instance role is passed to SSM only, and only that role
    other_role = {**activation("alice", APP), "IamRole": NAMES.execution_role}
    code, message = error_of(alices_app.create_activation, **other_role)
    assert code == denied and "iam:PassRole" in message


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
