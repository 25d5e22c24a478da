"""A team in the local Studio, every call made as the principal that makes it in AWS:
each user's commands with only their own role, refused on another user's resources with
AccessDenied naming the action; a shared space opened by a member; what an app's own
execution-role session may and may not do; apps unreachable from each other; who you are
(`whoami`, `--profile`); and failures said in words, never as a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from smstudio.core import dockerhost
from smstudio.core.sagemaker import SageMaker
from smstudio.local import stack
from smstudio.register import gittoken, iam
from smstudio.workspaces import usage
from tests.e2e.conftest import Studio, container_of, local_studio, settle
from tests.emulator.conftest import TEAM as BASE_TEAM
from tests.emulator.conftest import write_team
from tests.helpers import wait_for

LIMIT = 90
TEAM = BASE_TEAM.replace('name = "ml-team"', 'name = "teams"') + """
[git]
host = "git.example.com"
[[spaces]]
name = "team-shared"
owner = "alice"
sharing = "Shared"
"""


def kernel_gateway(domain: str, user: str) -> dict[str, str]:
    return {"DomainId": domain, "UserProfileName": user, "AppType": "KernelGateway",
            "AppName": f"{user}-kg"}  # fmt: skip


def space_app(domain: str, space: str) -> dict[str, str]:
    return {"DomainId": domain, "SpaceName": space, "AppType": "JupyterLab", "AppName": "default"}


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]
) -> Iterator[Studio]:
    """alice's and bob's workspaces and KernelGateway apps, each started by its user."""
    root = tmp_path_factory.mktemp("teams")
    with local_studio(root, write_team(root, TEAM), built_images, LIMIT) as running:
        for user in ("alice", "bob"):
            up = running.cli(user, "up", user)
            assert up.returncode == 0, up.stderr
            sm = running.user(user).client("sagemaker")
            sm.create_app(**kernel_gateway(running["domain"], user),
                          ResourceSpec={"InstanceType": "ml.t3.medium"})  # fmt: skip
        for user in ("alice", "bob"):
            found = settle(running["sm"], kernel_gateway(running["domain"], user))
            assert found["Status"] == "InService", found.get("FailureReason")
        yield running


def refused(done: Any, action: str) -> None:
    """A CLI refusal: exit 1, AWS's AccessDenied naming the action, a fix, no traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "AccessDenied" in done.stderr or "not yours" in done.stderr, done.stderr
    assert action in done.stderr, done.stderr
    assert "fix:" in done.stderr


def test_each_users_commands_work_with_only_their_identity(studio: Studio, tmp_path: Path) -> None:
    alice = {"SMSTUDIO_STATE_DIR": str(tmp_path / "alice")}
    who = studio.cli("alice", "whoami")
    assert who.returncode == 0, who.stderr
    assert "smstudio-teams-user-alice/alice" in who.stdout and studio["domain"] in who.stdout
    assert "alice (from the role smstudio-teams-user-alice)" in who.stdout
    status = studio.cli("alice", "status")
    assert status.returncode == 0 and "alice-space" in status.stdout and "bob-space" in status.stdout
    opened = studio.cli("alice", "open", "alice")
    assert opened.returncode == 0 and "/auth?token=" in opened.stdout, opened.stderr
    ran = studio.cli("alice", "run", "alice", "6 * 7")
    assert ran.returncode == 0 and ran.stdout.strip() == "42", ran.stderr
    stored = studio.cli("alice", "git-token", "set", "alice", stdin="tok-alice\n")
    assert stored.returncode == 0 and "created" in stored.stdout, stored.stderr
    config = tmp_path / "ssh_config"
    written = studio.cli("alice", "ssh-config", "--file", str(config), env=alice)
    assert written.returncode == 0 and config.exists(), written.stderr
    shell = studio.cli("alice", "ssh", "--team", str(studio["team"]), "alice", "--", "id -un",
                       env=alice)  # fmt: skip
    assert shell.returncode == 0 and shell.stdout.strip() == "sagemaker-user", shell.stderr
    ide = studio.cli("alice", "ide", "vscode", "alice", env=alice)
    assert ide.returncode == 0 and "default.alice-space" in ide.stdout, ide.stderr


