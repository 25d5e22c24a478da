"""`smstudio local up|down|status|env` with the real processes: the AWS endpoint (gateway,
control plane and moto) and the distribution registry on 127.0.0.1; state survives
down/up; the admin is the local account's root key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from smstudio.core import aws, dockerhost
from smstudio.images import push
from smstudio.local import registry, stack

PORTS = stack.Ports.at(stack.free_port_base())
ECR = f"{stack.ACCOUNT}.dkr.ecr.{stack.REGION}.amazonaws.com/smstudio/local-base"


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[stack.Layout]:
    where = stack.Layout(tmp_path / "local")
    try:
        yield where
    finally:
        stack.down(where)


def clients(monkeypatch: pytest.MonkeyPatch, layout: stack.Layout) -> aws.Aws:
    """As the admin, with `eval "$(smstudio local env)"`'s environment."""
    for key, value in stack.env_exports(PORTS, stack.admin_keys(layout)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return aws.Aws(max_attempts=2)


def push_by_hand(local_base: str, tag: str) -> str:
    target = f"{stack.endpoints(PORTS)['registry']}/smstudio/local-base:{tag}"
    dockerhost.get_image(local_base).tag(target)
    try:
        done = subprocess.run(
            ["docker", "push", "-q", target], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    finally:
        dockerhost.client().images.remove(target)
    return target


def test_ecr_uris_map_to_the_local_registry() -> None:
    assert registry.to_local(f"{ECR}:1", "127.0.0.1:5") == "127.0.0.1:5/smstudio/local-base:1"
    assert (
        registry.to_local(f"{ECR}@sha256:{'a' * 64}", "r:1")
        == f"r:1/smstudio/local-base@sha256:{'a' * 64}"
    )
    assert registry.to_local("docker.io/library/debian:12", "r:1") is None


def test_up_register_down_up_keeps_everything(
    layout: stack.Layout, local_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = stack.up(layout, PORTS)
    assert urls["aws"] == f"http://127.0.0.1:{PORTS.gateway}"
    assert stack.up(layout, PORTS) == urls  # idempotent: nothing restarted
    assert all(stack.health(PORTS).values())
    assert oct(layout.admin.stat().st_mode & 0o777) == "0o600"
    factory = clients(monkeypatch, layout)
    iam: Any = factory.client("iam")
    sm: Any = factory.client("sagemaker")
    role = iam.create_role(RoleName="smstudio-image", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    keys = stack.admin_keys(layout)
    factory.client("ecr").create_repository(repositoryName="smstudio/local-base")
    push_by_hand(local_base, "v1")
    sm.create_image(ImageName="local-base", RoleArn=role)
    sm.create_image_version(ImageName="local-base", BaseImage=f"{ECR}:v1", ClientToken="a")
    sm.create_image_version(
        ImageName="local-base", BaseImage=f"{ECR}:never-pushed", ClientToken="b"
    )
    good = sm.describe_image_version(ImageName="local-base", Version=1)
    assert good["ImageVersionStatus"] == "CREATED" and "@sha256:" in good["ContainerImage"]
    bad = sm.describe_image_version(ImageName="local-base", Version=2)
    assert bad["ImageVersionStatus"] == "CREATE_FAILED" and "does not exist" in bad["FailureReason"]
    domain_id = sm.create_domain(
        DomainName="ml-team",
        AuthMode="IAM",
        SubnetIds=["subnet-1"],
        VpcId="vpc-1",
        DefaultUserSettings={"ExecutionRole": role},
    )["DomainId"]

    assert sorted(stack.down(layout)) == ["aws", "registry"]
    assert not any(stack.health(PORTS).values())
    stack.up(layout, PORTS)
    assert stack.admin_keys(layout) == keys
    assert iam.get_role(RoleName="smstudio-image")["Role"]["Arn"] == role
    assert [
        r["repositoryName"] for r in factory.client("ecr").describe_repositories()["repositories"]
    ] == ["smstudio/local-base"]
    assert sm.describe_domain(DomainId=domain_id)["DomainName"] == "ml-team"
    sm.create_image_version(ImageName="local-base", BaseImage=f"{ECR}:v1", ClientToken="c")
    assert (
        sm.describe_image_version(ImageName="local-base", Version=3)["ImageVersionStatus"]
        == "CREATED"
    )


def test_cli_env_and_status(layout: stack.Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSTUDIO_LOCAL_PORT", str(PORTS.gateway))
    monkeypatch.setenv("SMSTUDIO_STATE_DIR", str(layout.root.parent))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smstudio.cli", "local", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    before = run("env")
    assert before.returncode == 1 and "smstudio local up" in before.stderr  # no key yet
    assert run("up").returncode == 0
    env = run("env")
    assert env.returncode == 0
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{PORTS.gateway}" in env.stdout
    keys = stack.admin_keys(layout)
    assert f"export AWS_ACCESS_KEY_ID={keys['AccessKeyId']}" in env.stdout
    assert "unset AWS_SESSION_TOKEN" in env.stdout
    status = run("status")
    assert status.stdout.count(" up ") == 2, status.stdout
    assert "stopped:" in run("down").stdout
    assert run("status").stdout.count(" down ") == 2


def test_push_creates_the_repository_and_records_the_digest(
    layout: stack.Layout, built_images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.up(layout, PORTS)
    factory = clients(monkeypatch, layout)
    pushed = push.push(built_images["base"], "base", "t1", factory, Console(stderr=True))
    assert pushed.uri == f"{stack.ACCOUNT}.dkr.ecr.{stack.REGION}.amazonaws.com/smstudio/base:t1"
    assert pushed.digest.startswith("sha256:")
    resolved, reason = registry.RegistryResolver(stack.endpoints(PORTS)["registry"])(pushed.uri)
    assert (resolved, reason) == (pushed.pinned, None)
    again = push.push(built_images["base"], "base", "t1", factory, Console(stderr=True))
    assert again == pushed  # same content, same digest; the repository is reused
    # the image itself (its config digest), read back from the registry: what apply
    # compares, since a registry may give the same image another manifest digest
    image_id = dockerhost.get_image(built_images["base"]).id
    assert pushed.config == image_id
    assert push.config_digest(pushed.pinned, factory) == image_id
    repos = factory.client("ecr").describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos] == ["smstudio/base"]
    # The CLI prints the pinned URI that image versions will use.
    tag = built_images["base"].rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "smstudio.cli", "images", "push", "base", "--tag", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == f"{stack.ACCOUNT}.dkr.ecr.{stack.REGION}.amazonaws.com/smstudio/base@{pushed.digest}"
    )
