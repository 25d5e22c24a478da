"""Lifecycle-script benchmark, in the local Studio: the time a JupyterLab space's restart
spends in smstudio's lifecycle script (its critical path, start to app ready) with 0, 10,
50 and 200 environments on the home and 5 cached system packages, against the same
restart done the way teams do it today (apt-get install the packages and pip-install
each environment's requirements at every start), side by side in one run.

Run: .venv/bin/python bench/lifecycle.py [--tag dev] [--envs 0,10,50,200] [--baseline 0,10]
    [--restarts N]  (each smstudio row: the median of N restarts)
Goals: <= 5 s at 50 environments, growing linearly; <= 1.0 s at 200.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import statistics
import time
from typing import Any

from localstudio import running
from rich.console import Console

from smstudio.core import dockerhost
from smstudio.local import runtime

PACKAGES = "jq tree ncdu zip unzip"
DONE = re.compile(r"(?:INFO jupyterlab: done in|BASELINE done in) (\d+\.\d+)s")
GOALS = {50: 5.0, 200: 1.0}  # environments -> the script's seconds, at most
# Environments as data scientists leave them: pipenv projects (WORKON_HOME and in-project),
# plain venvs; each with ipykernel in its own site-packages (linked from the image's, so
# seeding 200 takes seconds; discovery and registration see real environments).
SEED = r"""
set -euo pipefail
n="$1"
site=$(echo /opt/smstudio/venv/lib/python3*/site-packages)
pyver=$(basename "$(dirname "$site")")
make_env() {
  python3 -m venv --without-pip "$1"
  ln -s "$site/ipykernel" "$1/lib/$pyver/site-packages/ipykernel"
}
for i in $(seq 1 "$n"); do
  case $((i % 3)) in
    0) make_env "$HOME/.venvs/env$i" ;;
    1) d="$HOME/.local/share/virtualenvs/proj$i-AbCd$i"; make_env "$d"
       mkdir -p "$HOME/proj$i"; echo "$HOME/proj$i" > "$d/.project" ;;
    2) mkdir -p "$HOME/work$i"; touch "$HOME/work$i/Pipfile"; make_env "$HOME/work$i/.venv" ;;
  esac
