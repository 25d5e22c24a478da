"""The distribution registry standing in for ECR: ECR URIs map to it, and image versions
resolve against it (a missing image fails the version as in SageMaker)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests

ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repo>[a-z0-9._/-]+)(?::(?P<tag>[\w.-]+)|@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def to_local(uri: str, registry: str) -> str | None:
    """`<acct>.dkr.ecr.<region>.amazonaws.com/repo:tag` -> `<registry>/repo:tag`."""
    found = ECR_URI.match(uri)
    if found is None:
        return None
    ref = (
        f":{found['tag']}"
        if found["tag"]
        else (f"@{found['digest']}" if found["digest"] else ":latest")
    )
    return f"{registry}/{found['repo']}{ref}"


@dataclass
class RegistryResolver:
    """Resolves an image version's BaseImage against the local registry."""

    registry: str  # host:port on 127.0.0.1

    def __call__(self, base_image: str) -> tuple[str | None, str | None]:
        found = ECR_URI.match(base_image)
        if found is None:
            return None, f"BaseImage {base_image} is not an ECR image URI"
        reference = found["digest"] or found["tag"] or "latest"
        try:
            answer = requests.head(
                f"http://{self.registry}/v2/{found['repo']}/manifests/{reference}",
                headers={"Accept": MANIFEST_TYPES},
                timeout=10,
            )
        except requests.RequestException as exc:
            return None, f"the image registry did not answer: {exc}"
        if answer.status_code != 200:
            return None, f"Image {base_image} does not exist or access is denied"
        repository = base_image[: found.start("repo")] + found["repo"]
        return f"{repository}@{answer.headers.get('Docker-Content-Digest', '')}", None
