"""Code Editor spaces (new Studio): VS Code in the browser (code-server offline) on port
8888 under /codeeditor/default, no token, as 1000:100 with an empty home, Studio's idle
check answered."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import requests

from smstudio.core import dockerhost
from smstudio.images.check import probe
from smstudio.images.check.rules import Expectation
from tests.helpers import TrackedContainers, http_ok, port_of, sh, wait_for

IMAGE = "codeeditor"
PREFIX = "/codeeditor/default"


def test_serves_the_workbench_under_studios_base_path(image: str, containers: TrackedContainers) -> None:
    app = containers.run(image, **probe.studio_run_options(Expectation(), "CodeEditor"))
    base = f"http://127.0.0.1:{port_of(app)}"
    health = wait_for(http_ok(f"{base}{PREFIX}/healthz"), 90, "the Code Editor health endpoint").json()
    assert health["status"] in ("alive", "expired"), health
    page = requests.get(f"{base}{PREFIX}/", timeout=10)
    assert page.status_code == 200 and "workbench" in page.text and "/login" not in page.url
    moved = requests.get(f"{base}{PREFIX}", timeout=10, allow_redirects=False)
    assert moved.status_code == 302 and moved.headers["Location"] == f"{PREFIX}/"
    assert requests.get(f"{base}/elsewhere", timeout=10).status_code == 404
    idle = requests.get(f"{base}{PREFIX}/api/idle", timeout=10).json()
    assert datetime.fromisoformat(idle["lastActiveTimestamp"].replace("Z", "+00:00"))
    code, output = sh(app, "id -u; id -g; ls -A ~/.local/share/code-server | sort | head -3")
    assert code == 0 and output.split()[:2] == ["1000", "100"]  # server data on the home
    assert "Machine" in output


def test_the_workbench_gets_what_studio_users_expect(image: str, containers: TrackedContainers) -> None:
    app = containers.run(image, **probe.studio_run_options(Expectation(), "CodeEditor"))
    base = f"http://127.0.0.1:{port_of(app)}"
    wait_for(http_ok(f"{base}{PREFIX}/healthz"), 90, "the Code Editor health endpoint")
    code, settings = sh(app, "cat ~/.local/share/code-server/Machine/settings.json")
    assert code == 0 and '"python.defaultInterpreterPath": "/opt/smstudio/venv/bin/python"' in settings
    code, extensions = sh(app, "ls /opt/codeeditor/code-server/lib/vscode/extensions")
    assert code == 0 and "smstudio-activity" in extensions.split()


def test_sagemaker_code_editor_needs_its_source_and_version(tmp_path: Path) -> None:
    """CODE_EDITOR=sagemaker-code-editor (AWS's own server, from conda-forge) is for image
    CI with internet: without micromamba's URL and checksum and a pinned version the build
    stops at once and says what to set (offline, this is as far as it can be tested)."""
    env = {**os.environ, "CODE_EDITOR": "sagemaker-code-editor",
           "SMSTUDIO_STATE_DIR": str(tmp_path)}  # fmt: skip
    try:
        done = subprocess.run([sys.executable, "-m", "smstudio.cli", "images", "build",
                               "--local-base", "--tag", "sce-refused", "codeeditor"], env=env,
                              capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    finally:  # the parents it built on the way
        engine = dockerhost.client()
        for found in engine.images.list(filters={"reference": "smstudio/*:sce-refused"}):
            for tag in found.tags:
                engine.images.remove(tag)
    assert done.returncode != 0, done.stdout
    log = next(tmp_path.rglob("build-*.log")).read_text()
    assert "needs MICROMAMBA_URL, MICROMAMBA_SHA256 and SAGEMAKER_CODE_EDITOR_VERSION" in log
