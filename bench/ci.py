"""`smstudio ci run` against the local Studio: the first push of a team image (nothing in
its ECR repository yet, no cache image) as the baseline, then a warm rebuild after a
one-line change, both as the CI role (assumed with a GitHub OIDC token for the team's
branch, as a workflow does). Per step seconds and the ratio to the baseline.

    .venv/bin/python bench/ci.py [--tag test]   (needs smstudio/jupyterlab:TAG built)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from smstudio.core import aws, config, facts
from smstudio.local import stack
from smstudio.local.gateway import webidentity
from smstudio.register import apply, iam

TEAM = """
[domain]
name = "ci-bench"
region = "us-east-1"
[defaults]
instance_type = "ml.t3.medium"
allowed_instance_types = ["ml.t3.medium"]
[images.team-lab]
target = "benchlab"
app_types = ["JupyterLab"]
[ci]
provider = "github"
repository = "acme/images"
"""
DOCKERFILE = """ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
USER root
RUN echo "{line}" > /opt/team-version
USER 1000:100
"""
STEPS = ("build", "check", "test", "push", "register")


def run(env: dict[str, str], repo: Path, *args: str) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "smstudio.cli", "ci", "run", "--repo",
                           str(repo), *args], env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr[-3000:])
    steps = {m[1]: float(m[2]) for m in re.finditer(r"│ (\w+)\s+│\s+([\d.]+)\s+│", done.stdout)}
    return seconds, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tag", default="test")
    args = parser.parse_args()
    base = f"smstudio/jupyterlab:{args.tag}"
    with tempfile.TemporaryDirectory(prefix="bench-ci-") as tmp:
        root = Path(tmp)
        ports = stack.Ports.at(stack.free_port_base())
        layout = stack.Layout(root / "local")
        stack.up(layout, ports)
        try:
            admin = stack.admin_keys(layout)
            admin_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            admin_env.update(stack.env_exports(ports, admin))
            repo = root / "repo"
            (repo / "images" / "benchlab").mkdir(parents=True)
            (repo / "smstudio.toml").write_text(TEAM)
            dockerfile = repo / "images" / "benchlab" / "Dockerfile"
            dockerfile.write_text(DOCKERFILE.format(line=time.time_ns()))
            common = ["--team", "smstudio.toml", "--base-image", base]
            run(admin_env, repo, *common, "--pull-request", "--tag", "v0")
            team, team_dir = config.load(repo / "smstudio.toml")
            os.environ.update(stack.env_exports(ports, admin))
            os.environ.pop("AWS_SESSION_TOKEN", None)
            apply.run(team, team_dir, aws.Aws(max_attempts=2), Console(stderr=True, quiet=True),
                      tag="v0")  # fmt: skip
            issuer, audience = facts.ci_issuer("github")
            token = root / "token"
            account = aws.Aws().client("sts").get_caller_identity()["Account"]
            ci_env = {k: v for k, v in admin_env.items()
                      if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}  # fmt: skip
            ci_env.update({"AWS_ROLE_ARN": f"arn:aws:iam::{account}:role/"
                                           f"{iam.Names('ci-bench').ci_role}",
                           "AWS_WEB_IDENTITY_TOKEN_FILE": str(token)})  # fmt: skip
            results = []
            for name, line in (("first push (empty repository)", "1"),
                               ("one-line change (warm cache)", "2")):  # fmt: skip
                dockerfile.write_text(DOCKERFILE.format(line=f"{line}-{time.time_ns()}"))
                subject = webidentity.job_subject("github", "acme/images", "main", False)
                token.write_text(webidentity.mint(layout.root, issuer, subject, audience))
                results.append((name, *run(ci_env, repo, *common, "--push", "--tag", f"v{line}")))
        finally:
            stack.down(layout)
    baseline = results[0][1]
    table = Table("run", "total s", "vs first", *STEPS, title="smstudio ci run (local Studio)")
    for name, total, steps in results:
        table.add_row(name, f"{total:.1f}", f"{total / baseline:.2f}x",
                      *(f"{steps.get(s, 0):.1f}" for s in STEPS))  # fmt: skip
    Console(width=130).print(table)


if __name__ == "__main__":
    main()
