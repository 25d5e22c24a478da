"""Build the images with `docker buildx bake`, and list what is built."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from smstudio.core import dockerhost, project
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.images import buildlog

TARGETS = ("base", "kernelgateway", "jupyterlab", "datascience", "codeeditor")
GROUPS = ("default", "all")
LABEL = "io.smstudio.image"


@dataclass(frozen=True)
class BuildRequest:
    targets: tuple[str, ...] = ("default",)
    base_image: str | None = None
    registry: str | None = None
    tag: str | None = None
    extra_ca_dir: str | None = None
    revision: str | None = None


def validate_targets(targets: tuple[str, ...]) -> None:
    unknown = [t for t in targets if t not in TARGETS + GROUPS]
    if unknown:
        raise BadInput(
            f"unknown build target(s): {', '.join(unknown)}",
            f"choose from {', '.join(TARGETS + GROUPS)}",
        )


def bake_env(request: BuildRequest, created: str) -> dict[str, str]:
    """Bake variables are read from the environment; unset ones keep their defaults."""
    values = {
        "BASE_IMAGE": request.base_image,
        "REGISTRY": request.registry,
        "TAG": request.tag,
        "EXTRA_CA_DIR": request.extra_ca_dir,
        "REVISION": request.revision,
        "CREATED": created,
    }
    return {k: v for k, v in values.items() if v}


def bake_command(request: BuildRequest) -> list[str]:
    return ["docker", "buildx", "bake", "--progress=plain", *request.targets]


def git_revision(root: Path) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def commit_time(root: Path) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return datetime.fromtimestamp(int(done.stdout), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(request: BuildRequest, console: Console) -> Path:
    """Run bake, showing the current step; returns the log path. Raises SmstudioError with
    the cause and fix on failure."""
    validate_targets(request.targets)
    root = project.project_root()
    if request.extra_ca_dir and not Path(request.extra_ca_dir).is_dir():
        raise SmstudioError(
            f"extra CA folder {request.extra_ca_dir} does not exist",
            "pass a folder holding *.crt files",
        )
    if request.revision is None:
        request = BuildRequest(**{**request.__dict__, "revision": git_revision(root)})
    # The commit's time, not the build's: an unchanged tree rebuilds to the same image id,
    # so a push gives the same digest and `apply` adds no image version.
    created = commit_time(root) or ""
    env = {**os.environ, **bake_env(request, created)}
    logs = project.state_dir() / "logs"
    logs.mkdir(exist_ok=True)
    log_path = logs / f"build-{datetime.now():%Y%m%d-%H%M%S}.log"
    started = time.monotonic()
    run_logged(bake_command(request), root, env, log_path, request.base_image, console)
    # A rebuilt image leaves its previous build untagged: drop those (only untagged
    # smstudio images; their layers are shared with the new ones).
    dockerhost.client().images.prune(filters={"dangling": True, "label": LABEL})
    console.print(
        f"built {' '.join(request.targets)} in {time.monotonic() - started:.1f}s (log {log_path})"
    )
    return log_path


def run_logged(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    base_image: str | None,
    console: Console,
) -> None:
    """Run a bake, its whole output to `log_path`, the current step on the console; a
    failure raised with its cause and fix (buildlog)."""
    dockerhost.client()  # a clear error when the engine is down
    started = time.monotonic()
    with (
        log_path.open("w") as log,
        console.status("building", spinner="dots") as status,
        subprocess.Popen(
            command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        ) as proc,  # fmt: skip
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if line.startswith("#") and "[" in line and ("RUN" in line or "COPY" in line):
                step = line.split(" ", 1)[1].strip()[:100]
                status.update(escape(f"{time.monotonic() - started:4.0f}s {step}"))
        code = proc.wait()
    if code != 0:
        raise buildlog.explain(log_path.read_text(), str(log_path), base_image)


@dataclass(frozen=True)
class BuiltImage:
    ref: str
    image: str
    app_types: str
    size_mb: float
    created: str


def list_built() -> list[BuiltImage]:
    rows = []
    for image in dockerhost.client().images.list(filters={"label": LABEL}):
        labels = image.labels or {}
        for ref in image.tags or ["<untagged>"]:
            rows.append(
                BuiltImage(
                    ref=ref,
                    image=labels.get(LABEL, "?"),
                    app_types=labels.get("io.smstudio.app-types", "-"),
                    size_mb=image.attrs["Size"] / 1e6,
                    # When it was built; the image's own date is its newest (maybe cached) layer's.
                    created=labels.get("org.opencontainers.image.created", image.attrs["Created"])[
                        :19
                    ],
                )
            )
    return sorted(rows, key=lambda r: r.ref)
