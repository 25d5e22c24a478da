"""JupyterLab spaces (new Studio); also run on images built on jupyterlab."""

from __future__ import annotations

import requests

from smstudio.images.check import probe
from smstudio.images.check.rules import HEALTH_PATH, Expectation
from smstudio.workspaces import jupyter
from tests.helpers import TrackedContainers, http_ok, port_of, sh, wait_for

IMAGE = "jupyterlab"
PREFIX = "/jupyterlab/default"


def test_serves_jupyterlab_4_as_studio_expects(image: str, containers: TrackedContainers) -> None:
    app = containers.run(image, **probe.studio_run_options(Expectation(), "JupyterLab"))
    base = f"http://127.0.0.1:{port_of(app)}"
    status = wait_for(http_ok(base + HEALTH_PATH), 90, "the JupyterLab health endpoint").json()
    assert {"started", "last_activity", "kernels"} <= set(status)

    # No token or password: Studio's proxy authenticates. Any origin is allowed.
    session = requests.Session()
    lab = session.get(f"{base}{PREFIX}/lab", timeout=10)
    assert lab.status_code == 200 and "JupyterLab" in lab.text and "/login" not in lab.url
    origin = "https://d-abc.studio.us-east-1.sagemaker.aws"
    cors = requests.get(base + HEALTH_PATH, headers={"Origin": origin}, timeout=5)
    assert cors.headers.get("Access-Control-Allow-Origin") in ("*", origin)
    code, version = sh(app, "jupyter lab --version")
    assert code == 0 and version.strip().startswith("4."), version

    # Code runs in a kernel, through the server's own REST and websocket APIs.
    server = f"{base}{PREFIX}"
    assert jupyter.run_in_server(server, "1+1") == "2"
    assert jupyter.run_in_server(server, "import os; os.getcwd()") == "'/home/sagemaker-user'"

    log = app.logs().decode(errors="replace")
    assert "Traceback" not in log and "[E " not in log, log


def test_runs_as_the_declared_user_with_the_sagemaker_env(
    image: str, containers: TrackedContainers
) -> None:
    app = containers.run(image, **probe.studio_run_options(Expectation(), "JupyterLab", "space-1"))
    code, output = sh(app, "id -u; id -g; echo $SAGEMAKER_SPACE_NAME; touch ~/written && echo ok")
    assert code == 0 and output.split() == ["1000", "100", "space-1", "ok"]
