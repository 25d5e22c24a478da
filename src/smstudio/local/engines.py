"""Docker engines for the local Studio's apps, as Studio gives them.

An app created in a domain with `DockerSettings.EnableDockerAccess` ENABLED (JupyterLab
and Code Editor: new Studio only) gets an engine of its own: a privileged container from
the local base with Debian's docker.io, in the app's network namespace (so `--network
sagemaker` containers, which run on the engine's host network, serve on the app's
localhost), its storage on a volume of the space's. The app reaches it only through
Studio's Docker proxy (smstudio.local.dockerproxy) at /docker/proxy.sock, its
DOCKER_HOST. ECR host names of the trusted accounts resolve to 127.0.0.1 in the app,
where port 80 leads to the local registry, so images are pulled and pushed by their ECR
names. Other apps, and the host, never see the engine.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smstudio.core import dockerhost
from smstudio.core.errors import SmstudioError

IMAGE = "smstudio/local-engine:26.1"
CONTEXT = Path(__file__).parent / "engine"
SOCKET_DIR = "/docker"  # where the app finds proxy.sock (Studio's path)
DOCKER_HOST = f"unix://{SOCKET_DIR}/proxy.sock"
CODE_DIR = "/opt/smstudio-engine"
PART_LABEL = "io.smstudio.app-part"  # the engine's containers are not the app's own
ENGINE_PART = "docker-engine"
DOOR_SOCKET_LABEL = "io.smstudio.door-socket"  # a remote engine's door: its sshd's socket
ECR_HOST = "{account}.dkr.ecr.{region}.amazonaws.com"
NEW_STUDIO = ("JupyterLab", "CodeEditor")


@dataclass(frozen=True)
class EnginePlan:
    """An app's Docker access: the accounts whose ECR images it reaches and the proxy's
    rules (from the domain's DockerSettings and network access type)."""

    vpc_only: bool
    accounts: tuple[str, ...]  # the domain's own first, then VpcOnlyTrustedAccounts
    region: str
    mount_path: str

    def ecr_hosts(self) -> dict[str, str]:
        """The app's hosts-file entries: ECR's names to the app's loopback."""
        return {ECR_HOST.format(account=a, region=self.region): "127.0.0.1" for a in self.accounts}

    def rules(self) -> str:
        return json.dumps(
            {
                "vpc_only": self.vpc_only,
                "trusted_accounts": list(self.accounts),
                "region": self.region,
                "mountable": [self.mount_path],
            }
        )


def plan_engine(
    domain: dict[str, Any], app_type: str, app_arn: str, mount_path: str
) -> EnginePlan | None:
    """The app's engine, if the domain gives Docker to apps of its kind (pure)."""
    docker = (domain.get("DomainSettings") or {}).get("DockerSettings") or {}
    if docker.get("EnableDockerAccess") != "ENABLED" or app_type not in NEW_STUDIO:
        return None
    found = re.match(r"^arn:aws:sagemaker:(?P<region>[^:]+):(?P<account>\d{12}):", app_arn)
    if found is None:
        raise ValueError(f"not an app ARN: {app_arn}")
    trusted = [a for a in docker.get("VpcOnlyTrustedAccounts", []) if a != found["account"]]
    return EnginePlan(
        vpc_only=domain.get("AppNetworkAccessType") == "VpcOnly",
        accounts=(found["account"], *trusted),
        region=found["region"],
        mount_path=mount_path,
    )


def storage_volume(domain_id: str, space: str) -> str:
    return f"smstudio-docker-{domain_id}-space-{space}"


def build(base_image: str) -> str:
    """The engine image (cached by Docker); its id."""
    cmd = ["docker", "buildx", "build", "--load", "--platform", "linux/amd64",
           "--build-arg", f"BASE_IMAGE={base_image}", "--build-context", f"code={CONTEXT.parent}",
           "-t", IMAGE, str(CONTEXT)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SmstudioError(
            f"building the local Docker engine image from {base_image} failed:\n"
            + "\n".join(done.stderr.strip().splitlines()[-15:]),
            "check that the base image exists (smstudio images local-base) and that Debian's "
            "archive is reachable",
        )
    return str(dockerhost.client().images.get(IMAGE).id)


def run_options(
    plan: EnginePlan, app_container: str, proxy_dir: Path, code_dir: Path, endpoint_dir: Path,
    home: str, storage: str, labels: dict[str, str], name: str,
) -> dict[str, Any]:  # fmt: skip
    """docker run options of the app's engine."""
    return {
        "image": IMAGE,
        "privileged": True,  # dockerd needs it; the app's containers never get it
        "network_mode": f"container:{app_container}",
        "environment": {"SMSTUDIO_DOCKER_RULES": plan.rules()},
        "volumes": {
            storage: {"bind": "/var/lib/docker", "mode": "rw"},
            str(proxy_dir): {"bind": "/proxy", "mode": "rw"},
            str(code_dir): {"bind": CODE_DIR, "mode": "ro"},
            str(endpoint_dir): {"bind": "/opt/ml/local-endpoint", "mode": "ro"},
            home: {"bind": plan.mount_path, "mode": "rw"},  # bind mounts from the home work
        },
        "labels": {**labels, PART_LABEL: ENGINE_PART},
        "name": name,
        "detach": True,
    }
