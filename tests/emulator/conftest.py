"""The local Studio's AWS endpoint in this process, per test (gateway, control plane,
moto; no app runtime), reached by boto3 over real HTTP with real signatures: the admin
(the account's root key) and users with roles of their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from smstudio.core import aws, project
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.ssm import InstanceHost, Ssm
from smstudio.local.controlplane.store import Store
from smstudio.local.gateway.identities import Identities
from smstudio.local.gateway.motohost import Moto
from smstudio.local.gateway.server import Gateway, GatewayServer
from smstudio.workspaces import apps

ROLE = "arn:aws:iam::123456789012:role/smstudio-image"
ACCOUNT = "123456789012"
USER_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": ["sts:AssumeRole", "sts:TagSession"]}]}  # fmt: skip


class Registry:
    """An image resolver that knows a fixed set of pushed images."""

    def __init__(self) -> None:
        self.pushed: dict[str, str] = {}

    def __call__(self, base_image: str) -> tuple[str | None, str | None]:
        digest = self.pushed.get(base_image)
        if digest is None:
            return None, f"Image {base_image} does not exist or access is denied"
        return f"{base_image.rsplit(':', 1)[0]}@{digest}", None


@dataclass
class LocalAws:
    """An in-process AWS endpoint of the local Studio and clients for its principals."""

    server: GatewayServer
    region: str = "eu-west-1"
    made: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def root(self) -> dict[str, str]:
        return self.server.gateway.identities.root_key()

    def clients(self, keys: dict[str, str] | None = None) -> aws.Aws:
        everything = {s: self.url for s in ("sagemaker", "ssm", "sts", "iam", "secretsmanager",
                                            "logs", "s3", "ecr", "ses", "events", "lambda")}  # fmt: skip
        return aws.Aws(region=self.region, endpoints=everything, max_attempts=1,
                       keys=keys or self.root)  # fmt: skip

    def client(self, service: str, keys: dict[str, str] | None = None) -> Any:
        return self.clients(keys).client(service)

    def user(
        self, name: str, *statements: dict[str, Any], policy: dict[str, Any] | None = None
    ) -> dict[str, str]:
        """A role for `name` tagged studiouserid=name with this policy, assumed: its keys."""
        iam = self.client("iam")
        role = f"user-{name}"
        if role not in self.made:
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(USER_TRUST),
                            Tags=[{"Key": "studiouserid", "Value": name}])  # fmt: skip
            document = policy or {"Version": "2012-10-17", "Statement": list(statements)}
            iam.put_role_policy(RoleName=role, PolicyName=role, PolicyDocument=json.dumps(document))
            self.made.append(role)
        made = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName=name
        )["Credentials"]
        return {"AccessKeyId": made["AccessKeyId"], "SecretAccessKey": made["SecretAccessKey"],
                "SessionToken": made["SessionToken"]}  # fmt: skip


def start(state: Path, resolver: Any = None, host: InstanceHost | None = None,
          enforce: bool = True) -> GatewayServer:  # fmt: skip
    """A gateway over fresh state (moto's in-process state is reset)."""
    Moto.reset()
    store = Store(state / "studio.json")
    plane = ControlPlane(store, resolver=resolver)
    moto = Moto(plane.account, state / "aws-journal.jsonl")
    moto.replay()
    identities = Identities(store, moto, plane.account)
    gateway = Gateway(plane, Ssm(store, plane.account, host), moto, identities, enforce=enforce)
    return GatewayServer(gateway).start()


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def local(tmp_path: Path, registry: Registry) -> Iterator[LocalAws]:
    running = start(tmp_path, registry)
    try:
        yield LocalAws(running)
    finally:
        running.stop()


@pytest.fixture
def server(local: LocalAws) -> GatewayServer:
    return local.server


@pytest.fixture
def sm(local: LocalAws) -> Any:
    """SageMaker as the admin."""
    return local.client("sagemaker")


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


def write_team(folder: Path, text: str = TEAM, name: str = "team.toml") -> Path:
    path = folder / name
    path.write_text(text.replace("{lcc}", str(project.project_root() / "lcc")))
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
