"""`smstudio images check`: lint any built image against the Studio contract."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from smstudio.core import dockerhost, project
from smstudio.core.errors import SmstudioError
from smstudio.core.facts import APP_TYPES
from smstudio.images import kernels
from smstudio.images.check import facts, probe
from smstudio.images.check.rules import Expectation, HealthResult, Violation, evaluate


@dataclass(frozen=True)
class CheckOptions:
    uid: int = 1000
    gid: int = 100
    mount_path: str = "/home/sagemaker-user"
    app_types: tuple[str, ...] = ()
    kernels: tuple[str, ...] = ()
    health: bool = True
    docker: bool = False


def expectation_for(
    labels: dict[str, str], options: CheckOptions, declared: tuple[str, ...]
) -> Expectation:
    """What to hold the image to: explicit options first, then the image's smstudio
    labels, then the project's kernel declaration for its own kernelgateway image."""
    app_types = options.app_types or tuple(
        t.strip() for t in labels.get("io.smstudio.app-types", "").split(",") if t.strip()
    )
    bad = [t for t in app_types if t not in APP_TYPES]
    if bad:
        raise SmstudioError(f"unknown app type(s) {', '.join(bad)}", f"use {', '.join(APP_TYPES)}")
    kernel_names = options.kernels
    if not kernel_names and labels.get("io.smstudio.image") == "kernelgateway":
        kernel_names = declared
    return Expectation(
        uid=options.uid,
        gid=options.gid,
        mount_path=options.mount_path,
        app_types=frozenset(app_types),
        kernels=kernel_names,
        docker=options.docker,
    )


def declared_kernels() -> tuple[str, ...]:
    try:
        return tuple(k.name for k in kernels.declared_kernelspecs(project.project_root()))
    except SmstudioError:
        return ()


def run(image_ref: str, options: CheckOptions, console: Console) -> list[Violation]:
    image = dockerhost.get_image(image_ref)
    want = expectation_for(image.labels or {}, options, declared_kernels())
    with console.status(f"reading every layer of {image_ref}", spinner="dots"):
        found = facts.gather(image)
    health: list[HealthResult] = []
    for app_type in ("JupyterLab", "CodeEditor"):
        if app_type in want.app_types and options.health:
            with console.status(
                f"starting {image_ref} as a Studio {app_type} space", spinner="dots"
            ):
                health.append(probe.app_health(image_ref, want, app_type))
    return evaluate(found, want, *health)


def describe(want: Expectation) -> str:
    kinds = ", ".join(sorted(want.app_types)) or "no app type (use --app-type)"
    kernel_part = f", kernels {', '.join(want.kernels)}" if want.kernels else ""
    return f"user {want.uid}:{want.gid}, home {want.mount_path}, {kinds}{kernel_part}"
