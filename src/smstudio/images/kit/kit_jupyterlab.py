"""JupyterLab (new Studio): the image starts JupyterLab as Studio does, its health
endpoint answers, and a kernel runs code."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from smstudio.core.facts import IDLE_PATH
from smstudio.images.check.rules import Expectation
from smstudio.workspaces import jupyter

APP = "JupyterLab"


@pytest.fixture(scope="module")
def jupyterlab(expectation: Expectation, studio_app: Callable[..., str]) -> str:
    if APP not in expectation.app_types:
        pytest.skip(f"not a {APP} image")
    return studio_app(APP)


def test_health_endpoint_answers(jupyterlab: str) -> None:
    status = requests.get(f"{jupyterlab}/jupyterlab/default/api/status", timeout=10)
    assert status.status_code == 200, status.text


def test_idle_endpoint_answers(jupyterlab: str) -> None:
    idle = requests.get(jupyterlab + IDLE_PATH[APP], timeout=10)
    assert idle.status_code == 200, (
        "Studio's idle shutdown polls this; install jupyter-activity-monitor-extension"
    )
    assert "lastActiveTimestamp" in idle.json()


def test_a_kernel_runs_code(jupyterlab: str) -> None:
    assert jupyter.run_in_server(f"{jupyterlab}/jupyterlab/default", "1+1", timeout=90) == "2"
