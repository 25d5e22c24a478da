"""The local Studio with a team applied, for end-to-end tests, and helpers to watch its
apps. Everything a test starts is removed: this domain's containers and home volumes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from smstudio import apply, aws, config, dockerhost
from smstudio.local import runtime, stack


@contextmanager
def local_studio(
    root: Path, team_file: Path, built_images: dict[str, str], limit: float
) -> Iterator[dict[str, Any]]:
    """A local Studio on free ports with `team_file` applied (images tagged as the built
    ones) and `limit` seconds as the lifecycle time limit."""
    base = stack.free_port_base()
    ports = stack.Ports(base, base + 1, base + 2)
    layout = stack.Layout(root / "local")
    patch = pytest.MonkeyPatch()
    domain_id = ""
    try:
        patch.setenv("SMSTUDIO_LIFECYCLE_TIMEOUT", str(limit))
        stack.up(layout, ports)
        for key, value in stack.env_exports(ports).items():
            patch.setenv(key, value)
        clients = aws.Aws(max_attempts=2)
        team, base_dir = config.load(team_file)
        tag = built_images["base"].rsplit(":", 1)[1]
        apply.Registrar(team, base_dir, clients, Console(stderr=True), tag=tag).run()
        sm = clients.client("sagemaker")
        domain_id = sm.list_domains()["Domains"][0]["DomainId"]
        yield {
            "sm": sm,
            "logs": clients.client("logs"),
            "clients": clients,
            "domain": domain_id,
            "team": team_file,
        }
    finally:
        engine = dockerhost.client()
        if domain_id:
            for container in engine.containers.list(all=True, filters={"label": runtime.LABEL}):
                if f"/{domain_id}/" in container.labels.get(runtime.LABEL, ""):
                    container.remove(force=True)
        stack.down(layout)
        if domain_id:
            for volume in engine.volumes.list(filters={"name": f"smstudio-home-{domain_id}-"}):
                volume.remove(force=True)
        patch.undo()


def settle(sm: Any, app: dict[str, str], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sm.describe_app(**app)
        if found["Status"] not in ("Pending", "Deleting"):
            return dict(found)
        time.sleep(0.5)
    raise AssertionError(f"app {app} still {found['Status']} after {timeout}s")


def container_of(sm: Any, app: dict[str, str]) -> Any:
    arn = sm.describe_app(**app)["AppArn"]
    (found,) = dockerhost.client().containers.list(filters={"label": f"{runtime.LABEL}={arn}"})
    return found


def log_lines(logs: Any, app: dict[str, str]) -> list[str]:
    stream = runtime.stream_name(app)
    events = logs.get_log_events(logGroupName=runtime.LOG_GROUP, logStreamName=stream)["events"]
    return [e["message"] for e in events]
