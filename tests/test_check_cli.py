"""`smstudio images check` against deliberately broken images: each violation is reported
with its fix, and the exit code is non-zero."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from smstudio.core import dockerhost

BROKEN = {
    # A file owned by UID 70000, deleted again in a later layer: still in a layer.
    "high-uid": """
USER root
RUN echo data > /opt/big && chown 70000:70000 /opt/big
RUN rm /opt/big
USER 1000:100
""",
    # Default user root while 1000:100 will be declared.
    "root-user": "USER root\n",
    # A dotfile under the home mount path, hidden once Studio mounts the home.
    "home-file": "RUN echo 'alias ll=ls' > /home/sagemaker-user/.bashrc\n",
    # Says it is a JupyterLab image but never starts a server.
    "no-server": 'LABEL io.smstudio.app-types="JupyterLab"\nENTRYPOINT ["false"]\n',
}


def smstudio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smstudio.cli", *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def broken(built_images: dict[str, str]) -> Iterator[dict[str, str]]:
    refs: dict[str, str] = {}
    engine = dockerhost.client()
    try:
        for name, body in BROKEN.items():
            ref = f"smstudio-test/broken-{name}:test"
            dockerfile = f"FROM {built_images['base']}\n{body}"
            done = subprocess.run(
                ["docker", "buildx", "build", "--load", "-q", "-t", ref, "-"],
                input=dockerfile, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            refs[name] = ref
        yield refs
    finally:
        for ref in refs.values():
            engine.images.remove(ref, force=True)


def assert_reports(result: subprocess.CompletedProcess[str], code: str, *phrases: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"✗ {code}:" in result.stdout, result.stdout
    for phrase in phrases:
        assert phrase in result.stdout, result.stdout
    assert "Traceback" not in result.stderr


def test_file_owned_by_uid_70000(broken: dict[str, str]) -> None:
    result = smstudio("images", "check", broken["high-uid"])
    assert_reports(result, "high-ids", "/opt/big (70000:70000, layer", "fix: chown")


def test_root_default_user_while_1000_100_declared(broken: dict[str, str]) -> None:
    result = smstudio("images", "check", broken["root-user"])
    assert_reports(result, "default-user", "root", "declares 1000:100", "USER 1000:100")


def test_declared_kernel_missing(built_images: dict[str, str]) -> None:
    result = smstudio("images", "check", built_images["kernelgateway"], "--kernel", "python3",
                      "--kernel", "Python-R")  # fmt: skip
    assert_reports(result, "kernelspecs", "Python-R not found", "found: python3",
                   "/usr/local/share/jupyter/kernels")  # fmt: skip
    # The same image without an AppImageConfig's kernels at all.
    result = smstudio("images", "check", built_images["base"], "--app-type", "KernelGateway")
    assert_reports(result, "kernelspecs", "0 kernelspecs declared")


def test_file_under_the_home_mount_path(broken: dict[str, str]) -> None:
    result = smstudio("images", "check", broken["home-file"])
    assert_reports(result, "mount-path", "/home/sagemaker-user/.bashrc", "lifecycle script")


def test_jupyterlab_that_never_answers(broken: dict[str, str]) -> None:
    result = smstudio("images", "check", broken["no-server"])
    assert_reports(result, "jupyterlab-health", "exited", "/jupyterlab/default")


def test_every_violation_at_once(broken: dict[str, str]) -> None:
    result = smstudio("images", "check", broken["high-uid"], "--uid", "0", "--gid", "0",
                      "--app-type", "KernelGateway", "--kernel", "missing")  # fmt: skip
    assert result.returncode == 1
    for code in ("default-user", "high-ids", "kernelspecs"):
        assert f"✗ {code}:" in result.stdout


def test_clean_image_passes(built_images: dict[str, str]) -> None:
    result = smstudio("images", "check", built_images["kernelgateway"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "meets the Studio contract" in result.stdout


def test_missing_image_is_a_clear_error() -> None:
    result = smstudio("images", "check", "smstudio-test/does-not-exist:0")
    assert result.returncode == 2
    assert "is not in the local Docker engine" in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr
