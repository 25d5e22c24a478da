"""The CLI's shared parts: the app, its consoles (progress on stderr, results on stdout),
the global options, the team file default."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from smstudio.core import aws, config
from smstudio.core.sagemaker import SageMaker

console = Console(stderr=True, emoji=False, highlight=False)
# Piped output (CI logs, files) is not squeezed to 80 columns.
out = Console(emoji=False, highlight=False, width=None if sys.stdout.isatty() else 160)

app = typer.Typer(
    help="SageMaker Studio for teams, as code: images, lifecycle scripts, SSH, registration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

TEAM_FILE = Path("bootstrap/team.example.toml")


@app.callback()
def main_options(
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="AWS profile (from ~/.aws/config) every command uses; AWS_PROFILE works too.",
        ),
    ] = None,
) -> None:
    """SageMaker Studio for teams, as code: images, lifecycle scripts, SSH, registration."""
    if profile:
        aws.DEFAULT_PROFILE = profile
        os.environ["AWS_PROFILE"] = profile  # the ssh ProxyCommand and the AWS CLI too


def studio(team: Path) -> tuple[config.Team, SageMaker]:
    spec, _ = config.load(team)
    return spec, SageMaker.of(aws.Aws(region=spec.domain.region))
