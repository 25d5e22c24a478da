"""Running containers the way Studio does, and always cleaning them up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import docker

from smstudio import dockerhost

T = TypeVar("T")

LABEL = "io.smstudio.managed"


@contextmanager
def running(image: str, **kwargs: Any) -> Iterator[docker.models.containers.Container]:
    """Start a detached container and remove it (with its anonymous volumes) on exit,
    whatever happens inside the block."""
    labels = {LABEL: "true", **kwargs.pop("labels", {})}
    container = dockerhost.client().containers.run(image, detach=True, labels=labels, **kwargs)
    try:
        yield container
    finally:
        with suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)


def published_port(container: docker.models.containers.Container, port: str) -> int:
    """The host port (on 127.0.0.1) a container port was published on."""
    deadline = time.monotonic() + 10
    while True:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(port)
        if bindings:
            return int(bindings[0]["HostPort"])
        if time.monotonic() > deadline:
            raise RuntimeError(f"container {container.short_id} never published {port}")
        time.sleep(0.1)


def poll(
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.25,
    alive: Callable[[], bool] = lambda: True,
) -> T | None:
    """Call probe until it returns a value, the timeout passes, or alive() says stop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result is not None:
            return result
        if not alive():
            return probe()
        time.sleep(interval)
    return None


def is_running(container: docker.models.containers.Container) -> bool:
    try:
        container.reload()
    except docker.errors.NotFound:
        return False
    return bool(container.status in ("created", "running"))


def logs_tail(container: docker.models.containers.Container, lines: int = 15) -> str:
    try:
        return str(container.logs(tail=lines).decode(errors="replace")).strip()
    except docker.errors.APIError:
        return ""
