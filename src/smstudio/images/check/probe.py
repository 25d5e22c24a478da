"""Start an image as a Studio app would and ask its health endpoint (and, for new Studio
apps, its idle endpoint)."""

from __future__ import annotations

from typing import Any

import requests

from smstudio.core import containers
from smstudio.core.facts import HEALTH_PATH, IDLE_PATH
from smstudio.images.check.rules import Expectation, HealthResult


def studio_run_options(
    want: Expectation, app_type: str, space: str = "smstudio-check"
) -> dict[str, Any]:
    """docker run options that reproduce what Studio gives an app container: the declared
    user, an empty home mounted at the mount path, and SageMaker's env vars."""
    return {
        "user": f"{want.uid}:{want.gid}",
        "environment": {
            "SAGEMAKER_APP_TYPE": app_type,
            "SAGEMAKER_APP_TYPE_LOWERCASE": app_type.lower(),
            "SAGEMAKER_SPACE_NAME": space,
            "HOME": want.mount_path,
        },
        "tmpfs": {want.mount_path: f"uid={want.uid},gid={want.gid},mode=0755"},
        "ports": {"8888/tcp": ("127.0.0.1", None)},
        "platform": "linux/amd64",
    }


def answers(url: str) -> bool | None:
    """True when `url` answers 200 (None while it does not, for polling)."""
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return None
    return True if response.status_code == 200 else None


def app_health(
    image: str, want: Expectation, app_type: str = "JupyterLab", timeout: float = 90
) -> HealthResult:
    options = studio_run_options(want, app_type)
    with containers.running(image, **options) as container:
        port = containers.published_port(container, "8888/tcp")
        if port is None:
            return HealthResult(False, containers.exit_summary(container), app_type)
        url = f"http://127.0.0.1:{port}{HEALTH_PATH[app_type]}"
        answered = containers.poll(
            lambda: answers(url), timeout, alive=lambda: containers.is_running(container)
        )
        if answered:
            idle = None
            if app_type in IDLE_PATH:
                try:
                    found = requests.get(f"http://127.0.0.1:{port}{IDLE_PATH[app_type]}", timeout=5)
                    idle = found.text if found.status_code == 200 else None
                except requests.RequestException:
                    idle = None
            return HealthResult(True, f"{url} answered 200", app_type, idle)
        if containers.is_running(container):
            return HealthResult(
                False,
                f"no answer within {timeout:.0f}s; " + containers.exit_summary(container),
                app_type,
            )
        return HealthResult(False, containers.exit_summary(container), app_type)
