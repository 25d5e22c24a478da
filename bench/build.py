"""Build benchmark: the default group cold (no cache), warm (nothing changed) and after a
one-line change in an lcc/ script, plus image sizes. Prints a table with ratios against
the cold build of the same run.

Run: .venv/bin/python bench/build.py  (after scripts/setup-host.sh; uses the local base)
The lcc/ change is made in a temporary copy of the project, never in the checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import docker
from rich.console import Console

from smstudio.core import dockerhost, project
from smstudio.images import localbase

TAG = "bench"
GOALS = {"base": 700, "jupyterlab": 1000}
INSTALLS = re.compile(r"apt-get install|pip install|python3 -m venv|debootstrap")


def bake(root: Path, base: str, *extra: str) -> tuple[float, str]:
    env = {**os.environ, "BASE_IMAGE": base, "TAG": TAG}
    started = time.monotonic()
    done = subprocess.run(
        ["docker", "buildx", "bake", "--progress=plain", *extra, "default"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"bake failed:\n{done.stderr[-3000:]}")
    return elapsed, done.stderr


def executed_steps(log: str) -> list[str]:
    """Build steps that ran (were not served from cache)."""
    steps: dict[str, str] = {}
    cached: set[str] = set()
    for line in log.splitlines():
        head = re.match(r"^#(\d+) \[([^\]]+)\] (RUN|COPY|ADD) (.*)$", line)
        if head:
            steps[head.group(1)] = f"[{head.group(2)}] {head.group(3)} {head.group(4)[:70]}"
        elif re.match(r"^#(\d+) CACHED$", line):
            cached.add(line.split()[0][1:])
    return [text for num, text in steps.items() if num not in cached]


def main() -> None:
    console = Console(stderr=True)
    root = project.project_root()
    base = localbase.ensure(localbase.LocalBaseRequest(), console)
    console.print("cold build (--no-cache) ...")
    cold, _ = bake(root, base, "--no-cache")
    console.print("warm build ...")
    warm, warm_log = bake(root, base)
    with tempfile.TemporaryDirectory(prefix="smstudio-bench-") as tmp:
        project.copy_build_inputs(root, Path(tmp))
        script = Path(tmp) / "lcc/jupyterlab.sh"
        script.write_text(script.read_text() + "# bench: a one-line change\n")
        console.print("build after a one-line lcc/ change ...")
        changed, changed_log = bake(Path(tmp), base)
    reran = executed_steps(changed_log)
    package_steps = [s for s in reran if INSTALLS.search(s)]

    print(f"\n{'build (default group)':<38}{'seconds':>9}{'vs cold':>9}")
    for name, seconds in (("cold, no cache", cold), ("warm, nothing changed", warm),
                          ("one-line change in lcc/jupyterlab.sh", changed)):  # fmt: skip
        print(f"{name:<38}{seconds:>9.1f}{seconds / cold:>9.2f}")
    print(f"\nwarm goal <= 5 s: {'met' if warm <= 5 else 'NOT met'} ({warm:.1f} s); "
          f"steps run when warm: {len(executed_steps(warm_log))}")  # fmt: skip
    print(f"steps re-run after the lcc/ change: {len(reran)}")
    for step in reran:
        print(f"  {step}")
    verdict = "none (goal met)" if not package_steps else ", ".join(package_steps)
    print(f"package-installing layers rebuilt by the lcc/ change: {verdict}")

    print(f"\n{'image':<24}{'size MB':>9}{'goal MB':>9}")
    engine = dockerhost.client()
    for name in ("base", "kernelgateway", "jupyterlab", "datascience"):
        # datascience is not in the default group: report the newest build of it.
        for tag in (TAG, "test", "dev"):
            try:
                size = engine.images.get(f"smstudio/{name}:{tag}").attrs["Size"] / 1e6
            except docker.errors.ImageNotFound:
                continue
            goal = GOALS.get(name)
            print(f"{name + ':' + tag:<24}{size:>9.0f}{goal if goal else '-':>9}")
            break
    # The benchmark's own tags go; the layers stay in Docker's cache for later builds.
    for image in engine.images.list(filters={"reference": f"smstudio/*:{TAG}"}):
        for ref in image.tags:
            if ref.endswith(f":{TAG}"):
                engine.images.remove(ref)


if __name__ == "__main__":
    main()