def test_another_users_resources_are_refused_naming_the_action(
    studio: Studio, tmp_path: Path
) -> None:
    bob = {"SMSTUDIO_STATE_DIR": str(tmp_path / "bob")}
    refused(studio.cli("bob", "up", "alice"), "sagemaker:CreatePresignedDomainUrl")
    refused(studio.cli("bob", "open", "alice"), "sagemaker:CreatePresignedDomainUrl")
    refused(studio.cli("bob", "run", "alice", "1+1"), "sagemaker:CreatePresignedDomainUrl")
    refused(studio.cli("bob", "down", "alice"), "sagemaker:DeleteApp")
    refused(studio.cli("bob", "git-token", "set", "alice", stdin="tok-bob"), "sagemaker:DescribeUserProfile")
    refused(studio.cli("bob", "ssh", "--team", str(studio["team"]), "alice", "--", "true", env=bob),
            "ssm:SendCommand")  # fmt: skip
    refused(studio.cli("bob", "ide", "vscode", "alice", env=bob), "ssm:SendCommand")
    assert studio.cli("alice", "status").stdout.count("InService") >= 4  # nothing was stopped


def test_instance_types_are_enforced_by_iam_itself(studio: Studio) -> None:
    """Outside bob's list: the CLI says so, and IAM refuses CreateApp even when the CLI
    is bypassed; naming no instance type is refused too."""
    cli = studio.cli("bob", "up", "bob", "--space", "bob-big", "--instance-type", "ml.m5.large")
    assert cli.returncode == 2 and "bob may not use ml.m5.large" in cli.stderr
    sm = studio.user("bob").client("sagemaker")
    sm.create_space(DomainId=studio["domain"], SpaceName="bob-big",
                    OwnershipSettings={"OwnerUserProfileName": "bob"},
                    SpaceSharingSettings={"SharingType": "Private"})  # fmt: skip
    app = space_app(studio["domain"], "bob-big")
    for spec in ({"InstanceType": "ml.m5.large"}, {}):
        with pytest.raises(sm.exceptions.ClientError) as info:
            sm.create_app(**app, ResourceSpec=spec)
        error = info.value.response["Error"]
        assert error["Code"] == "AccessDeniedException"
        assert "sagemaker:CreateApp" in error["Message"] and "bob-big" in error["Message"]
    # and bob may not make a space for alice, or tag his as hers
    with pytest.raises(sm.exceptions.ClientError) as info:
        sm.create_space(DomainId=studio["domain"], SpaceName="not-bobs",
                        OwnershipSettings={"OwnerUserProfileName": "alice"},
                        SpaceSharingSettings={"SharingType": "Private"})  # fmt: skip
    assert "sagemaker:CreateSpace" in info.value.response["Error"]["Message"]
    with pytest.raises(sm.exceptions.ClientError) as info:
        sm.create_space(DomainId=studio["domain"], SpaceName="bob-tagged",
                        OwnershipSettings={"OwnerUserProfileName": "bob"},
                        SpaceSharingSettings={"SharingType": "Private"},
                        Tags=[{"Key": "studiouserid", "Value": "alice"}])  # fmt: skip
    assert "sagemaker:AddTags" in info.value.response["Error"]["Message"]


def test_a_shared_space_opens_for_members(studio: Studio, tmp_path: Path) -> None:
    """The team file's shared space (owner alice): bob starts and opens it; only its
    owner stops it; SSH is not offered there; its home usage is reported."""
    up = studio.cli("bob", "up", "bob", "--space", "team-shared")
    assert up.returncode == 0, up.stderr
    ran = studio.cli("bob", "run", "bob", "2 + 3", "--space", "team-shared")
    assert ran.returncode == 0 and ran.stdout.strip() == "5", ran.stderr
    refused(studio.cli("bob", "down", "bob", "--space", "team-shared"), "sagemaker:DeleteApp")
    host = f"default.team-shared.{studio['domain']}.studio.sagemaker"
    ssh = studio.cli("bob", "ssh", host, "--", "true", env={"SMSTUDIO_STATE_DIR": str(tmp_path)})
    assert ssh.returncode == 1 and "shared space, which takes no SSH" in ssh.stderr
    logs = studio["clients"].client("logs")
    wait_for(lambda: usage.latest(logs, studio["domain"]).get("team-shared"), 60,
             "the shared space's home usage")  # fmt: skip
    down = studio.cli("alice", "down", "alice", "--space", "team-shared")
    assert down.returncode == 0 and "team-shared: stopped" in down.stdout, down.stderr


