"""A local Studio for benchmarks: free ports, temporary state, the example team applied
with images of one tag; on exit the stack stops and its domain's home volumes go."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio import apply, aws, config, dockerhost, project
from smstudio.local import runtime, stack

TEAM_FILE = project.project_root() / "bootstrap/team.example.toml"


@contextmanager
def running(tag: str) -> Iterator[dict[str, Any]]:
    team, base_dir = config.load(TEAM_FILE)
    base = stack.free_port_base()
    ports = stack.Ports(base, base + 1, base + 2)
    domain = ""
    with tempfile.TemporaryDirectory(prefix="smstudio-bench-") as tmp:
        layout = stack.Layout(Path(tmp))
        try:
            stack.up(layout, ports)
            os.environ.update(stack.env_exports(ports))
            clients = aws.Aws(region=team.domain.region)
            apply.Registrar(team, base_dir, clients, Console(quiet=True), tag=tag).run()
            sm = clients.client("sagemaker")
            domain = sm.list_domains()["Domains"][0]["DomainId"]
            yield {"sm": sm, "logs": clients.client("logs"), "domain": domain, "team": TEAM_FILE}
        finally:
            engine = dockerhost.client()
            for container in engine.containers.list(all=True, filters={"label": runtime.LABEL}):
                if domain and f"/{domain}/" in container.labels.get(runtime.LABEL, ""):
                    container.remove(force=True)
            stack.down(layout)
            for volume in engine.volumes.list(filters={"name": f"smstudio-home-{domain}-"}):
                if domain:
                    volume.remove(force=True)
