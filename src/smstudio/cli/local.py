"""`smstudio local`: the local Studio on 127.0.0.1."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from smstudio.cli.base import TEAM_FILE, app, console, out
from smstudio.core import aws, config, facts
from smstudio.core.errors import BadInput
from smstudio.local import stack
from smstudio.local.gateway import webidentity
from smstudio.workspaces import whoami

local_app = typer.Typer(
    help="The local Studio on 127.0.0.1: an AWS endpoint (moto + the Studio control "
    "plane) and a registry standing in for ECR. State survives down/up.",
    no_args_is_help=True,
)
app.add_typer(local_app, name="local")

app.add_typer(local_app, name="local")


@local_app.command("up")
def local_up() -> None:
    """Start the local Studio (idempotent) and print its endpoints."""
    with console.status("starting the local Studio", spinner="dots"):
        urls = stack.up(stack.Layout.default(), stack.Ports.from_env())
    for name, url in urls.items():
        out.print(f"{name:<9}{url}")
    console.print('point tools at it with: eval "$(smstudio local env)"')


@local_app.command("down")
def local_down() -> None:
    """Stop the local Studio; its state stays for the next `up`."""
    stopped = stack.down(stack.Layout.default())
    out.print(f"stopped: {', '.join(stopped)}" if stopped else "the local Studio was not running")


@local_app.command("status")
def local_status() -> None:
    """Which local Studio services answer."""
    ports = stack.Ports.from_env()
    urls = stack.endpoints(ports)
    table = Table("service", "endpoint", "state")
    for name, ok in stack.health(ports).items():
        table.add_row(name, urls[name], "[green]up[/]" if ok else "[red]down[/]")
    out.print(table)


@local_app.command("env")
def local_env(
    user: Annotated[
        str | None,
        typer.Option(
            help="Act as this Studio user: temporary credentials of their role (assumed "
            "through the local Studio's STS), tagged studiouserid=USER, so their policy "
            "applies. Default: the platform admin (the local account's root key)."
        ),
    ] = None,
    team: Annotated[Path, typer.Option(help="The team file (names the user's role).")] = TEAM_FILE,
) -> None:
    """Print the exports that point boto3, the AWS CLI and smstudio at the local Studio.

    Use: eval "$(smstudio local env)"   or, as a data scientist (after apply):
    eval "$(smstudio local env --user alice)"
    """
    ports = stack.Ports.from_env()
    keys = stack.admin_keys(stack.Layout.default())
    if user is not None:
        spec, _ = config.load(team)
        admin = aws.Aws(region=stack.REGION, endpoints=_all(stack.endpoints(ports)["aws"]),
                        keys=keys)  # fmt: skip
        keys = whoami.role_credentials(admin, spec, user)
    exports = stack.env_exports(ports, keys)
    if "AWS_SESSION_TOKEN" not in exports:
        print("unset AWS_SESSION_TOKEN AWS_PROFILE")
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")


@local_app.command("ci-token")
def local_ci_token(
    provider: Annotated[str, typer.Argument(help="github or gitlab.")],
    repository: Annotated[str, typer.Argument(help="owner/repo (GitHub), group/project (GitLab).")],
    branch: Annotated[str, typer.Option(help="The branch the job runs for.")] = "main",
    pull_request: Annotated[
        bool, typer.Option("--pull-request", help="A pull (merge) request's job.")
    ] = False,
    gitlab_host: Annotated[str, typer.Option(help="GitLab's host.")] = "gitlab.com",
    lifetime: Annotated[int, typer.Option(help="Seconds the token is valid.")] = 300,
) -> None:
    """Print the OIDC token a CI job would get from GitHub Actions or GitLab, signed by
    the local Studio standing in for them, for AssumeRoleWithWebIdentity.

    Use: smstudio local ci-token github my-org/images > token;
    AWS_ROLE_ARN=arn:aws:iam::…:role/smstudio-TEAM-ci AWS_WEB_IDENTITY_TOKEN_FILE=token
    smstudio ci run   (boto3 assumes the role with it, as a pipeline does)
    """
    if provider not in ("github", "gitlab"):
        raise BadInput(f"{provider}: no OIDC tokens", "use github or gitlab")
    issuer, audience = facts.ci_issuer(provider, gitlab_host)
    subject = webidentity.job_subject(provider, repository, branch, pull_request)
    layout = stack.Layout.default()
    stack.admin_keys(layout)  # a clear error when there is no local Studio here
    print(webidentity.mint(layout.root, issuer, subject, audience,
                           lifetime=lifetime))  # fmt: skip


def _all(url: str) -> dict[str, str]:
    return {service: url for service in ("sts", "iam", "sagemaker", "ssm")}
