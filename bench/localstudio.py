"""A local Studio for benchmarks: free ports, temporary state, the example team applied
(as the admin) with images of one tag; `user(NAME)` gives clients with that user's own
role, as users act; on exit the stack stops and its domain's containers, networks and
home volumes go."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio.core import aws, config, dockerhost, project
from smstudio.core.sagemaker import SageMaker
from smstudio.local import runtime, stack
from smstudio.register import apply
from smstudio.workspaces import apps, whoami

TEAM_FILE = project.project_root() / "bootstrap/team.example.toml"


@contextmanager
def running(tag: str, team_file: Path = TEAM_FILE) -> Iterator[dict[str, Any]]:
    team, base_dir = config.load(team_file)
    ports = stack.Ports.at(stack.free_port_base())
    domain = ""
    with tempfile.TemporaryDirectory(prefix="smstudio-bench-") as tmp:
        layout = stack.Layout(Path(tmp))
        try:
            stack.up(layout, ports)
            os.environ.pop("AWS_SESSION_TOKEN", None)
            os.environ.update(stack.env_exports(ports, stack.admin_keys(layout)))
            clients = aws.Aws(region=team.domain.region)
            apply.run(team, base_dir, clients, Console(quiet=True), tag=tag)
            sm = clients.client("sagemaker")
            domain = apps.find_domain(SageMaker(sm), team)

            def user(name: str) -> aws.Aws:
                keys = whoami.role_credentials(clients, team, name)
                return aws.Aws(region=team.domain.region, keys=keys)

            def user_env(name: str) -> dict[str, str]:
                keys = whoami.role_credentials(clients, team, name)
                return {**os.environ, **stack.env_exports(ports, keys)}

            yield {"sm": sm, "logs": clients.client("logs"), "domain": domain, "team": team_file,
                   "user": user, "user_env": user_env, "clients": clients}  # fmt: skip
        finally:
            engine = dockerhost.client()
            for container in engine.containers.list(all=True, filters={"label": runtime.LABEL}):
                if domain and f"/{domain}/" in container.labels.get(runtime.LABEL, ""):
                    container.remove(force=True)
            for network in engine.networks.list(filters={"label": runtime.LABEL}):
                labels = network.attrs.get("Labels") or {}
                if domain and f"/{domain}/" in labels.get(runtime.LABEL, ""):
                    runtime.remove_network(network)
            stack.down(layout)
            for kind in ("home", "docker"):
                for volume in engine.volumes.list(filters={"name": f"smstudio-{kind}-{domain}-"}):
                    if domain:
                        volume.remove(force=True)
