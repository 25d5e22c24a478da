"""The local Studio with a team applied, for end-to-end tests, and helpers to act as its
principals and watch its apps. apply runs as the admin (the local account's root key);
users act with their own roles (`smstudio local env --user NAME`); apps with their
execution-role sessions. Everything a test starts is removed: this domain's containers,
networks and home volumes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from rich.console import Console

from smstudio.core import aws, config, dockerhost
from smstudio.core.sagemaker import SageMaker
from smstudio.local import engines, runtime, stack
from smstudio.register import apply
from smstudio.workspaces import whoami


class Studio(dict[str, Any]):
    """What a test gets: `sm`, `logs`, `clients` (the admin's), `domain`, `team`, and
    ways to act as a user."""

    def user(self, name: str) -> aws.Aws:
        """Clients with `name`'s own role session."""
        keys = self["user_keys"](name)
        return aws.Aws(max_attempts=2, keys=keys, region=stack.REGION)

    def user_env(self, name: str | None) -> dict[str, str]:
        """The environment `eval "$(smstudio local env --user NAME)"` gives (the admin's
        for None), for running the CLI as that user."""
        keys = self["admin_keys"] if name is None else self["user_keys"](name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(stack.env_exports(self["ports"], keys))
        return env

    def cli(self, user: str | None, *args: str, timeout: float = 600,
            env: dict[str, str] | None = None, stdin: str | None = None,
            drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """`smstudio ARGS --team TEAM` as `user` (None: the admin), `env` on top and the
        variables in `drop` taken out."""
        words = list(args)
        if "--team" not in args and args and args[0] not in ("ssh", "forward", "local"):
            at = words.index("--") if "--" in words else len(words)  # options before `--`
            words[at:at] = ["--team", str(self["team"])]
        command = [sys.executable, "-m", "smstudio.cli", *words]
        environment = {**self.user_env(user), **(env or {})}
        for name in drop:
            environment.pop(name, None)
        return subprocess.run(command, env=environment, capture_output=True, text=True,
                              timeout=timeout, input=stdin or "")  # fmt: skip


@contextmanager
def local_studio(
    root: Path, team_file: Path, built_images: dict[str, str], limit: float
) -> Iterator[Studio]:
    """A local Studio on free ports with `team_file` applied by the admin (images tagged
    as the built ones) and `limit` seconds as the lifecycle time limit."""
    ports = stack.Ports.at(stack.free_port_base())
    layout = stack.Layout(root / "local")
    patch = pytest.MonkeyPatch()
    domain_id = ""
    try:
        patch.setenv("SMSTUDIO_LIFECYCLE_TIMEOUT", str(limit))
        stack.up(layout, ports)
        admin = stack.admin_keys(layout)
        for key, value in stack.env_exports(ports, admin).items():
            patch.setenv(key, value)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        clients = aws.Aws(max_attempts=2)
        team, base_dir = config.load(team_file)
        tag = built_images["base"].rsplit(":", 1)[1]
        apply.run(team, base_dir, clients, Console(stderr=True), tag=tag)
        sm = clients.client("sagemaker")
        domain_id = apply_domain(sm, team)
        sessions: dict[str, dict[str, str]] = {}

        def user_keys(name: str) -> dict[str, str]:
            if name not in sessions:
                sessions[name] = whoami.role_credentials(clients, team, name)
            return sessions[name]

        yield Studio(sm=sm, logs=clients.client("logs"), clients=clients, domain=domain_id,
                     team=team_file, ports=ports, layout=layout, admin_keys=admin,
                     user_keys=user_keys)  # fmt: skip
    finally:
        engine = dockerhost.client()
        if domain_id:
            for container in engine.containers.list(all=True, filters={"label": runtime.LABEL}):
                if f"/{domain_id}/" in container.labels.get(runtime.LABEL, ""):
                    container.remove(force=True)
            for network in engine.networks.list(filters={"label": runtime.LABEL}):
                if f"/{domain_id}/" in network.attrs.get("Labels", {}).get(runtime.LABEL, ""):
                    runtime.remove_network(network)
        stack.down(layout)
        if domain_id:
            for kind in ("home", "docker"):  # homes, and Docker engines' storage
                for volume in engine.volumes.list(filters={"name": f"smstudio-{kind}-{domain_id}-"}):
                    volume.remove(force=True)
        patch.undo()


def apply_domain(sm: Any, team: config.Team) -> str:
    from smstudio.workspaces import apps

    return apps.find_domain(SageMaker(sm), team)


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
    found = dockerhost.client().containers.list(filters={"label": f"{runtime.LABEL}={arn}"})
    (box,) = [c for c in found if engines.PART_LABEL not in c.labels]  # not its Docker engine
    return box


def log_lines(logs: Any, app: dict[str, str]) -> list[str]:
    stream = runtime.stream_name(app)
    events = logs.get_log_events(logGroupName=runtime.LOG_GROUP, logStreamName=stream)["events"]
    return [e["message"] for e in events]


def open_app(sm: Any, app: dict[str, str], user: str) -> tuple[str, requests.Session]:
    """Follow a presigned URL to the app as a browser would, as `user` (sm is theirs): the
    app's base URL and the session holding its login cookie."""
    ident = {"DomainId": app["DomainId"], "UserProfileName": user}
    if app.get("SpaceName"):
        ident["SpaceName"] = app["SpaceName"]
    url = sm.create_presigned_domain_url(**ident)["AuthorizedUrl"]
    browser = requests.Session()
    landed = browser.get(url, timeout=30)
    assert landed.status_code == 200, (landed.status_code, landed.text[:300])
    if app["AppType"] == "JupyterLab":
        return landed.url.split("/jupyterlab/default", 1)[0] + "/jupyterlab/default", browser
    return landed.url.rsplit("/api", 1)[0], browser


def cookie(browser: requests.Session) -> dict[str, str]:
    """The headers a websocket needs to carry the browser's cookies."""
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}
