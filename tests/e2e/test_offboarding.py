"""--delete-home in the local Studio: carol leaves and her home goes with her, emptied by
a short-lived KernelGateway app of hers (AWS keeps a deleted profile's EFS home and has
no API to remove it); alice, who stays, keeps everything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smstudio.core import dockerhost
from smstudio.core.sagemaker import SageMaker
from smstudio.register.execute import HOME_APP, home_config_name
from tests.e2e.conftest import Studio, container_of, local_studio, settle
from tests.emulator.conftest import TEAM as BASE_TEAM
from tests.emulator.conftest import write_team

TEAM = BASE_TEAM.replace('name = "ml-team"', 'name = "leaving"').replace('name = "bob"',
                                                                         'name = "carol"')  # fmt: skip
BASE = "smstudio/local-base:bookworm"


def kernel_gateway(domain: str, user: str) -> dict[str, str]:
    return {"DomainId": domain, "UserProfileName": user, "AppType": "KernelGateway",
            "AppName": f"{user}-kg"}  # fmt: skip


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]
) -> Iterator[Studio]:
    """alice's and carol's KernelGateway apps, each started by its user, each writing a
    file in their home."""
    root = tmp_path_factory.mktemp("leaving")
    with local_studio(root, write_team(root, TEAM), built_images, 90) as running:
        for user in ("alice", "carol"):
            running.user(user).client("sagemaker").create_app(
                **kernel_gateway(running["domain"], user),
                ResourceSpec={"InstanceType": "ml.t3.medium"})  # fmt: skip
        for user in ("alice", "carol"):
            app = kernel_gateway(running["domain"], user)
            assert settle(running["sm"], app)["Status"] == "InService"
            box = container_of(running["sm"], app)
            wrote = box.exec_run(["sh", "-c", f"echo {user} > ~/notes.txt"], user="1000:100")
            assert wrote.exit_code == 0, wrote.output.decode()
        yield running


def home_files(domain: str, user: str) -> list[str]:
    listed = dockerhost.client().containers.run(
        BASE, ["ls", "-A", "/home"], remove=True, network_mode="none",
        volumes={f"smstudio-home-{domain}-user-{user}": {"bind": "/home", "mode": "ro"}})  # fmt: skip
    return listed.decode().split()


def test_delete_home_empties_carols_home_and_keeps_alices(
    studio: Studio, tmp_path: Path, built_images: dict[str, str]
) -> None:
    domain, admin = studio["domain"], studio["sm"]
    tag = built_images["base"].rsplit(":", 1)[1]
    assert "notes.txt" in home_files(domain, "carol")
    without = write_team(tmp_path, TEAM.split('[[users]]\nname = "carol"')[0], "without.toml")
    planned = studio.cli(None, "plan", "--team", str(without), "--tag", tag, "--prune",
                         "--delete-home")  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert "would delete" in planned.stderr and "home" in planned.stderr
    done = studio.cli(None, "apply", "--team", str(without), "--tag", tag, "--prune",
                      "--delete-home", "--yes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert home_files(domain, "carol") == []  # emptied
    assert SageMaker(admin).profile(domain, "carol") is None
    with pytest.raises(admin.exceptions.ResourceNotFound):
        admin.describe_studio_lifecycle_config(
            StudioLifecycleConfigName=home_config_name(domain, "carol"))  # fmt: skip
    helper = {**kernel_gateway(domain, "carol"), "AppName": HOME_APP}
    found = SageMaker(admin).app(helper)  # it ended itself after its script: no server
    assert found is not None and found["Status"] == "Failed"
    assert not dockerhost.client().containers.list(all=True, filters={"name": HOME_APP})
    # alice keeps her home, her app and her profile
    assert "notes.txt" in home_files(domain, "alice")
    assert admin.describe_app(**kernel_gateway(domain, "alice"))["Status"] == "InService"
    assert SageMaker(admin).profile(domain, "alice") is not None
    again = studio.cli(None, "apply", "--team", str(without), "--tag", tag, "--prune",
                       "--delete-home", "--yes")  # fmt: skip
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stderr
