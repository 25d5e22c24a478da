"""The one place that connects to the Docker engine."""

from __future__ import annotations

from functools import cache

import docker
from docker.errors import DockerException

from smstudio.core.errors import BadInput, SmstudioError


@cache
def client() -> docker.DockerClient:
    try:
        engine = docker.from_env(timeout=300)
        engine.ping()
    except DockerException as exc:
        raise SmstudioError(
            f"cannot reach the Docker engine ({exc})",
            "start it with scripts/setup-host.sh (installs and starts dockerd), or set DOCKER_HOST",
        ) from exc
    return engine


def get_image(ref: str) -> docker.models.images.Image:
    try:
        return client().images.get(ref)
    except docker.errors.ImageNotFound as exc:
        raise BadInput(
            f"image {ref!r} is not in the local Docker engine",
            "build it (smstudio images build) or pull it first; `smstudio images list` "
            "shows what is built",
        ) from exc
