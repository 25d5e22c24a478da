"""Build failures give a clear error naming the cause and the fix, not a stack trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smstudio.core import project


def smstudio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smstudio.cli", *args],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_broken_dockerfile(tmp_path: Path, local_base: str) -> None:
    project.copy_build_inputs(project.project_root(), tmp_path)
    dockerfile = tmp_path / "images/base/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("SHELL [", "SHELLL [", 1))
    result = smstudio("images", "build", "base", "--base-image", local_base, "--tag", "broken",
                      env={"SMSTUDIO_PROJECT": str(tmp_path)})  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "a Dockerfile does not parse" in result.stderr and "SHELLL" in result.stderr
    assert "fix:" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_base_image() -> None:
    # A registry on a closed loopback port: refused at once, no traffic leaves the host.
    result = smstudio("images", "build", "base", "--base-image", "127.0.0.1:9/nope:1",
                      "--tag", "broken")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "the base image 127.0.0.1:9/nope:1 cannot be pulled" in result.stderr
    assert "smstudio images local-base" in result.stderr and "Traceback" not in result.stderr


def test_unknown_target() -> None:
    result = smstudio("images", "build", "rstudio")
    assert result.returncode == 2 and "unknown build target(s): rstudio" in result.stderr
