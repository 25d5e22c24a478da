"""The local Studio under faults, with nothing lost or left stuck: its AWS endpoint killed
(-9) during CreateApp and during apply, dockerd restarted under a running app, each state
file truncated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smstudio.core import dockerhost, project
from smstudio.local import runtime, stack
from tests.e2e.conftest import Studio, local_studio, settle
from tests.emulator.conftest import private_space, write_team
from tests.helpers import wait_for

LIMIT = 60
PAUSE = "SMSTUDIO_TEST_PAUSE_AFTER_CALLS"


def endpoint_pid(studio: Studio) -> int:
    return stack._read_pids(studio["layout"])["aws"].pid


def kill_endpoint(studio: Studio) -> None:
    pid = endpoint_pid(studio)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not stack.health(studio["ports"])["aws"] or None, 30, "the endpoint to die")


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("faults")
    with local_studio(root, write_team(root), built_images, LIMIT) as running:
        yield running


def test_killed_during_create_app(studio: Studio) -> None:
    """An app that was starting when the endpoint died is failed at restart, its container
    and network gone; started again, it serves."""
    sm = studio.user("alice").client("sagemaker")
    app = private_space(sm, studio["domain"], "alice", "alice-crash")
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert sm.describe_app(**app)["Status"] == "Pending"
    kill_endpoint(studio)
    stack.up(studio["layout"], studio["ports"])
    found = settle(sm, app)
    assert found["Status"] == "Failed" and "stopped while the app was starting" in found["FailureReason"]
    engine = dockerhost.client()
    assert not engine.containers.list(all=True, filters={"label": f"{runtime.LABEL}={found['AppArn']}"})
    assert not engine.networks.list(filters={"label": f"{runtime.LABEL}={found['AppArn']}"})
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService"
    sm.delete_app(**app)
    assert settle(sm, app)["Status"] == "Deleted"


def host_dockerds() -> list[str]:
    """The dockerd processes of this machine, not those of containers (apps' Docker
    engines run their own dockerd, under a containerd shim)."""
    found = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()

    def contained(pid: str) -> bool:
        while pid not in ("0", "1"):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            if stat.split("(", 1)[1].split(")", 1)[0].startswith("containerd-shim"):
                return True
            pid = stat.rsplit(")", 1)[1].split()[1]
        return False

    return [pid for pid in found if not contained(pid)]


def test_an_app_whose_engine_restarts_is_failed_not_stuck(studio: Studio) -> None:
    """dockerd restarted under a running app: the app's container is gone, the app is
    reported Failed (not InService forever), and it starts again."""
    daemons = host_dockerds()
    if len(daemons) != 1:
        pytest.skip(f"needs the one local dockerd this suite started (found {len(daemons)})")
    sm = studio.user("bob").client("sagemaker")
    app = private_space(sm, studio["domain"], "bob", "bob-engine")
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService"
    os.kill(int(daemons[0]), signal.SIGTERM)
    wait_for(lambda: not host_dockerds() or None, 60, "dockerd to stop")
    setup = project.project_root() / "scripts/setup-host.sh"
    subprocess.run([str(setup), "--no-venv"], check=True, capture_output=True, timeout=180)
    dockerhost.client.cache_clear()
    def failed() -> dict[str, Any] | None:
        found = sm.describe_app(**app)
        return dict(found) if found["Status"] == "Failed" else None

    found = wait_for(failed, 60, "the app to be failed")
    assert found["FailureReason"] == "The app's container stopped"
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService"
    sm.delete_app(**app)


def test_truncated_state_files_lose_nothing(studio: Studio) -> None:
    """Each state file cut to nothing or to half, the Studio stopped and started again:
    every SageMaker and AWS resource is still there, the admin key is the same, and
    `local down` still stops exactly what `up` started."""
    layout, ports, admin = studio["layout"], studio["ports"], studio["sm"]
    iam = studio["clients"].client("iam")
    iam.create_role(RoleName="kept-through-faults", AssumeRolePolicyDocument="{}")
    keys = stack.admin_keys(layout)
    domains = admin.list_domains()["Domains"]
    files = ["studio.json", "admin-credentials.json", "journal.key", "pids.json"]
    for name in files:
        for cut in ("empty", "half"):
            path = layout.root / name
            data = path.read_bytes()
            path.write_bytes(b"" if cut == "empty" else data[: len(data) // 2])
            assert sorted(stack.down(layout)) == ["aws", "registry"], (name, cut)
            stack.up(layout, ports)
            assert admin.list_domains()["Domains"] == domains, (name, cut)
            assert iam.get_role(RoleName="kept-through-faults")["Role"]["RoleName"], (name, cut)
            assert stack.admin_keys(layout) == keys, (name, cut)
    # the journal's last entry cut short (a crash mid-append): only that entry is lost
    journal = layout.root / "aws-journal.jsonl"
    iam.create_role(RoleName="cut-short", AssumeRolePolicyDocument="{}")
    journal.write_bytes(journal.read_bytes()[:-20])
    stack.down(layout)
    stack.up(layout, ports)
    assert iam.get_role(RoleName="kept-through-faults")["Role"]["RoleName"]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="cut-short")


def test_killed_during_apply_finishes_when_run_again(
    tmp_path: Path, built_images: dict[str, str]
) -> None:
    """apply, its endpoint killed part-way; the endpoint started again and apply run
    again: it finishes, with one domain and one version per image, and a third run
    changes nothing."""
    ports = stack.Ports.at(stack.free_port_base())
    layout = stack.Layout(tmp_path / "local")
    team = write_team(tmp_path)
    tag = built_images["base"].rsplit(":", 1)[1]
    try:
        stack.up(layout, ports)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(stack.env_exports(ports, stack.admin_keys(layout)))
        command = [sys.executable, "-m", "smstudio.cli", "apply", "--team", str(team), "--tag",
                   tag, "--yes"]  # fmt: skip
        # apply pauses after its 6th change (three roles, an image, its first version, so
        # the image version is in: the fault this is about), the endpoint dies, apply resumes
        paused = tmp_path / "paused"
        running = subprocess.Popen(command, env={**env, PAUSE: f"6:{paused}"},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)  # fmt: skip
        wait_for(lambda: paused.exists() or None, 300, "apply to pause after 6 calls")
        state = layout.root / "studio.json"
        assert "image-versions" in state.read_text()
        os.kill(stack._read_pids(layout)["aws"].pid, signal.SIGKILL)
        paused.unlink()
        _, stderr = running.communicate(timeout=120)
        assert running.returncode == 1 and "Traceback" not in stderr, stderr
        assert "not running" in stderr and "smstudio local up" in stderr, stderr
        stack.up(layout, ports)
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr
        third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert third.returncode == 0 and "nothing to change" in third.stdout, third.stderr
        from smstudio.core import aws

        sm: Any = aws.Aws(region=stack.REGION, endpoints={"sagemaker": env["AWS_ENDPOINT_URL"]},
                          keys=stack.admin_keys(layout)).client("sagemaker")  # fmt: skip
        domains = sm.list_domains()["Domains"]
        assert len(domains) == 1
        for image in ("smstudio-jupyterlab", "smstudio-kernelgateway"):
            versions = sm.list_image_versions(ImageName=image)["ImageVersions"]
            assert len(versions) == 1, versions
    finally:
        stack.down(layout)
        time.sleep(0.1)
