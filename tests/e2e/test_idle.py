"""Studio's idle shutdown in the local Studio, with minutes shortened to seconds: apps of
JupyterLab and Code Editor spaces with no activity are deleted after their timeout, as
Studio does from their /api/idle; a JupyterLab app whose kernel is busy (a long cell with
no output) is kept."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from tests.e2e.conftest import Studio, local_studio, open_app, settle
from tests.e2e.test_codeeditor import CODE_TEAM, code_space
from tests.emulator.conftest import private_space, write_team

MINUTE = 1.0  # seconds: the team's 60-minute timeout lasts a minute
LIMIT = 120


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("idle")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SMSTUDIO_IDLE_MINUTE_SECONDS", str(MINUTE))
        patch.setenv("SMSTUDIO_IDLE_POLL_SECONDS", "2")
        with local_studio(root, write_team(root, CODE_TEAM), built_images, LIMIT) as running:
            yield running


def started(sm: Any, app: dict[str, str]) -> float:
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    found = settle(sm, app)
    assert found["Status"] == "InService", found.get("FailureReason")
    return time.monotonic()


def busy_kernel(base: str, browser: Any) -> None:
    """A kernel running a long cell that prints nothing; the websocket then closed."""
    browser.get(f"{base}/lab", timeout=10)
    headers = {"X-XSRFToken": browser.cookies.get("_xsrf", "")}
    kernel = browser.post(f"{base}/api/kernels", json={"name": "python3"}, headers=headers, timeout=30)
    assert kernel.status_code == 201, kernel.text
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    ws = websocket.create_connection(
        base.replace("http://", "ws://") + f"/api/kernels/{kernel.json()['id']}/channels",
        timeout=30, header={"Cookie": cookie})  # fmt: skip
    ws.send(json.dumps({
        "header": {"msg_id": uuid.uuid4().hex, "username": "t", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": "import time; time.sleep(600)", "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False}}))  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the kernel says it is busy with it
        message = json.loads(ws.recv())
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "busy":
            break
    ws.close()


def test_idle_apps_are_deleted_and_a_busy_one_is_kept(studio: Studio) -> None:
    sm = studio.user("alice").client("sagemaker")
    domain = studio["domain"]
    lab = private_space(sm, domain, "alice", "idle-lab")
    editor = code_space(sm, domain, "alice", "idle-code")
    busy = private_space(sm, domain, "alice", "busy-lab")
    started(sm, lab)
    started(sm, editor)
    began = started(sm, busy)
    base, browser = open_app(sm, busy, "alice")
    busy_kernel(base, browser)
    timeout = 60 * MINUTE
    deadline = time.monotonic() + timeout + 30

    def status(app: dict[str, str]) -> str:
        return str(sm.describe_app(**app)["Status"])

    while time.monotonic() < deadline and {status(lab), status(editor)} != {"Deleted"}:
        time.sleep(1)
    assert (status(lab), status(editor)) == ("Deleted", "Deleted")
    # the busy app outlives its idle timeout by far
    while time.monotonic() < began + timeout * 1.6:
        time.sleep(1)
    assert status(busy) == "InService"
    sm.delete_app(**busy)
    settle(sm, busy)
