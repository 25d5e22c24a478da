"""Static checks of everything the project ships: shell scripts, Dockerfiles, the bake
graph, Python style and types."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smstudio.core import project

ROOT = project.project_root()
BIN = Path(sys.executable).parent
SKIP_DIRS = {".venv", ".git", "node_modules", ".mypy_cache", ".ruff_cache"}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [ROOT / line for line in out.splitlines() if (ROOT / line).is_file()]


def shell_scripts() -> list[Path]:
    found = []
    for path in tracked_files():
        with path.open("rb") as handle:
            first = handle.readline()
        if path.suffix == ".sh" or (first.startswith(b"#!") and b"sh" in first.split(b"/")[-1]):
            found.append(path)
    return found


def test_there_are_scripts_and_dockerfiles_to_lint() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in shell_scripts()}
    assert {"lcc/jupyterlab.sh", "scripts/setup-host.sh", ".ci/run"} <= names


def test_shellcheck_every_shell_script() -> None:
    done = subprocess.run([str(BIN / "shellcheck"), "-x", *map(str, shell_scripts())],
                          capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout


def test_scripts_have_unix_line_endings() -> None:
    for path in shell_scripts():
        assert b"\r" not in path.read_bytes(), path


def test_hadolint_every_dockerfile() -> None:
    dockerfiles = [p for p in tracked_files() if p.name == "Dockerfile"]
    assert len(dockerfiles) >= 6
    done = subprocess.run([str(BIN / "hadolint"), *map(str, dockerfiles)],
                          capture_output=True, text=True, cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_and_mypy() -> None:
    for cmd in ([str(BIN / "ruff"), "check", "src", "tests"],
                [str(BIN / "ruff"), "format", "--check", "src"],
                [str(BIN / "mypy")]):  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI with buildx")
def test_bake_definition() -> None:
    done = subprocess.run(["docker", "buildx", "bake", "--print", "all"],
                          capture_output=True, text=True, cwd=ROOT, check=True)  # fmt: skip
    bake = json.loads(done.stdout)
    targets = bake["target"]
    assert set(bake["group"]["all"]["targets"]) == {
        "base",
        "kernelgateway",
        "jupyterlab",
        "datascience",
        "codeeditor",
    }
    default = subprocess.run(["docker", "buildx", "bake", "--print"],
                             capture_output=True, text=True, cwd=ROOT, check=True)  # fmt: skip
    assert json.loads(default.stdout)["group"]["default"]["targets"] == [
        "base",
        "kernelgateway",
        "jupyterlab",
    ]
    for name in ("base", "kernelgateway", "jupyterlab", "datascience", "codeeditor"):
        final, core = targets[name], targets[f"{name}-core"]
        assert final["platforms"] == core["platforms"] == ["linux/amd64"]
        assert final["tags"] == [f"smstudio/{name}:dev"]
        for label in ("source", "version"):
            assert f"org.opencontainers.image.{label}" in final["labels"]
        # One shared last stage adds the helpers on top of the image's own core.
        assert final["context"] == "images/final"
        assert final["contexts"] == {"core": f"target:{name}-core", "lcc": "lcc", "ssh": "ssh"}
        assert core["context"] == f"images/{name}"
    assert targets["base-core"]["contexts"] == {"extra-ca": "images/extra-ca"}
    assert targets["kernelgateway-core"]["contexts"]["base"] == "target:base-core"
    assert targets["jupyterlab-core"]["contexts"]["base"] == "target:base-core"
    assert targets["datascience-core"]["contexts"]["base"] == "target:jupyterlab-core"
    assert targets["codeeditor-core"]["contexts"]["base"] == "target:base-core"
