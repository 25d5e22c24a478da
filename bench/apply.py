"""apply benchmark: the example team applied to an empty local Studio, then again.
Prints wall time and mutating-call counts side by side (goal for the second: 0).

Run: .venv/bin/python bench/apply.py [--tag dev]  (images built, scripts/setup-host.sh done)
The local Studio runs on free ports with its state in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from smstudio.core import aws, config, project
from smstudio.local import stack
from smstudio.register import apply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="dev", help="built image tag to register")
    args = parser.parse_args()
    quiet = Console(stderr=True, quiet=True)
    team, base_dir = config.load(project.project_root() / "bootstrap/team.example.toml")
    ports = stack.Ports.at(stack.free_port_base())
    with tempfile.TemporaryDirectory(prefix="smstudio-bench-") as tmp:
        layout = stack.Layout(Path(tmp))
        try:
            stack.up(layout, ports)
            os.environ.pop("AWS_SESSION_TOKEN", None)
            os.environ.update(stack.env_exports(ports, stack.admin_keys(layout)))  # the admin
            rows = []
            for run in ("first apply (empty Studio)", "second apply (nothing changed)"):
                clients = aws.Aws(region=team.domain.region)
                mutations = apply.count_mutations(clients)
                started = time.monotonic()
                changes = apply.run(team, base_dir, clients, quiet, tag=args.tag)
                rows.append((run, time.monotonic() - started, len(mutations), len(changes)))
        finally:
            stack.down(layout)
    first = rows[0][1]
    print(f"{'run':<34}{'seconds':>9}{'vs first':>10}{'mutating calls':>16}{'changes':>9}")
    for name, seconds, mutating, changes in rows:
        print(f"{name:<34}{seconds:>9.1f}{seconds / first:>10.2f}{mutating:>16}{changes:>9}")
    verdict = "met" if rows[1][2] == 0 else "NOT met"
    print(f"\nsecond apply mutating calls: {rows[1][2]} (goal 0: {verdict})")


if __name__ == "__main__":
    main()
