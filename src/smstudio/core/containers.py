"""Running containers the way Studio does, and always cleaning them up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import docker

from smstudio.core import dockerhost, wait

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

    def bound() -> int | None:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(port)
        if bindings:
            return int(bindings[0]["HostPort"])
        return 0 if container.status not in ("created", "running") else None  # 0: stopped

    try:
        return wait.until(bound, 10, 0.1) or None
    except wait.TimedOut:
        return None


def poll(
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.25,
    alive: Callable[[], bool] = lambda: True,
) -> T | None:
    """Call probe until it returns a value, the timeout passes, or alive() says stop."""

    def step() -> tuple[T | None] | None:
        result = probe()
        if result is None and alive():
            return None
        return (result if result is not None else probe(),)

    try:
        return wait.until(step, timeout, interval)[0]
    except wait.TimedOut:
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
