"""Start an image as a Studio JupyterLab space would and ask its health endpoint."""

from __future__ import annotations

from typing import Any

import requests

from smstudio.core import containers
from smstudio.images.check.rules import HEALTH_PATH, Expectation, HealthResult


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


def jupyterlab_health(image: str, want: Expectation, timeout: float = 90) -> HealthResult:
    options = studio_run_options(want, "JupyterLab")
    with containers.running(image, **options) as container:
        port = containers.published_port(container, "8888/tcp")
        if port is None:
            return HealthResult(False, containers.exit_summary(container))
        url = f"http://127.0.0.1:{port}{HEALTH_PATH}"

        def ask() -> bool | None:
            try:
                response = requests.get(url, timeout=2)
            except requests.RequestException:
                return None
            return True if response.status_code == 200 else None

        answered = containers.poll(ask, timeout, alive=lambda: containers.is_running(container))
        if answered:
            return HealthResult(True, f"{url} answered 200")
        if containers.is_running(container):
            return HealthResult(
                False, f"no answer within {timeout:.0f}s; " + containers.exit_summary(container)
            )
        return HealthResult(False, containers.exit_summary(container))
