"""SSH benchmark, in the local Studio: time from `ssh` to the first command's output
(through `smstudio ssh` and through plain `ssh` with the generated config), and the
throughput of a 100 MB download through `smstudio forward` against the same download
without SSH (JupyterLab's files API on the app's published port), as a ratio.

Run: .venv/bin/python bench/ssh.py [--tag dev] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import requests
from localstudio import running

from smstudio.core import dockerhost
from smstudio.local import runtime
from smstudio.ssh import sshconfig

SIZE = 100 * 1024 * 1024


def settle(sm: Any, app: dict[str, str]) -> str:
    while (status := sm.describe_app(**app)["Status"]) in ("Pending", "Deleting"):
        time.sleep(0.2)
    return str(status)


def timed(command: list[str], env: dict[str, str]) -> float:
    began = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or "ready" not in done.stdout:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
    return time.monotonic() - began


def download(url: str, browser: requests.Session | None = None) -> float:
    """MB/s of one GET of the whole file."""
    began = time.monotonic()
    got = 0
    with (browser or requests.Session()).get(url, stream=True, timeout=120) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_content(1 << 20):
            got += len(chunk)
    if got != SIZE:
        raise SystemExit(f"{url}: {got} bytes, expected {SIZE}")
    return SIZE / (1024 * 1024) / (time.monotonic() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with running(args.tag) as studio, tempfile.TemporaryDirectory() as laptop:
        sm = studio["user"]("alice").client("sagemaker")  # as alice, from her laptop
        domain, team = studio["domain"], str(studio["team"])
        sm.create_space(DomainId=domain, SpaceName="alice-space",
                        OwnershipSettings={"OwnerUserProfileName": "alice"},
                        SpaceSharingSettings={"SharingType": "Private"})  # fmt: skip
        app = {"DomainId": domain, "SpaceName": "alice-space", "AppType": "JupyterLab",
               "AppName": "default"}  # fmt: skip
        sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
        if settle(sm, app) != "InService":
            raise SystemExit(sm.describe_app(**app).get("FailureReason"))
        env = {**studio["user_env"]("alice"), "SMSTUDIO_STATE_DIR": f"{laptop}/state"}
        cli = [sys.executable, "-m", "smstudio.cli"]
        config = f"{laptop}/ssh_config"
        subprocess.run([*cli, "ssh-config", "--team", team, "--file", config], env=env,
                       check=True, capture_output=True)  # fmt: skip
        host = sshconfig.StudioHost("default", "alice-space", domain).name
        first = timed([*cli, "ssh", "--team", team, "alice", "--", "echo ready"], env)
        via_cli = [timed([*cli, "ssh", "--team", team, "alice", "--", "echo ready"], env)
                   for _ in range(args.runs)]  # fmt: skip
        via_ssh = [timed(["ssh", "-F", config, host, "echo ready"], env) for _ in range(args.runs)]

        arn = sm.describe_app(**app)["AppArn"]
        (box,) = dockerhost.client().containers.list(filters={"label": f"{runtime.LABEL}={arn}"})
        box.exec_run(["sh", "-c", f"head -c {SIZE} /dev/urandom > ~/bench-100mb.bin"])
        path = "/jupyterlab/default/files/bench-100mb.bin"
        browser = requests.Session()  # the app's own door, opened by a presigned URL
        url = sm.create_presigned_domain_url(DomainId=domain, UserProfileName="alice",
                                             SpaceName="alice-space")["AuthorizedUrl"]  # fmt: skip
        gate = browser.get(url, timeout=30).url.split("/jupyterlab/", 1)[0]
        direct = [download(f"{gate}{path}", browser) for _ in range(3)]
        local = 20000 + os.getpid() % 1000
        forward = subprocess.Popen([*cli, "forward", "--team", team, "alice", f"{local}:8888"],
                                   env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(f"http://127.0.0.1:{local}/jupyterlab/default/api/status",
                                 timeout=2)  # fmt: skip
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise SystemExit("the forward did not come up") from None
                    time.sleep(0.5)
            tunnel = [download(f"http://127.0.0.1:{local}{path}") for _ in range(3)]
        finally:
            forward.terminate()
            forward.wait(10)
    print(f"\n{'ssh to first output (local Studio)':<44}{'first s':>9}{'median s':>10}{'max s':>8}")
    print(f"{'smstudio ssh alice -- echo (CLI start incl.)':<44}{first:>9.2f}"
          f"{statistics.median(via_cli):>10.2f}{max(via_cli):>8.2f}")  # fmt: skip
    print(f"{'ssh <host> echo (generated config)':<44}{via_ssh[0]:>9.2f}"
          f"{statistics.median(via_ssh):>10.2f}{max(via_ssh):>8.2f}")  # fmt: skip
    best_direct, best_tunnel = max(direct), max(tunnel)
    print(f"\n{'100 MB download':<44}{'best MB/s':>10}{'vs direct':>11}")
    print(f"{'without SSH (the app through its gate)':<44}{best_direct:>10.1f}{1.0:>10.2f}x")
    print(f"{'through smstudio forward (SSH)':<44}{best_tunnel:>10.1f}"
          f"{best_tunnel / best_direct:>10.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
