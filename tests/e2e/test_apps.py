"""The local Studio running real apps, started by their users with their own roles:
CreateApp -> InService with code running in a kernel reached through the presigned URL,
the home surviving DeleteApp, and Failed with Studio's reasons."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from smstudio.core import dockerhost
from smstudio.local import runtime
from smstudio.workspaces import jupyter
from tests.e2e.conftest import (
    Studio,
    container_of,
    cookie,
    local_studio,
    log_lines,
    open_app,
    settle,
)
from tests.emulator.conftest import private_space, write_team

LIMIT = 8  # seconds: the lifecycle time limit for these tests (Studio's is 300)


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]
) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("studio")
    with local_studio(root, write_team(root), built_images, LIMIT) as running:
        yield running


def lcc(sm: Any, name: str, script: str) -> str:
    content = base64.b64encode(script.encode()).decode()
    return str(sm.create_studio_lifecycle_config(
        StudioLifecycleConfigName=name, StudioLifecycleConfigContent=content,
        StudioLifecycleConfigAppType="JupyterLab")["StudioLifecycleConfigArn"])  # fmt: skip


def test_jupyterlab_space_runs_code_and_keeps_its_home(studio: Studio) -> None:
    sm, domain = studio.user("alice").client("sagemaker"), studio["domain"]
    app = private_space(sm, domain, "alice", "alice-lab")
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService", sm.describe_app(**app).get("FailureReason")
    assert any("INFO jupyterlab: done in" in line for line in log_lines(studio["logs"], app))

    box = container_of(sm, app)
    assert box.exec_run(["sh", "-c", "echo kept > ~/kept.txt"]).exit_code == 0
    metadata = box.exec_run(["cat", "/opt/ml/metadata/resource-metadata.json"]).output.decode()
    assert '"SpaceName": "alice-lab"' in metadata
    assert not box.attrs["HostConfig"]["PortBindings"]  # reached only through its gate
    base, browser = open_app(sm, app, "alice")
    assert jupyter.run_in_server(base, "1+1", session=browser) == "2"
    assert requests.get(f"{base}/api/status", timeout=10).status_code == 403  # no login

    sm.delete_app(**app)
    assert settle(sm, app)["Status"] == "Deleted"
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService"
    assert (
        container_of(sm, app).exec_run(["cat", "/home/sagemaker-user/kept.txt"]).output == b"kept\n"
    )
    # deleting the space deletes its home (its EBS volume in Studio): a space of the same
    # name later starts empty
    home = runtime.home_volume(domain, "alice-lab", None)
    assert dockerhost.client().volumes.list(filters={"name": home})
    sm.delete_app(**app)
    assert settle(sm, app)["Status"] == "Deleted"
    sm.delete_space(DomainId=domain, SpaceName="alice-lab")
    assert not [v for v in dockerhost.client().volumes.list(filters={"name": home}) if v.name == home]


def test_kernelgateway_app_serves_the_images_kernels(studio: Studio) -> None:
    sm, domain = studio.user("alice").client("sagemaker"), studio["domain"]
    app = {
        "DomainId": domain,
        "UserProfileName": "alice",
        "AppType": "KernelGateway",
        "AppName": "python3-app",
    }
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService", sm.describe_app(**app).get("FailureReason")
    base, browser = open_app(sm, app, "alice")
    specs = browser.get(f"{base}/api/kernelspecs", timeout=10).json()
    assert "python3" in specs["kernelspecs"]
    kernel = browser.post(f"{base}/api/kernels", json={"name": "python3"}, timeout=10).json()
    ws = base.replace("http://", "ws://") + f"/api/kernels/{kernel['id']}/channels"
    assert jupyter.execute(ws, "1+1", headers=cookie(browser)) == "2"
    sm.delete_app(**app)
    assert settle(sm, app)["Status"] == "Deleted"


def test_uid_gid_mismatch_fails(studio: Studio) -> None:
    sm, domain = studio["sm"], studio["domain"]  # the admin configures bob's profile
    sm.create_app_image_config(AppImageConfigName="kg-as-root", KernelGatewayImageConfig={
        "KernelSpecs": [{"Name": "python3"}],
        "FileSystemConfig": {"MountPath": "/home/sagemaker-user", "DefaultUid": 0, "DefaultGid": 0}})  # fmt: skip
    sm.update_user_profile(DomainId=domain, UserProfileName="bob", UserSettings={"KernelGatewayAppSettings": {
        "CustomImages": [{"ImageName": "smstudio-kernelgateway", "AppImageConfigName": "kg-as-root"}]}})  # fmt: skip
    app = {"DomainId": domain, "UserProfileName": "bob", "AppType": "KernelGateway", "AppName": "k"}
    bob = studio.user("bob").client("sagemaker")
    bob.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    found = settle(bob, app)
    assert found["Status"] == "Failed"
    assert "default user of the image is 1000:100" in found["FailureReason"]
    assert "DefaultUid 0 and DefaultGid 0" in found["FailureReason"]


def test_lifecycle_failure_and_timeout(studio: Studio) -> None:
    admin, domain = studio["sm"], studio["domain"]
    sm = studio.user("bob").client("sagemaker")
    app = private_space(sm, domain, "bob", "bob-lab")
    failing = lcc(admin, "exits-one", "#!/bin/bash\necho about to fail\nexit 1\n")
    spec = {"InstanceType": "ml.t3.medium"}
    sm.create_app(**app, ResourceSpec={**spec, "LifecycleConfigArn": failing})
    found = settle(sm, app)
    assert found["Status"] == "Failed" and "failed with exit code 1" in found["FailureReason"]
    assert "about to fail" in log_lines(studio["logs"], app)
    assert not dockerhost.client().containers.list(
        all=True, filters={"label": f"{runtime.LABEL}={found['AppArn']}"}
    )

    hanging = lcc(admin, "sleeps", "#!/bin/bash\necho sleeping\nsleep 600\n")
    started = time.monotonic()
    sm.create_app(**app, ResourceSpec={**spec, "LifecycleConfigArn": hanging})
    found = settle(sm, app)
    assert (
        found["Status"] == "Failed"
        and f"did not finish within {LIMIT} seconds" in found["FailureReason"]
    )
    assert time.monotonic() - started < LIMIT + 60


def test_workspace_commands(studio: Studio) -> None:
    """alice's commands, as alice (her role)."""

    def smstudio(*args: str) -> subprocess.CompletedProcess[str]:
        return studio.cli("alice", *args)

    refused = smstudio("up", "mallory")
    assert refused.returncode == 2 and "not in the team" in refused.stderr
    up = smstudio("up", "alice", "--space", "alice-work")
    assert up.returncode == 0, up.stderr
    url = up.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and "/auth?token=" in url
    landed = requests.get(url, timeout=30)  # the presigned URL leads to the running app
    assert landed.status_code == 200 and "/jupyterlab/default/lab" in landed.url
    assert requests.get(url, timeout=10).status_code == 403  # used once
    again = smstudio("up", "alice", "--space", "alice-work")  # reused, not recreated
    assert again.returncode == 0, again.stderr
    ran = smstudio("run", "alice", "import os; (1 + 1, os.getcwd())", "--space", "alice-work")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "(2, '/home/sagemaker-user')"
    status = smstudio("status")
    row = next(line for line in status.stdout.splitlines() if "alice-work" in line)
    assert "JupyterLab" in row and "InService" in row and "ml.t3.medium" in row
    opened = smstudio("open", "alice", "--space", "alice-work")
    assert opened.returncode == 0 and "/auth?token=" in opened.stdout
    down = smstudio("down", "alice", "--space", "alice-work")
    assert down.returncode == 0 and "alice-work: stopped" in down.stdout
    assert "alice-work" not in smstudio("status").stdout
