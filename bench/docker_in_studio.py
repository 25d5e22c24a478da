"""Docker from Studio, in the local Studio: what a space's Docker access costs against
Docker on the host, as a table with ratios (same run, same machine).

- `docker run --rm IMAGE true`, from a JupyterLab space (through Studio's proxy to the
  app's own engine) and on the host;
- a 3-layer `docker build --no-cache` (classic builder everywhere): from a space (native
  access), from a Studio Classic app on its user's remote engine (`docker --context
  studio-remote`, ssh through the local Studio's SSM session), and on the host;
- the engine's start added to CreateApp -> InService: the same space's app with Docker
  access off and on. Goal: <= 3 s.

Timings are taken where the command runs (in the app, on the host) around the docker
client process.

Run: .venv/bin/python bench/docker_in_studio.py [--tag dev] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from apps import settle
from localstudio import TEAM_FILE, running
from rich.console import Console

from smstudio.core import dockerhost
from smstudio.images import localbase, push
from smstudio.local import engines, runtime

TIMED = (
    "import subprocess, sys, time; t = time.monotonic(); "
    "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(time.monotonic() - t)"
)
DOCKERFILE = "FROM {base}\nRUN echo one > /one\nRUN echo two > /two\nRUN echo three > /three\n"


def app_box(sm: Any, app: dict[str, str]) -> Any:
    arn = sm.describe_app(**app)["AppArn"]
    found = dockerhost.client().containers.list(filters={"label": f"{runtime.LABEL}={arn}"})
    return next(c for c in found if engines.PART_LABEL not in c.labels)


def in_app(box: Any, *command: str) -> float:
    done = box.exec_run(
        ["python3", "-c", TIMED, *command], user="1000:100", workdir="/home/sagemaker-user"
    )
    if done.exit_code != 0:
        raise SystemExit(f"in the app: {' '.join(command)}: {done.output.decode()[-500:]}")
    return float(done.output.decode().split()[-1])


def on_host(*command: str, cwd: str | None = None) -> float:
    done = subprocess.run(
        [sys.executable, "-c", TIMED, *command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise SystemExit(f"on the host: {' '.join(command)}: {done.stderr[-500:]}")
    return float(done.stdout.split()[-1])


def start_time(sm: Any, admin: Any, domain: str, app: dict[str, str], docker: bool) -> float:
    state = "ENABLED" if docker else "DISABLED"
    admin.update_domain(
        DomainId=domain, DomainSettingsForUpdate={"DockerSettings": {"EnableDockerAccess": state}}
    )
    started = time.monotonic()
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    status = settle(sm, app)
    elapsed = time.monotonic() - started
    if status != "InService":
        raise SystemExit(
            f"app with Docker {state}: {status}: {sm.describe_app(**app).get('FailureReason')}"
        )
    return elapsed


def pull(base: str, context: str = "") -> str:
    """A script for the app: docker login to the local ECR with the app's own credentials
    (its execution role), then pull `base`; with `context`, on that docker context."""
    docker = f"docker --context {context}" if context else "docker"
    return (
        'python3 -c \'import base64, boto3; d = boto3.client("ecr").get_authorization_token()'
        '["authorizationData"][0]; print(base64.b64decode(d["authorizationToken"]).decode()'
        f'.split(":", 1)[1])\' | {docker} login -u AWS --password-stdin '
        f"{base.split('/')[0]} && {docker} pull -q {base}"
    )


def remote(studio: dict[str, Any], sm: Any, base: str, runs: int) -> list[float]:
    """The same build from alice's KernelGateway app on her remote engine."""
    setup = [sys.executable, "-m", "smstudio.cli", "docker-host", "setup", "--run", "--team",
             str(studio["team"])]  # fmt: skip
    done = subprocess.run(setup, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"docker-host setup: {done.stderr[-800:]}")
    app = {"DomainId": studio["domain"], "UserProfileName": "alice", "AppType": "KernelGateway",
           "AppName": "bench"}  # fmt: skip
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    if settle(sm, app) != "InService":
        raise SystemExit(f"KernelGateway app: {sm.describe_app(**app).get('FailureReason')}")
    box = app_box(sm, app)
    login = (
        pull(base, "studio-remote")
        + f" && mkdir -p b && printf '{DOCKERFILE.format(base=base)}' > b/Dockerfile"
    )
    made = box.exec_run(["bash", "-lc", login], user="1000:100", workdir="/home/sagemaker-user")
    if made.exit_code != 0:
        raise SystemExit(f"remote engine: {made.output.decode()[-500:]}")
    times = [in_app(box, "docker", "--context", "studio-remote", "build", "-q", "--no-cache",
                    "-t", "b", "b") for _ in range(runs)]  # fmt: skip
    sm.delete_app(**app)
    settle(sm, app)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base_local = localbase.DEFAULT_TAG  # made by scripts/setup-host.sh
    text = TEAM_FILE.read_text().replace('# remote_host = "', 'remote_host = "')
    team_file = Path(tempfile.mkdtemp(prefix="smstudio-bench-")) / "team.toml"
    team_file.write_text(text.replace('"../lcc/', f'"{TEAM_FILE.parent.parent}/lcc/'))
    with running(args.tag, team_file) as studio:
        sm, admin, domain = (
            studio["user"]("alice").client("sagemaker"),
            studio["sm"],
            studio["domain"],
        )
        sm.create_space(
            DomainId=domain,
            SpaceName="bench-docker",
            OwnershipSettings={"OwnerUserProfileName": "alice"},
            SpaceSharingSettings={"SharingType": "Private"},
        )
        app = {
            "DomainId": domain,
            "SpaceName": "bench-docker",
            "AppType": "JupyterLab",
            "AppName": "default",
        }
        starts: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(max(2, args.runs // 2)):
            for docker in (False, True):
                starts[docker].append(start_time(sm, admin, domain, app, docker))
                sm.delete_app(**app)
                settle(sm, app)
        starts[True].append(start_time(sm, admin, domain, app, True))
        box = app_box(sm, app)
        pushed = push.push(
            base_local, "local-base", "bookworm", studio["clients"], Console(quiet=True)
        )
        login = pull(pushed.uri)
        if box.exec_run(["bash", "-lc", login], user="1000:100").exit_code != 0:
            raise SystemExit("could not pull the base image into the space")
        box.exec_run(
            [
                "bash",
                "-lc",
                f"mkdir -p b && printf '{DOCKERFILE.format(base=pushed.uri)}' > b/Dockerfile",
            ],
            user="1000:100",
            workdir="/home/sagemaker-user",
        )
        rows = []
        space_run = [
            in_app(box, "docker", "run", "--rm", "--network", "sagemaker", pushed.uri, "true")
            for _ in range(args.runs)
        ]
        host_run = [
            on_host("docker", "run", "--rm", "--network", "none", base_local, "true")
            for _ in range(args.runs)
        ]
        rows.append(
            (
                "docker run --rm IMAGE true",
                statistics.median(space_run),
                statistics.median(host_run),
            )
        )
        space_build = [
            in_app(
                box, "docker", "build", "-q", "--no-cache", "--network", "sagemaker", "-t", "b", "b"
            )
            for _ in range(args.runs)
        ]
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "Dockerfile").write_text(DOCKERFILE.format(base=base_local))
            host_build = [
                on_host(
                    "docker",
                    "build",
                    "-q",
                    "--no-cache",
                    "--network",
                    "none",
                    "-t",
                    "smstudio-bench-b",
                    folder,
                )
                for _ in range(args.runs)
            ]
        subprocess.run(
            ["docker", "rmi", "-f", "smstudio-bench-b"], capture_output=True, check=False
        )
        rows.append(
            (
                "build, 3 layers, no cache",
                statistics.median(space_build),
                statistics.median(host_build),
            )
        )
        sm.delete_app(**app)
        settle(sm, app)
        remote_build = remote(studio, sm, pushed.uri, args.runs)
    print(f"Docker from a JupyterLab space vs on the host ({args.runs} runs each, medians)")
    print(f"{'':<30}{'space s':>9}{'host s':>9}{'space/host':>12}")
    for name, space, host in rows:
        print(f"{name:<30}{space:>9.2f}{host:>9.2f}{space / host:>11.2f}x")
    remote_median = statistics.median(remote_build)
    host_median = rows[1][2]
    print(f"{'build, remote engine (Classic)':<30}{remote_median:>9.2f}{host_median:>9.2f}"
          f"{remote_median / host_median:>11.2f}x")  # fmt: skip
    off, on = statistics.median(starts[False]), statistics.median(starts[True])
    added = on - off
    print()
    print(
        f"{'CreateApp -> InService':<30}{'no Docker':>11}{'Docker':>9}{'added':>8}"
        "  goal: added <= 3 s"
    )
    verdict = "met" if added <= 3 else "NOT met"
    print(f"{'JupyterLab space (median)':<30}{off:>11.2f}{on:>9.2f}{added:>8.2f}  {verdict}")


if __name__ == "__main__":
    main()
