"""`smstudio images test`: the kit passes on every image we build (each as the app types
it is labelled with), picks up a team's own tests, reports JUnit XML, and fails when an
image does not start as its app type."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from smstudio.core import project
from smstudio.images import kernels

IMAGE = "base"
KIT = [sys.executable, "-m", "smstudio.cli", "images", "test"]


def kit(image: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIT, image, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip


def test_the_kit_passes_on_our_images(image: str, image_name: str, tmp_path: Path) -> None:
    extra: list[str] = []
    if image_name == "kernelgateway":
        for spec in kernels.declared_kernelspecs(project.project_root()):
            extra += ["--kernel", spec.name]
    report = tmp_path / "junit.xml"
    done = kit(image, "--junit-xml", str(report), *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    ran = int(suite.get("tests", "0")) - int(suite.get("skipped", "0"))
    # the contract's five, and the app checks of what it is labelled as (base: none)
    assert ran >= (5 if image_name == "base" else 6), done.stdout


def test_a_teams_own_tests_run_next_to_the_kits(
    built_images: dict[str, str], tmp_path: Path
) -> None:
    image = built_images["jupyterlab"]
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_team.py").write_text(
        "def test_python_is_ours(host):\n"
        "    assert host.file('/opt/smstudio/venv/bin/python').exists\n\n"
        "def test_a_wish(host, expectation):\n"
        "    assert host.file('/opt/team/VERSION').exists, 'no team version file'\n"
    )
    report = tmp_path / "junit.xml"
    done = kit(image, "--junit-xml", str(report), cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "test_team.py::test_python_is_ours PASSED" in done.stdout
    assert "test_team.py::test_a_wish FAILED" in done.stdout
    assert "no team version file" in done.stdout
    failed = [c.get("name") for c in ET.parse(report).getroot().iter("testcase")
              if c.find("failure") is not None]  # fmt: skip
    assert failed == ["test_a_wish"]


def test_an_image_that_does_not_start_as_its_app_type_fails(
    built_images: dict[str, str], tmp_path: Path
) -> None:
    image = built_images["kernelgateway"]
    done = kit(image, "--app-type", "JupyterLab", cwd=tmp_path)
    assert done.returncode == 1
    assert "kit_jupyterlab.py::test_health_endpoint_answers ERROR" in done.stdout, done.stdout[
        -3000:
    ]
    assert "did not answer 200" in done.stdout


def test_bad_input_is_said_plainly(tmp_path: Path) -> None:
    done = kit("smstudio/no-such-image:nope", "--tests", str(tmp_path / "missing"), cwd=tmp_path)
    assert done.returncode == 2
    assert "tests folder" in done.stderr and "Traceback" not in done.stderr
