"""Test helpers: containers that are always removed, polling with timeouts, and a small
Jupyter kernel websocket client."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import requests

from smstudio.core import containers as smcontainers
from smstudio.core import dockerhost

T = TypeVar("T")


class TrackedContainers:
    """Starts containers for one test and removes every one of them afterwards."""

    def __init__(self) -> None:
        self._started: list[docker.models.containers.Container] = []

    def run(self, image: str, **kwargs: Any) -> docker.models.containers.Container:
        kwargs.setdefault("detach", True)
        labels = {smcontainers.LABEL: "test", **kwargs.pop("labels", {})}
        container = dockerhost.client().containers.run(image, labels=labels, **kwargs)
        self._started.append(container)
        return container

    def sleeper(self, image: str, **kwargs: Any) -> docker.models.containers.Container:
        """A container that stays up doing nothing, for exec-based checks."""
        return self.run(image, entrypoint=["sleep", "infinity"], command=[], **kwargs)

    def remove_all(self) -> None:
        for container in self._started:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        self._started.clear()


def sh(
    container: docker.models.containers.Container, script: str, user: str = ""
) -> tuple[int, str]:
    result = container.exec_run(["bash", "-lc", script], user=user, demux=False)
    return result.exit_code, (result.output or b"").decode(errors="replace")


def port_of(container: docker.models.containers.Container, port: str = "8888/tcp") -> int:
    published = smcontainers.published_port(container, port)
    assert published is not None, smcontainers.exit_summary(container)
    return published


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    result = smcontainers.poll(probe, timeout)
    if result is None:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
    return result


def http_ok(url: str, **kwargs: Any) -> Callable[[], requests.Response | None]:
    def probe() -> requests.Response | None:
        try:
            response = requests.get(url, timeout=2, **kwargs)
        except requests.RequestException:
            return None
        return response if response.status_code == 200 else None

    return probe
