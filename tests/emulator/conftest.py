"""A control plane on 127.0.0.1 per test, reached by boto3 over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smstudio import apps, aws, project
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.server import ControlPlaneServer
from smstudio.local.controlplane.store import Store

ROLE = "arn:aws:iam::123456789012:role/smstudio-image"


class Registry:
    """An image resolver that knows a fixed set of pushed images."""

    def __init__(self) -> None:
        self.pushed: dict[str, str] = {}

    def __call__(self, base_image: str) -> tuple[str | None, str | None]:
        digest = self.pushed.get(base_image)
        if digest is None:
            return None, f"Image {base_image} does not exist or access is denied"
        return f"{base_image.rsplit(':', 1)[0]}@{digest}", None


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def server(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ControlPlaneServer]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    plane = ControlPlane(Store(tmp_path / "studio.json"), resolver=registry)
    running = ControlPlaneServer(plane).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def sm(server: ControlPlaneServer) -> Any:
    return aws.Aws(region="eu-west-1", endpoints={"sagemaker": server.url}, max_attempts=1).client(
        "sagemaker"
    )


# The team most registration tests apply: two images, a lifecycle script per app type,
# two users (bob limited to one instance type).
TEAM = """
[domain]
name = "ml-team"
region = "us-east-1"
[defaults]
instance_type = "ml.t3.medium"
allowed_instance_types = ["ml.t3.medium", "ml.m5.large"]
idle_timeout_minutes = 60
[images.smstudio-jupyterlab]
target = "jupyterlab"
app_types = ["JupyterLab"]
[images.smstudio-kernelgateway]
target = "kernelgateway"
app_types = ["KernelGateway"]
[lifecycle]
JupyterLab = "{lcc}/jupyterlab.sh"
KernelGateway = "{lcc}/kernelgateway.sh"
[[users]]
name = "alice"
email = "alice@example.com"
[[users]]
name = "bob"
email = "bob@example.com"
allowed_instance_types = ["ml.t3.medium"]
"""


def write_team(folder: Path) -> Path:
    path = folder / "team.toml"
    path.write_text(TEAM.replace("{lcc}", str(project.project_root() / "lcc")))
    return path


def private_space(sm: Any, domain_id: str, owner: str, space: str) -> dict[str, str]:
    """Create a private space for `owner`; the identifiers of its JupyterLab app."""
    sm.create_space(
        DomainId=domain_id,
        SpaceName=space,
        OwnershipSettings={"OwnerUserProfileName": owner},
        SpaceSharingSettings={"SharingType": "Private"},
    )
    return apps.Workspace(domain_id, owner, space).app()
