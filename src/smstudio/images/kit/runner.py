"""`smstudio images test`: run the kit (and a team's own tests) against one image with
pytest, in a process of its own, JUnit XML out for CI."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from smstudio.core.errors import BadInput
from smstudio.images import kit
from smstudio.images.check import lint


@dataclass(frozen=True)
class KitRequest:
    image: str
    # what the AppImageConfig declares, as `images check` takes it (its `health` is unused:
    # the kit starts the app itself)
    options: lint.CheckOptions = field(default_factory=lint.CheckOptions)
    tests: Path | None = None  # the team's own tests (default: ./tests when it exists)
    junit_xml: Path | None = None
    runtime_base: str | None = None
    extra: tuple[str, ...] = ()  # more pytest arguments, e.g. -k, -x


def own_tests(request: KitRequest, cwd: Path) -> Path | None:
    """The team's tests folder: the one given (it must exist), or ./tests if there is one."""
    if request.tests is not None:
        if not request.tests.is_dir():
            raise BadInput(
                f"tests folder {request.tests} does not exist",
                "pass --tests DIR with your test_*.py files, or leave it out",
            )
        return request.tests.resolve()
    found = cwd / "tests"
    return found.resolve() if found.is_dir() else None


def command(request: KitRequest, cwd: Path) -> list[str]:
    """The pytest command line (pure apart from finding the tests folder)."""
    options = request.options
    args = [sys.executable, "-m", "pytest", "-p", "smstudio.images.kit.plugin",
            "-p", "no:cacheprovider", "-p", "no:pytest11.testinfra", "--import-mode=importlib",
            "-o", "addopts=", "-c", str(kit.KIT / "pytest.ini"),
            "-o", "python_files=test_*.py kit_*.py", "--rootdir", "/", "-v",
            "--smstudio-image", request.image,
            "--smstudio-uid", str(options.uid), "--smstudio-gid", str(options.gid),
            "--smstudio-mount-path", options.mount_path]  # fmt: skip
    for app_type in options.app_types:
        args += ["--smstudio-app-type", app_type]
    for kernel in options.kernels:
        args += ["--smstudio-kernel", kernel]
    if options.docker:
        args.append("--smstudio-docker")
    if request.runtime_base:
        args += ["--smstudio-runtime-base", request.runtime_base]
    if request.junit_xml:
        args += ["--junitxml", str(request.junit_xml.resolve())]
    args += [*request.extra, *map(str, kit.modules())]
    tests = own_tests(request, cwd)
    if tests is not None:
        args.append(str(tests))
    return args


def run(request: KitRequest, cwd: Path | None = None) -> int:
    """pytest's exit code: 0 passed, 1 some test failed, others: pytest could not run."""
    where = (cwd or Path.cwd()).resolve()
    return subprocess.run(command(request, where), cwd=where, check=False).returncode
