"""apply benchmark: teams of 10, 50 and 200 users, each applied to an empty local Studio
(first apply), then applied again (no-op: it reads the account, plans, changes nothing),
and the planner alone on the 200-user state. Prints a table: wall time, AWS calls,
calls and time per user, and ratios against the 10-user team of the same run.

Goals: a no-op apply of 200 users within 3 s on the local Studio, its cost per user flat
or falling as the team grows; the planner within 50 ms for 200 users.

Run: .venv/bin/python bench/apply.py [--tag dev] [--sizes 10,50,200]
(images built with that tag, scripts/setup-host.sh done). Each size gets its own local
Studio on free ports, with its state in a temporary folder.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio.core import aws, config, project
from smstudio.local import stack
from smstudio.register import apply
from smstudio.register import plan as planner

TEAM = """
[domain]
name = "bench-{size}"
region = "us-east-1"
[defaults]
allowed_instance_types = ["ml.t3.medium", "ml.m5.large"]
idle_timeout_minutes = 60
[images.smstudio-jupyterlab]
target = "jupyterlab"
app_types = ["JupyterLab"]
[images.smstudio-kernelgateway]
target = "kernelgateway"
app_types = ["KernelGateway"]
[lifecycle]
JupyterLab = "{lcc}/jupyterlab.sh"
KernelGateway = "{lcc}/kernelgateway.sh"
"""


def team_file(folder: Path, size: int) -> Path:
    users = "".join(
        f'[[users]]\nname = "user{i:03d}"\nemail = "user{i:03d}@example.com"\n'
        for i in range(size)
    )
    text = TEAM.format(size=size, lcc=project.project_root() / "lcc") + users
    path = folder / f"team-{size}.toml"
    path.write_text(text)
    return path


def counted(clients: aws.Aws) -> list[str]:
    calls: list[str] = []
    clients.event_hooks.append(("before-call.*.*", lambda model, **_: calls.append(model.name)))
    return calls


def one_size(size: int, tag: str, quiet: Console) -> dict[str, Any]:
    ports = stack.Ports.at(stack.free_port_base())
    with tempfile.TemporaryDirectory(prefix="smstudio-bench-") as tmp:
        layout = stack.Layout(Path(tmp) / "local")
        try:
            stack.up(layout, ports)
            os.environ.pop("AWS_SESSION_TOKEN", None)
            os.environ.update(stack.env_exports(ports, stack.admin_keys(layout)))  # the admin
            team, base_dir = config.load(team_file(Path(tmp), size))
            clients = aws.Aws(region=team.domain.region)
            calls, mutating = counted(clients), apply.count_mutations(clients)
            started = time.monotonic()
            apply.run(team, base_dir, clients, quiet, tag=tag)
            first = (time.monotonic() - started, len(calls), len(mutating))
            calls.clear()
            mutating.clear()
            started = time.monotonic()
            planned = apply.make(team, base_dir, clients, tag)
            done = apply.execute(planned, clients, quiet)
            noop = (time.monotonic() - started, len(calls), len(mutating) + len(done))
            times = []
            for _ in range(20):
                began = time.perf_counter()
                planner.plan(team, planned.inputs, planned.state)
                times.append(time.perf_counter() - began)
        finally:
            stack.down(layout)
    return {"size": size, "first": first, "noop": noop, "planner": statistics.median(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev", help="built image tag to register")
    parser.add_argument("--sizes", default="10,50,200", help="team sizes, comma-separated")
    args = parser.parse_args()
    quiet = Console(stderr=True, quiet=True)
    rows = [one_size(int(size), args.tag, quiet) for size in args.sizes.split(",")]
    base = rows[0]
    print(f"{'users':>6}{'run':>8}{'seconds':>9}{'calls':>7}{'changes':>9}"
          f"{'ms/user':>9}{'calls/user':>11}{'time vs ' + str(base['size']):>12}")  # fmt: skip
    for row in rows:
        for run in ("first", "noop"):
            seconds, calls, changes = row[run]
            ratio = seconds / base[run][0]
            print(f"{row['size']:>6}{run:>8}{seconds:>9.2f}{calls:>7}{changes:>9}"
                  f"{1000 * seconds / row['size']:>9.1f}{calls / row['size']:>11.2f}"
                  f"{ratio:>12.2f}")  # fmt: skip
    print()
    for row in rows:
        print(f"planner, {row['size']:>3} users: {1000 * row['planner']:.1f} ms (median of 20)")
    last = rows[-1]
    noop_ok = last["noop"][0] <= 3 and last["noop"][2] == 0
    per_user = [r["noop"][0] / r["size"] for r in rows]
    flat = all(b <= a * 1.1 for a, b in itertools.pairwise(per_user))
    print(f"\nno-op apply of {last['size']} users: {last['noop'][0]:.2f} s, "
          f"{last['noop'][2]} changes (goal <= 3 s, 0: {'met' if noop_ok else 'NOT met'})")
    growth = " -> ".join(f"{1000 * p:.1f} ms" for p in per_user)
    print(f"no-op cost per user as the team grows: {growth} "
          f"({'flat or falling' if flat else 'RISING'})")
    plan_ok = last["planner"] <= 0.05
    print(f"planner at {last['size']} users: {1000 * last['planner']:.1f} ms "
          f"(goal <= 50 ms: {'met' if plan_ok else 'NOT met'})")


if __name__ == "__main__":
    main()
