"""Code Editor spaces in the local Studio: apply registers the codeeditor image with a
CodeEditorAppImageConfig (no FileSystemConfig: Studio refuses one) and the CodeEditor
lifecycle script; alice's space reaches InService, its lifecycle script runs, and the
presigned URL leads to the workbench under /codeeditor/default. Remote access: the team
file's space with `remote_access = true` takes `smstudio connect` and plain ssh through
StartSession as alice; bob, a disabled space and alice switching it on herself are
refused."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Studio, container_of, local_studio, log_lines, settle
from tests.emulator.conftest import TEAM, write_team

CODE_TEAM = TEAM.replace("[lifecycle]", """[images.smstudio-codeeditor]
target = "codeeditor"
app_types = ["CodeEditor"]
[lifecycle]
CodeEditor = "{lcc}/codeeditor.sh\"""", 1) + """
[[spaces]]
name = "alice-dev"
owner = "alice"
sharing = "Private"
app_type = "CodeEditor"
remote_access = true
"""
LIMIT = 120


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("codeeditor")
    with local_studio(root, write_team(root, CODE_TEAM), built_images, LIMIT) as running:
        yield running


def code_space(sm: Any, domain: str, owner: str, space: str) -> dict[str, str]:
    sm.create_space(DomainId=domain, SpaceName=space,
                    OwnershipSettings={"OwnerUserProfileName": owner},
                    SpaceSharingSettings={"SharingType": "Private"},
                    SpaceSettings={"AppType": "CodeEditor"})  # fmt: skip
    return {"DomainId": domain, "SpaceName": space, "AppType": "CodeEditor", "AppName": "default"}


def open_editor(sm: Any, app: dict[str, str], user: str) -> tuple[str, requests.Session]:
    url = sm.create_presigned_domain_url(DomainId=app["DomainId"], UserProfileName=user,
                                         SpaceName=app["SpaceName"])["AuthorizedUrl"]  # fmt: skip
    browser = requests.Session()
    landed = browser.get(url, timeout=30)
    assert landed.status_code == 200, (landed.status_code, landed.text[:300])
    return landed.url.split("/codeeditor/default", 1)[0] + "/codeeditor/default", browser