done
mkdir -p "$HOME/.smstudio" "$HOME/.venvs"
printf '%s\n' PKGS > "$HOME/.smstudio/apt-packages"
for i in $(seq 1 "$n"); do echo ipykernel > "$HOME/.venvs/req$i.txt"; done
"""
# Today's way: every start reinstalls the system packages and recreates each environment
# from its requirements (pip's cache on the home makes it as kind as it gets).
BASELINE = r"""#!/bin/bash
set -uo pipefail
t0=$(date +%s%N)
sudo apt-get update -q >/dev/null 2>&1
sudo apt-get install -y -q PKGS >/dev/null 2>&1
for req in "$HOME"/.venvs/req*.txt; do
  [ -f "$req" ] || continue
  name=$(basename "$req" .txt)
  python3 -m venv "/tmp/envs/$name"
  "/tmp/envs/$name/bin/pip" install -q --cache-dir "$HOME/.cache/pip" -r "$req"
  "/tmp/envs/$name/bin/python" -m ipykernel install --user --name "$name" >/dev/null
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "BASELINE done in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
"""


def settle(sm: Any, app: dict[str, str]) -> dict[str, Any]:
    while True:
        found = sm.describe_app(**app)
        if found["Status"] not in ("Pending", "Deleting"):
            return dict(found)
        time.sleep(0.2)


def seed(image: str, volume: str, envs: int) -> None:
    script = SEED.replace("PKGS", PACKAGES)
    dockerhost.client().containers.run(
        image, ["bash", "-c", script, "seed", str(envs)], entrypoint=[], user="1000:100",
        volumes={volume: {"bind": "/home/sagemaker-user", "mode": "rw"}},
        environment={"HOME": "/home/sagemaker-user"}, remove=True, network_mode="none",
    )  # fmt: skip


def start_once(sm: Any, logs: Any, app: dict[str, str], lcc_arn: str | None) -> tuple[float, float]:
    """(CreateApp -> InService seconds, the lifecycle script's own seconds)."""
    spec: dict[str, str] = {"InstanceType": "ml.t3.medium"}
    if lcc_arn:
        spec["LifecycleConfigArn"] = lcc_arn
    began = time.monotonic()
    sm.create_app(**app, ResourceSpec=spec)
    found = settle(sm, app)
    took = time.monotonic() - began
    if found["Status"] != "InService":
        raise SystemExit(f"{app['SpaceName']}: {found['Status']}: {found.get('FailureReason')}")
    events = logs.get_log_events(
        logGroupName=runtime.LOG_GROUP, logStreamName=runtime.stream_name(app)
    )["events"]
    script = [float(m[1]) for e in events if (m := DONE.search(e["message"]))][-1]
    sm.delete_app(**app)
    settle(sm, app)
    return took, script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--envs", default="0,10,50,200")
    parser.add_argument("--baseline", default="0,10", help="environment counts for the baseline")
    parser.add_argument("--restarts", type=int, default=1, help="restarts per smstudio row")
    args = parser.parse_args()
    counts = [int(n) for n in args.envs.split(",")]
    baseline_counts = [int(n) for n in args.baseline.split(",") if n]
    os.environ["SMSTUDIO_LIFECYCLE_TIMEOUT"] = "900"  # let the baseline finish, to time it
    rows: list[tuple[str, int, float, float, float]] = []
    console = Console(stderr=True)
    with running(args.tag) as studio:
        admin, logs, domain = studio["sm"], studio["logs"], studio["domain"]
        sm = studio["user"]("alice").client("sagemaker")  # alice starts her spaces
        image = f"smstudio/jupyterlab:{args.tag}"
        baseline_arn = admin.create_studio_lifecycle_config(
            StudioLifecycleConfigName="bench-baseline",
            StudioLifecycleConfigContent=base64.b64encode(
                BASELINE.replace("PKGS", PACKAGES).encode()
            ).decode(),
            StudioLifecycleConfigAppType="JupyterLab",
        )["StudioLifecycleConfigArn"]
        plans = [("smstudio", n, None) for n in counts]
        plans += [("today (baseline)", n, baseline_arn) for n in baseline_counts]
        for label, envs, lcc_arn in plans:
            space = f"bench-{'b' if lcc_arn else 's'}{envs}"
            sm.create_space(
                DomainId=domain,
                SpaceName=space,
                OwnershipSettings={"OwnerUserProfileName": "alice"},
                SpaceSharingSettings={"SharingType": "Private"},
            )
            app = {"DomainId": domain, "SpaceName": space, "AppType": "JupyterLab",
                   "AppName": "default"}  # fmt: skip
            console.print(f"{label}: {envs} environments: seeding ...")
            seed(image, runtime.home_volume(domain, space, None), envs)
            console.print(f"{label}: {envs} environments: first start (fills caches) ...")
            _, first = start_once(sm, logs, app, lcc_arn)
            runs = 1 if lcc_arn else max(1, args.restarts)
            console.print(f"{label}: {envs} environments: {runs} restart(s) ...")
            times = [start_once(sm, logs, app, lcc_arn) for _ in range(runs)]
            took = statistics.median(t for t, _ in times)
            script = statistics.median(s for _, s in times)
            rows.append((label, envs, script, took, first))
    ours = {envs: script for label, envs, script, _, _ in rows if label == "smstudio"}
    print("\nrestart of a JupyterLab space; 'first' = the first start after the environments")
    print("appeared (every interpreter checked once, packages fetched), 'script' = every")
    print("later restart (the lifecycle script's critical path), 'to ready' = CreateApp ->")
    print("InService")
    print(f"{'':<20}{'envs':>6}{'first s':>9}{'script s':>10}{'to ready s':>12}{'vs smstudio':>13}")
    for label, envs, script, took, first in rows:
        ratio = f"{script / ours[envs]:.1f}x" if ours.get(envs) else "-"
        print(f"{label:<20}{envs:>6}{first:>9.2f}{script:>10.2f}{took:>12.2f}{ratio:>13}")
    for envs, goal in GOALS.items():
        if envs in ours:
            print(f"goal <= {goal} s at {envs} environments: "
                  f"{'met' if ours[envs] <= goal else 'NOT met'} ({ours[envs]:.2f} s, median of "
                  f"{max(1, args.restarts)} restart(s))")  # fmt: skip
    if len(ours) > 1:
        xs = sorted(ours)
        mean_x, mean_y = sum(xs) / len(xs), sum(ours.values()) / len(xs)
        slope = sum((x - mean_x) * (ours[x] - mean_y) for x in xs) / sum(
            (x - mean_x) ** 2 for x in xs
        )
        print(f"growth (least squares over {xs}): {slope * 1000:+.2f} ms per environment")
    print(f"5 system packages ({PACKAGES}) from the cache on the home in every smstudio row")


if __name__ == "__main__":
    main()