INSIDE = """
import boto3, json, socket
ssm, sm, secrets = boto3.client("ssm"), boto3.client("sagemaker"), boto3.client("secretsmanager")
seen = {}
def attempt(name, call):
    try:
        call()
        seen[name] = "allowed"
    except Exception as exc:
        seen[name] = getattr(exc, "response", {}).get("Error", {}).get("Code", repr(exc))
attempt("retag bob's instance", lambda: ssm.add_tags_to_resource(ResourceType="ManagedInstance",
    ResourceId=BOB_MI, Tags=[{"Key": "SSHOwner", "Value": "alice"}]))
attempt("deregister bob's instance", lambda: ssm.deregister_managed_instance(InstanceId=BOB_MI))
attempt("register as bob", lambda: ssm.create_activation(IamRole=ROLE, RegistrationLimit=1,
    Tags=[{"Key": "SSHOwner", "Value": "bob"}, {"Key": "SSHResourceArn", "Value": BOB_APP}]))
attempt("bob's git token", lambda: secrets.get_secret_value(SecretId=f"smstudio/{DOMAIN}/bob/git-token"))
attempt("own git token", lambda: secrets.get_secret_value(SecretId=f"smstudio/{DOMAIN}/alice/git-token"))
attempt("delete bob's KernelGateway app", lambda: sm.delete_app(DomainId=DOMAIN,
    UserProfileName="bob", AppType="KernelGateway", AppName="bob-kg"))
attempt("delete own KernelGateway app", lambda: sm.delete_app(DomainId=DOMAIN,
    UserProfileName="alice", AppType="KernelGateway", AppName="alice-kg"))
probe = socket.socket()
probe.settimeout(3)
try:
    probe.connect((BOB_IP, 8888))
    seen["tcp to bob's app"] = "connected"
except OSError as exc:
    seen["tcp to bob's app"] = type(exc).__name__
print(json.dumps(seen))
"""


def test_from_inside_alices_app_only_alices_things(studio: Studio) -> None:
    domain, admin = studio["domain"], studio["sm"]
    for user in ("alice", "bob"):  # each stores their token from their laptop
        me = studio.user(user)
        gittoken.store(SageMaker.of(me), me.client("secretsmanager"), domain, user, f"t-{user}")
    bob_app = admin.describe_app(**space_app(domain, "bob-space"))["AppArn"]
    (bob_instance,) = studio["clients"].client("ssm").describe_instance_information(
        Filters=[{"Key": "tag:SSHResourceArn", "Values": [bob_app]}])["InstanceInformationList"]  # fmt: skip
    bob_box = container_of(admin, space_app(domain, "bob-space"))
    (network,) = bob_box.attrs["NetworkSettings"]["Networks"].values()
    values = {"BOB_MI": bob_instance["InstanceId"], "BOB_APP": bob_app, "DOMAIN": domain,
              "BOB_IP": network["IPAddress"], "ROLE": iam.Names("teams").ssm_instance_role}  # fmt: skip
    script = "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()) + INSIDE
    alice_box = container_of(admin, space_app(domain, "alice-space"))
    done = alice_box.exec_run(["/opt/smstudio/venv/bin/python", "-c", script], user="1000:100")
    assert done.exit_code == 0, done.output.decode()
    seen = json.loads(done.output.decode().strip().splitlines()[-1])
    denied = "AccessDeniedException"
    assert seen == {
        "retag bob's instance": denied,
        "deregister bob's instance": denied,
        "register as bob": denied,
        "bob's git token": denied,
        "own git token": "allowed",
        "delete bob's KernelGateway app": denied,
        "delete own KernelGateway app": "allowed",
        "tcp to bob's app": seen["tcp to bob's app"],
    }, seen
    assert seen["tcp to bob's app"] in ("TimeoutError", "ConnectionRefusedError", "OSError"), seen
    assert admin.describe_app(**kernel_gateway(domain, "bob"))["Status"] == "InService"
    # nor does anything on the host reach an app without its presigned URL's login
    lab = requests.get(studio.cli("alice", "open", "alice").stdout.strip().replace(
        "/auth?token=", "/auth?token=x"), timeout=10)  # fmt: skip
    assert lab.status_code == 403


