"""Where the project's files are: the bake file, image folders, declarations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from smstudio.core.errors import SmstudioError

BAKE_FILE = "docker-bake.hcl"
# Everything `docker buildx bake` reads.
BUILD_INPUTS = (BAKE_FILE, "images", "lcc", "ssh")


def project_root() -> Path:
    """The folder holding docker-bake.hcl: $SMSTUDIO_PROJECT, the source checkout this
    package runs from, or the current directory or one of its parents."""
    explicit = os.environ.get("SMSTUDIO_PROJECT")
    if explicit:
        root = Path(explicit).resolve()
        if not (root / BAKE_FILE).is_file():
            raise SmstudioError(
                f"SMSTUDIO_PROJECT={explicit} has no {BAKE_FILE}",
                "point SMSTUDIO_PROJECT at a checkout of the smstudio repository",
            )
        return root
    candidates = [Path(__file__).resolve().parents[2], *[Path.cwd(), *Path.cwd().parents]]
    for candidate in candidates:
        if (candidate / BAKE_FILE).is_file():
            return candidate
    raise SmstudioError(
        f"cannot find {BAKE_FILE} (the image build graph)",
        "run smstudio from a checkout of the repository or set SMSTUDIO_PROJECT",
    )


def state_dir() -> Path:
    """Per-machine state and logs (never inside an image)."""
    path = Path(os.environ.get("SMSTUDIO_STATE_DIR", Path.home() / ".smstudio"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def copy_build_inputs(root: Path, target: Path) -> None:
    """Copy what bake reads into `target`, to build a modified copy without touching the
    checkout (benchmarks, tests of build failures)."""
    for item in BUILD_INPUTS:
        source = root / item
        if source.is_dir():
            shutil.copytree(source, target / item)
        else:
            shutil.copy2(source, target / item)
