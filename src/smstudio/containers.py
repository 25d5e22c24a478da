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


def published_port(container: docker.models.containers.Container, port: str) -> int | None:
    """The host port (on 127.0.0.1) a container port was published on; None when the
    container stopped before Docker published it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(port)
        if bindings:
            return int(bindings[0]["HostPort"])
        if container.status not in ("created", "running"):
            return None
        time.sleep(0.1)
    return None


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


def exit_summary(container: docker.models.containers.Container) -> str:
    """Why a container is not serving: its state, exit code and last log lines."""
    container.reload()
    state = container.attrs.get("State", {})
    running = bool(state.get("Running"))
    what = "still running" if running else f"exited with code {state.get('ExitCode')}"
    log = logs_tail(container)
    return f"{what}; container log:\n{log}" if log else what


def logs_tail(container: docker.models.containers.Container, lines: int = 15) -> str:
    try:
        return str(container.logs(tail=lines).decode(errors="replace")).strip()
    except docker.errors.APIError:
        return ""