def test_whoami_profiles_and_failures_in_words(studio: Studio, tmp_path: Path) -> None:
    keys = studio["user_keys"]("alice")
    credentials = tmp_path / "credentials"
    credentials.write_text(textwrap.dedent(f"""\
        [alice-sso]
        aws_access_key_id = {keys['AccessKeyId']}
        aws_secret_access_key = {keys['SecretAccessKey']}
        aws_session_token = {keys['SessionToken']}
        """))  # fmt: skip
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": os.devnull}
    no_keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    by_option = studio.cli(None, "--profile", "alice-sso", "whoami", env=files, drop=no_keys)
    by_variable = studio.cli(None, "whoami", env={**files, "AWS_PROFILE": "alice-sso"}, drop=no_keys)
    for done in (by_option, by_variable):
        assert done.returncode == 0, done.stderr
        assert "smstudio-teams-user-alice/alice" in done.stdout
    admin = studio.cli(None, "whoami")
    assert "account root" in admin.stdout and "platform admin" in admin.stdout
    unknown = studio.cli(None, "status", env={"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNUNKNOWN00"})
    assert unknown.returncode == 1 and "UnrecognizedClientException" in unknown.stderr
    assert "Traceback" not in unknown.stderr and "fix:" in unknown.stderr
    empty = {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
             "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    nothing = studio.cli(None, "status", env=empty, drop=no_keys)
    assert nothing.returncode == 1 and "no AWS credentials found" in nothing.stderr, nothing.stderr
    down = studio.cli(None, "status", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert down.returncode == 1 and "the local Studio is not running" in down.stderr
    assert "smstudio local up" in down.stderr
    assert "Traceback" not in down.stderr


def test_local_env_gives_a_users_session(studio: Studio) -> None:
    done = studio.cli(None, "local", "env", "--user", "bob", "--team", str(studio["team"]),
                      env={"SMSTUDIO_LOCAL_PORT": str(studio["ports"].gateway),
                           "SMSTUDIO_STATE_DIR": str(studio["layout"].root.parent)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "export AWS_SESSION_TOKEN=" in done.stdout
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{studio['ports'].gateway}" in done.stdout
    keys = stack.admin_keys(studio["layout"])
    assert keys["AccessKeyId"] not in done.stdout  # never the admin's key


def test_offboarding_bob_leaves_alice_and_bobs_home(
    studio: Studio, tmp_path: Path, built_images: dict[str, str]
) -> None:
    """Last in this file: bob leaves the team file. Without --prune nothing is deleted and
    the plan says what would be; with it his apps, spaces, profile, role, policy, git
    token and SSM registration go, his home on the domain's EFS stays, alice is as before."""
    domain, admin = studio["domain"], studio["sm"]
    bob = studio.user("bob")
    gittoken.store(SageMaker.of(bob), bob.client("secretsmanager"), domain, "bob", "t-b")
    bob_box = container_of(admin, space_app(domain, "bob-space"))
    wrote = bob_box.exec_run(["sh", "-c", "echo mine > ~/user-default-efs/notes.txt"],
                             user="1000:100")  # fmt: skip
    assert wrote.exit_code == 0, wrote.output.decode()
    ssm = studio["clients"].client("ssm")
    owned_by_bob = [{"Key": "tag:SSHOwner", "Values": ["bob"]}]
    assert ssm.describe_instance_information(Filters=owned_by_bob)["InstanceInformationList"]
    bob_session = studio.user("bob").client("sagemaker")  # his credentials, still in hand
    alice_apps = {a["AppName"] + a.get("SpaceName", "") for a in admin.list_apps(
        DomainIdEquals=domain)["Apps"] if a["Status"] == "InService"
        and (a.get("UserProfileName") == "alice" or a.get("SpaceName") in ("alice-space",))}  # fmt: skip
    users, rest = TEAM.split("[git]", 1)
    without_bob = users.split('[[users]]\nname = "bob"')[0] + "[git]" + rest
    team_file = write_team(tmp_path, without_bob, "without-bob.toml")
    tag = built_images["base"].rsplit(":", 1)[1]

    kept = studio.cli(None, "apply", "--team", str(team_file), "--yes", "--tag", tag)
    assert kept.returncode == 0 and "nothing to change" in kept.stdout, kept.stderr
    assert "not in the team file; kept" in kept.stderr and "--prune deletes" in kept.stderr
    assert admin.describe_user_profile(DomainId=domain, UserProfileName="bob")

    done = studio.cli(None, "apply", "--team", str(team_file), "--prune", "--yes", "--tag", tag)
    assert done.returncode == 0, done.stderr
    assert "home" in done.stderr and "kept" in done.stderr
    names = iam.Names("teams")
    with pytest.raises(admin.exceptions.ResourceNotFound):
        admin.describe_user_profile(DomainId=domain, UserProfileName="bob")
    with pytest.raises(admin.exceptions.ResourceNotFound):
        admin.describe_space(DomainId=domain, SpaceName="bob-space")
    for app in (space_app(domain, "bob-space"), kernel_gateway(domain, "bob")):
        with contextlib.suppress(admin.exceptions.ResourceNotFound):
            assert admin.describe_app(**app)["Status"] == "Deleted"
    iam_client = studio["clients"].client("iam")
    with pytest.raises(iam_client.exceptions.NoSuchEntityException):
        iam_client.get_role(RoleName=names.user_role("bob"))
    policy = f"arn:aws:iam::123456789012:policy/{names.user_policy('bob')}"
    with pytest.raises(iam_client.exceptions.NoSuchEntityException):
        iam_client.get_policy(PolicyArn=policy)
    secrets = studio["clients"].client("secretsmanager")
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId=gittoken.secret_name(domain, "bob"))
    assert not ssm.describe_instance_information(Filters=owned_by_bob)["InstanceInformationList"]
    # he can no longer open Studio, even with the session he had
    with pytest.raises(Exception) as info:
        bob_session.create_presigned_domain_url(DomainId=domain, UserProfileName="bob")
    assert "AccessDenied" in str(info.value) or "ExpiredToken" in str(info.value)
    gone = studio.cli(None, "local", "env", "--user", "bob", "--team", str(studio["team"]),
                      env={"SMSTUDIO_LOCAL_PORT": str(studio["ports"].gateway),
                           "SMSTUDIO_STATE_DIR": str(studio["layout"].root.parent)})  # fmt: skip
    assert gone.returncode == 1 and "could not assume" in gone.stderr
    # his home stays, with his file
    home = f"smstudio-home-{domain}-user-bob"
    read = dockerhost.client().containers.run(
        "smstudio/local-base:bookworm", ["cat", "/efs/notes.txt"], remove=True,
        volumes={home: {"bind": "/efs", "mode": "ro"}}, network_mode="none")  # fmt: skip
    assert read.decode().strip() == "mine"
    # alice is untouched: her apps serve, her commands work, and nothing is left to do
    still = {a["AppName"] + a.get("SpaceName", "") for a in admin.list_apps(
        DomainIdEquals=domain)["Apps"] if a["Status"] == "InService"
        and (a.get("UserProfileName") == "alice" or a.get("SpaceName") in ("alice-space",))}  # fmt: skip
    assert still == alice_apps and alice_apps
    status = studio.cli("alice", "status")
    assert status.returncode == 0 and "alice" in status.stdout, status.stderr
    iam_client.get_role(RoleName=names.user_role("alice"))
    again = studio.cli(None, "apply", "--team", str(team_file), "--prune", "--yes", "--tag", tag)
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stderr