def test_a_code_editor_space_serves_the_workbench(studio: Studio, tmp_path: Path) -> None:
    admin = studio["sm"]
    config = admin.describe_app_image_config(AppImageConfigName="smstudio-codeeditor")
    assert config["CodeEditorAppImageConfig"] == {
        "ContainerConfig": {"ContainerEntrypoint": ["/opt/smstudio/bin/start-codeeditor"]}}
    with pytest.raises(admin.exceptions.ClientError, match="FileSystemConfig is not supported"):
        admin.update_app_image_config(AppImageConfigName="smstudio-codeeditor",
                                      CodeEditorAppImageConfig={"FileSystemConfig": {"MountPath": "/home/sagemaker-user"}})  # fmt: skip
    sm = studio.user("alice").client("sagemaker")
    app = code_space(sm, studio["domain"], "alice", "alice-code")
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    found = settle(sm, app)
    assert found["Status"] == "InService", found.get("FailureReason")
    assert any("INFO codeeditor: done in" in line for line in log_lines(studio["logs"], app))
    base, browser = open_editor(sm, app, "alice")
    page = browser.get(f"{base}/", timeout=10)
    assert page.status_code == 200 and "workbench" in page.text
    idle = browser.get(f"{base}/api/idle", timeout=10).json()
    assert "lastActiveTimestamp" in idle
    assert requests.get(f"{base}/", timeout=10).status_code == 403  # no login, no editor
    box = container_of(sm, app)
    done = box.exec_run(["bash", "-lc", "cd && python -c 'print(1+1)' && id -u"], user="1000:100")
    assert done.exit_code == 0 and done.output.decode().split() == ["2", "1000"]
    # SSH into the Code Editor space, as into a JupyterLab one
    host = f"default.alice-code.{studio['domain']}.studio.sagemaker"
    env = {**studio.user_env("alice"), "SMSTUDIO_STATE_DIR": str(tmp_path / "laptop")}
    command = [sys.executable, "-m", "smstudio.cli", "ssh", "--team", str(studio["team"]), host,
               "--", "python", "-c", "'import os; print(1+1, os.environ[\"SAGEMAKER_APP_TYPE\"])'"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0 and done.stdout.split() == ["2", "CodeEditor"], done.stderr
    sm.delete_app(**app)
    assert settle(sm, app)["Status"] == "Deleted"


def test_remote_access_by_start_session(studio: Studio, tmp_path: Path,
                                        built_images: dict[str, str]) -> None:
    domain = studio["domain"]
    admin, alice = studio["sm"], studio.user("alice").client("sagemaker")
    summary = next(s for s in alice.list_spaces(DomainIdEquals=domain)["Spaces"]
                   if s["SpaceName"] == "alice-dev")  # fmt: skip
    assert summary["SpaceSettingsSummary"] == {"AppType": "CodeEditor", "RemoteAccess": "ENABLED"}
    app = {"DomainId": domain, "SpaceName": "alice-dev", "AppType": "CodeEditor", "AppName": "default"}
    env = {"SMSTUDIO_STATE_DIR": str(tmp_path / "laptop")}
    done = studio.cli("alice", "connect", "alice-dev", "--", "true", env=env)
    assert done.returncode == 1 and "not running" in done.stderr and "Traceback" not in done.stderr
    alice.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(alice, app)["Status"] == "InService"
    arn = alice.describe_app(**app)["AppArn"]

    # alice: StartSession gives the triple; `connect` hands it to the plugin, and ssh
    # logs in with the key it stored in her own secret (no SSM instance involved)
    session = alice.start_session(ResourceIdentifier=arn)
    assert set(session) >= {"SessionId", "StreamUrl", "TokenValue"}
    done = studio.cli("alice", "connect", "alice-dev", "--", "python", "-c",
                      "'import os; print(1+1, os.environ[\"SAGEMAKER_SPACE_NAME\"])'", env=env)  # fmt: skip
    assert done.returncode == 0 and done.stdout.split() == ["2", "alice-dev"], done.stderr
    keys = studio.user("alice").client("secretsmanager").get_secret_value(
        SecretId=f"smstudio/{domain}/alice/remote-access-keys")["SecretString"]
    assert keys.startswith("ssh-ed25519 ") and "PRIVATE" not in keys
    # ssh-config's transport option: plain ssh goes the same way
    config = tmp_path / "ssh_config"
    done = studio.cli("alice", "ssh-config", "--transport", "auto", "--file", str(config), env=env)
    assert done.returncode == 0 and "--transport auto" in config.read_text(), done.stderr
    host = f"default.alice-dev.{domain}.studio.sagemaker"
    plain = subprocess.run(["ssh", "-F", str(config), host, "id -un"], capture_output=True,
                           text=True, timeout=60, env={**studio.user_env("alice"), **env})  # fmt: skip
    assert plain.returncode == 0 and plain.stdout.strip() == "sagemaker-user", plain.stderr

    # bob may not start a session in alice's space
    bob = studio.user("bob").client("sagemaker")
    with pytest.raises(bob.exceptions.ClientError, match=r"AccessDenied.*sagemaker:StartSession"):
        bob.start_session(ResourceIdentifier=arn)
    # alice may not switch remote access on herself: the team file says which spaces
    size = {"CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}}
    alice.update_space(DomainId=domain, SpaceName="alice-dev", SpaceSettings=size)
    with pytest.raises(alice.exceptions.ClientError, match="not authorized to perform: sagemaker:UpdateSpace"):
        alice.update_space(DomainId=domain, SpaceName="alice-dev",
                           SpaceSettings={**size, "RemoteAccess": "ENABLED"})  # fmt: skip
    # switched off (drift), Studio refuses the session; apply switches it back on
    admin.update_space(DomainId=domain, SpaceName="alice-dev", SpaceSettings={"RemoteAccess": "DISABLED"})
    with pytest.raises(alice.exceptions.ClientError, match=r"ValidationException.*Remote access is not enabled"):
        alice.start_session(ResourceIdentifier=arn)
    done = studio.cli("alice", "connect", "alice-dev", "--", "true", env=env)
    assert done.returncode != 0 and "remote_access = true" in done.stderr, done.stderr
    tag = built_images["base"].rsplit(":", 1)[1]
    plan = studio.cli(None, "apply", "--dry-run", "--tag", tag)
    shown = plan.stdout + plan.stderr
    assert "would update" in shown and "alice-dev (remote access enabled) (drift: remote access is disabled)" in shown, shown
    assert studio.cli(None, "apply", "--yes", "--tag", tag).returncode == 0
    assert alice.start_session(ResourceIdentifier=arn)["SessionId"]
    alice.delete_app(**app)
    assert settle(alice, app)["Status"] == "Deleted"
