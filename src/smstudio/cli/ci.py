"""`smstudio ci`: the image pipeline of a team's image repository."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from smstudio import __version__
from smstudio.cli.base import app, console, out
from smstudio.core import aws, config
from smstudio.core.errors import BadInput
from smstudio.register import iam
from smstudio.teamops import ci, pipelines

ci_app = typer.Typer(
    help="The image pipeline of a team's image repository: `ci init` writes it for GitHub "
    "Actions, GitLab CI or CodeBuild; every one of them runs `ci run`.",
    no_args_is_help=True,
)
app.add_typer(ci_app, name="ci")

CI_TEAM = Path("smstudio.toml")


@ci_app.command("init")
def ci_init(
    repo: Annotated[Path, typer.Argument(help="The image repository's folder.")],
    github: Annotated[bool, typer.Option("--github", help="GitHub Actions.")] = False,
    gitlab: Annotated[bool, typer.Option("--gitlab", help="GitLab CI.")] = False,
    codebuild: Annotated[bool, typer.Option("--codebuild", help="AWS CodeBuild.")] = False,
    team: Annotated[Path, typer.Option(help="The team file, inside the repository.")] = CI_TEAM,
    account: Annotated[
        str | None,
        typer.Option(help="The AWS account of the CI role (default: your credentials')."),
    ] = None,
    install: Annotated[
        str, typer.Option(help="What the job pip-installs.")
    ] = f"smstudio=={__version__}",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write the pipeline file into REPO: build, check and test on pull requests; on the
    team's branch also push and register new image versions (`smstudio ci run`).

    The team file's [ci] names the system, the repository and the branch; `apply` makes
    the CI role they may assume (pushes to the team's images only).

    Example: smstudio ci init ../studio-images --github --team smstudio.toml
    """
    chosen = [name for name, on in (("github", github), ("gitlab", gitlab),
                                    ("codebuild", codebuild)) if on]  # fmt: skip
    if len(chosen) != 1:
        raise BadInput("name one CI system", "pass one of --github, --gitlab, --codebuild")
    team_path = team if team.is_absolute() else repo / team
    spec, _ = config.load(team_path)
    if spec.ci is None or spec.ci.provider != chosen[0]:
        have = f"[ci] provider = {spec.ci.provider!r}" if spec.ci else "no [ci] section"
        raise BadInput(
            f"{team_path} has {have}, not {chosen[0]!r}",
            f'add [ci] provider = "{chosen[0]}", repository and branch, then `smstudio apply` '
            "(it makes the CI role)",
        )
    if account is None:
        account = aws.Aws(region=spec.domain.region).client("sts").get_caller_identity()["Account"]
    role = f"arn:aws:iam::{account}:role/{iam.Names(spec.namespace).ci_role}"
    written = ci.init(repo, pipelines.PipelineSpec(
        chosen[0], role, spec.domain.region, spec.ci.branch,
        str(team_path.relative_to(repo)) if team_path.is_relative_to(repo) else str(team),
        install, spec.ci.gitlab_host,
    ), force)  # fmt: skip
    out.print(f"wrote {written} (role {role})")


@ci_app.command("run")
def ci_run(
    repo: Annotated[Path, typer.Option(help="The image repository.")] = Path("."),
    team: Annotated[Path, typer.Option(help="The team file (from the repository).")] = CI_TEAM,
    tag: Annotated[
        str | None, typer.Option(help="The image tag (default: the commit, 12 characters).")
    ] = None,
    pull_request: Annotated[
        bool | None,
        typer.Option(
            "--pull-request/--push",
            help="A pull request stops before push (default: what the CI system says).",
        ),
    ] = None,
    reports: Annotated[Path, typer.Option(help="Where the build log and JUnit XML go.")] = Path(
        "reports"
    ),
    base_image: Annotated[
        str | None, typer.Option(help="BASE_IMAGE build argument for the Dockerfiles.")
    ] = None,
    runtime_base: Annotated[
        str | None,
        typer.Option(help="Debian image for the mounted kernel gateway (KernelGateway tests)."),
    ] = None,
) -> None:
    """Build, check, test, push and register the repository's images, in that order.

    1. docker buildx bake: each of the team's images with images/TARGET/Dockerfile here,
       tagged smstudio/TARGET:TAG, with its ECR repository's cache image as a cache;
    2. `images check` (the Studio contract; a violation stops the run);
    3. `images test` (the kit and tests/; JUnit XML in --reports);
    4. on a pull request: stop (nothing is pushed, no AWS credentials needed);
    5. push to ECR (and the cache image);
    6. `apply --only images`: a new image version for each image that changed.

    Exit code: 0 done (or stopped as a pull request), 1 a step failed, 2 bad input.
    """
    repo = repo.resolve()
    team_path = team if team.is_absolute() else repo / team
    spec, team_dir = config.load(team_path)
    event = ci.detect_event(os.environ)
    is_pr = event.pull_request if pull_request is None else pull_request
    request = ci.RunRequest(repo, spec, team_dir, tag or ci.default_tag(repo), is_pr,
                            reports if reports.is_absolute() else repo / reports,
                            base_image, runtime_base)  # fmt: skip
    clients = None if is_pr else aws.Aws(region=spec.domain.region)
    console.print(f"ci run ({event.system}{', pull request' if is_pr else ''}): tag {request.tag}")
    pipeline = ci.Pipeline(request, clients, console,
                           step=lambda name: console.print(f"[bold]== {name}[/]"))  # fmt: skip
    result = pipeline.run()
    table = Table("step", "seconds")
    for name in ci.STEPS:
        if name in result.seconds:
            table.add_row(name, f"{result.seconds[name]:.1f}")
    out.print(table)
    for pinned in result.pushed:
        out.print(f"pushed {pinned}")
    for change in result.registered:
        out.print(f"registered: {escape(change)}")
    if result.stopped:
        out.print(f"stopped: {result.stopped}")
    elif not result.registered:
        out.print("registered: nothing to change (the images are the latest versions)")
