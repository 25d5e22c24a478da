"""A data scientist's commands: `whoami`, `up`, `down`, `status`, `open`, `run`, `exec`,
`git-token set`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from smstudio.cli.base import TEAM_FILE, app, console, out, studio
from smstudio.core import aws, config, facts
from smstudio.core.errors import BadInput
from smstudio.register import gittoken
from smstudio.workspaces import apps, jupyter, usage, whoami
from smstudio.workspaces import exec as remote_exec

git_token_app = typer.Typer(
    help="Users' git tokens in Secrets Manager, fetched in Studio only when git asks.",
    no_args_is_help=True,
)
app.add_typer(git_token_app, name="git-token")


@app.command("whoami")
def whoami_command(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Who your AWS credentials are: the principal, the Studio user it acts as (its
    studiouserid) and the team's domain."""
    spec, _ = config.load(team)
    found = whoami.whoami(aws.Aws(region=spec.domain.region), spec)
    table = Table(show_header=False)
    table.add_column()
    table.add_column()
    table.add_row("principal", found.arn)
    table.add_row("account", found.account)
    table.add_row("kind", found.kind)
    if found.user:
        table.add_row(facts.STUDIO_USER_TAG, f"{found.user} (from {found.how})")
    elif found.kind == "account root":
        table.add_row(facts.STUDIO_USER_TAG, "none: the account root (the platform admin)")
    else:
        table.add_row(facts.STUDIO_USER_TAG, "none: not a user of this team")
    domain = spec.domain.name or spec.domain.id
    table.add_row("domain", f"{found.domain} ({domain})" if found.domain else f"{domain}: not "
                  "created yet (smstudio apply)")  # fmt: skip
    out.print(table)


@app.command("up")
def workspace_up(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    space: Annotated[
        str | None,
        typer.Option(
            help="Space name: one of the team file's spaces (a shared one, or your own), or "
            "a private space of yours (created if missing). Default: USER-space."
        ),
    ] = None,
    instance_type: Annotated[
        str | None, typer.Option(help="Instance type (default: the user's default).")
    ] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Bring up USER's JupyterLab space (created if missing), wait, print the URL.

    Run it as USER (their role: `eval "$(smstudio local env --user USER)"` locally, their
    SSO profile in AWS): IAM lets each user act only on their own spaces and the team's
    shared ones."""
    spec, sm = studio(team)
    ws = apps.workspace(sm, spec, user, space)
    out.print(apps.up(sm, spec, ws, instance_type, console))


@app.command("down")
def workspace_down(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    space: Annotated[str | None, typer.Option(help="Space name (default: USER-space).")] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Stop USER's JupyterLab app; the space and its home stay."""
    spec, sm = studio(team)
    ws = apps.workspace(sm, spec, user, space)
    stopped = apps.down(sm, ws, console)
    out.print(f"{ws.space}: stopped" if stopped else f"{ws.space}: not running")


@app.command("status")
def workspace_status(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    all_homes: Annotated[
        bool,
        typer.Option(
            "--all", help="Also every user and space: home size as their apps last reported it."
        ),
    ] = False,
) -> None:
    """The domain's apps: owner, type, instance type, status, age."""
    spec, sm = studio(team)
    domain_id = apps.find_domain(sm, spec)
    rows = apps.status(sm, domain_id)
    table = Table("owner", "type", "app", "instance type", "status", "age")
    for row in rows:
        table.add_row(row.owner, row.app_type, row.name, row.instance_type, row.status, row.age)
    out.print(table)
    if not all_homes:
        return
    homes = usage.latest(aws.Aws(region=spec.domain.region).client("logs"), domain_id)
    owners = sm.profile_names(domain_id) + [s["SpaceName"] for s in sm.spaces(domain_id)]
    table = Table("user or space", "running apps", "home", "files", "reported", "by app")
    for owner in sorted(set(owners) | set(homes)):
        running = sum(1 for r in rows if r.owner == owner and r.status == "InService")
        home = homes.get(owner)
        if home is None:
            table.add_row(owner, str(running), "-", "-", "never (no app started yet)", "-")
        else:
            size = usage.human(home.bytes)
            table.add_row(owner, str(running), size, str(home.files), home.at, home.app)
    out.print(table)


@app.command("open")
def workspace_open(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    space: Annotated[str | None, typer.Option(help="Space name (default: USER-space).")] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Print a presigned URL that opens USER's space (the local Studio redirects it to the
    running app)."""
    spec, sm = studio(team)
    out.print(apps.open_url(sm, apps.workspace(sm, spec, user, space)))


@app.command("run")
def workspace_run(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    code: Annotated[str, typer.Argument(help="Python code, e.g. 'import sys; sys.version'.")],
    space: Annotated[str | None, typer.Option(help="Space name (default: USER-space).")] = None,
    app_name: Annotated[
        str | None, typer.Option("--app", help="A Studio Classic KernelGateway app of USER's.")
    ] = None,
    kernel: Annotated[str, typer.Option(help="The kernel to start.")] = "python3",
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Run CODE in a fresh kernel of USER's running app and print the result: the way
    `exec` gets in (a presigned URL), a kernel instead of a terminal."""
    spec, sm = studio(team)
    where = remote_exec.target(sm, spec, user, space, app_name)
    server = remote_exec.login(sm, where)
    out.print(jupyter.run_in_server(server.base, code, kernel, session=server.session))


@app.command("exec")
def workspace_exec(
    target: Annotated[str, typer.Argument(help="A user from the team file.")],
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="The command, after `--`; its words are joined for the shell, as ssh does."
        ),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(help="A space of the team file's, or TARGET's (default: TARGET-space)."),
    ] = None,
    app_name: Annotated[
        str | None,
        typer.Option(
            "--app",
            help="A Studio Classic KernelGateway app of TARGET's (by name) instead of a space.",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds the command may take; then it is interrupted.")
    ] = 3600,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Run a command in TARGET's running app, in a terminal as Studio opens one, with its
    output as it comes and its exit code: `smstudio exec alice -- df -h ~`.

    Users exec in their own apps (the right to open them: CreatePresignedDomainUrl on their
    own profile); the platform team in anyone's, with the policy `smstudio iam policy
    --exec-admin` prints."""
    if not command:
        raise BadInput("no command to run", "give it after `--`: smstudio exec alice -- id")
    spec, sm = studio(team)
    where = remote_exec.target(sm, spec, target, space, app_name)
    server = remote_exec.login(sm, where)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        code = remote_exec.run(server, remote_exec.command_text(command), write, timeout)
    except KeyboardInterrupt:
        console.print(f"interrupted: the command in {where.label} was sent Ctrl-C")
        raise typer.Exit(remote_exec.INTERRUPTED) from None
    raise typer.Exit(code)


@git_token_app.command("set")
def git_token_set(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Store USER's git token (read from stdin, or asked for without echo) in Secrets
    Manager. In Studio, git gets it from there only for the team's git host."""
    spec, sm = studio(team)
    if sys.stdin.isatty():
        token = typer.prompt(f"git token for {user} on {spec.git.host or 'the git host'}",
                             hide_input=True)  # fmt: skip
    else:
        token = sys.stdin.read()
    secrets = aws.Aws(region=spec.domain.region).client("secretsmanager")
    domain_id = apps.find_domain(sm, spec)
    done = gittoken.store(sm, secrets, domain_id, user, token)
    out.print(f"{gittoken.secret_name(domain_id, user)}: {done}")
