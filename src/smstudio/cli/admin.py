"""The platform team's commands: `plan`, `apply`, `iam policy`, `lcc show`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from smstudio.cli.base import TEAM_FILE, app, console, out
from smstudio.core import aws, config, facts
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.register import apply, desired, iam, lcc, lock
from smstudio.workspaces import apps

iam_app = typer.Typer(
    help="The IAM policies smstudio manages, built from the team file.", no_args_is_help=True
)
app.add_typer(iam_app, name="iam")

lcc_app = typer.Typer(
    help="Lifecycle scripts: lcc/<app>.sh rendered with the team's settings and lcc/lib.",
    no_args_is_help=True,
)
app.add_typer(lcc_app, name="lcc")


def _registrar(team: Path, tag: str, dry_run: bool, replace: bool = False) -> apply.Registrar:
    spec, base = config.load(team)
    clients = aws.Aws(region=spec.domain.region)
    return apply.Registrar(spec, base, clients, console, tag=tag, dry_run=dry_run,
                           replace_spaces=replace)  # fmt: skip


@app.command("plan")
def plan(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    tag: Annotated[str, typer.Option(help="The built image tag to register.")] = "dev",
) -> None:
    """Show what `apply` would change in the domain; changes nothing, pushes nothing.

    Whether an image needs a new version is known only after its push, so `apply`
    decides that (a version is added only when the pushed digest changed).
    """
    changes = _registrar(team, tag, dry_run=True).run()
    out.print(f"{len(changes)} change(s) planned" if changes else "nothing to change")


@app.command("apply")
def apply_team(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    tag: Annotated[str, typer.Option(help="The built image tag to register.")] = "dev",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Apply without asking.")] = False,
    replace_spaces: Annotated[
        bool,
        typer.Option(
            "--replace-spaces",
            help="Allow replacing spaces whose owner or sharing type changed (SageMaker "
            "cannot change them: the space and its home are deleted and made again).",
        ),
    ] = False,
    lock_wait: Annotated[
        float, typer.Option(help="Seconds to wait for another apply of the team to finish.")
    ] = 600,
    break_lock: Annotated[
        bool,
        typer.Option("--break-lock", help="Take the team's apply lock from an apply that died."),
    ] = False,
) -> None:
    """Register the team file into its domain: IAM roles, images and versions, app image
    configs, lifecycle configs, domain defaults, user policies and profiles.

    Shows the plan first, then applies in that order. A second apply changes nothing. One
    apply of a team runs at a time (a lock in the account; a second waits). Against the
    local Studio: eval "$(smstudio local env)" first.
    """
    if dry_run:
        console.print("plan:")
        changes = _registrar(team, tag, dry_run=True).run()
        out.print(f"{len(changes)} change(s) planned" if changes else "nothing to change")
        return
    spec, _ = config.load(team)
    ssm = aws.Aws(region=spec.domain.region).client("ssm")
    with console.status("taking the apply lock", spinner="dots") as status:
        held = lock.held(ssm, spec.namespace, lock_wait, break_lock, status.update)
        held.__enter__()
    try:
        _apply_locked(team, tag, yes, replace_spaces)
    finally:
        held.__exit__(None, None, None)


def _apply_locked(team: Path, tag: str, yes: bool, replace_spaces: bool) -> None:
    console.print("plan:")
    changes = _registrar(team, tag, dry_run=True).run()
    replacing = [c for c in changes if c.action == "replace"]
    if changes and not yes:
        if not sys.stdin.isatty():
            raise BadInput("apply needs confirmation", "pass --yes (no terminal to ask on)")
        typer.confirm(f"apply {len(changes)} change(s)?", abort=True)
    if replacing and not replace_spaces:
        if not sys.stdin.isatty():
            raise BadInput(
                f"{len(replacing)} space(s) would be replaced, deleting their homes: "
                + ", ".join(c.target for c in replacing),
                "check the plan; to go ahead, apply with --replace-spaces",
            )
        typer.confirm(f"replace {len(replacing)} space(s), deleting their homes?", abort=True)
        replace_spaces = True
    console.print("applying:")
    done = _registrar(team, tag, dry_run=False, replace=replace_spaces).run()
    out.print(f"applied {len(done)} change(s)" if done else "nothing to change")


@lcc_app.command("show")
def lcc_show(
    app_type: Annotated[
        str, typer.Argument(help="JupyterLab, KernelGateway or JupyterServer (as in [lifecycle]).")
    ],
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    packaged: Annotated[
        bool, typer.Option(help="Show the compressed form apply registers instead.")
    ] = False,
) -> None:
    """Print the lifecycle script apply registers for APP_TYPE, readable, with its size."""
    spec, base = config.load(team)
    if app_type not in spec.lifecycle:
        raise BadInput(
            f"{team} has no lifecycle script for {app_type!r} "
            f"(it has: {', '.join(spec.lifecycle) or 'none'})",
            "give one of those, or add it under [lifecycle]",
        )
    script = base / spec.lifecycle[app_type]
    values = lcc.settings(spec, app_type)
    shipped = lcc.package(script, values)
    size = len(desired.lcc_content(shipped, str(script)))
    out.print(escape(shipped if packaged else lcc.render(script, values)), end="")
    console.print(f"{script.name}: {size} of {facts.LCC_MAX_BASE64} base64 characters")


@iam_app.command("policy")
def iam_policy(
    user: Annotated[str, typer.Option(help="A user from the team file.")],
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    account: Annotated[
        str | None, typer.Option(help="AWS account id (default: asked of STS).")
    ] = None,
    domain_id: Annotated[
        str | None, typer.Option(help="Domain id (default: the team file's, or found by name).")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Team bucket (default: sagemaker-REGION-ACCOUNT).")
    ] = None,
) -> None:
    """Print USER's identity (their role, its trust and tag, or the team file's IAM
    principal) and policy; the execution role with its trust and policy; and the role of
    apps' SSM managed instances. Names carry the team's namespace (its domain).

    The user policy confines USER to their own profile, spaces and apps (studiouserid
    tag), the team's shared spaces, and the instance types the team file allows them.
    """
    spec, _ = config.load(team)
    member = spec.user(user)
    if member is None:
        names = ", ".join(u.name for u in spec.users) or "none"
        raise BadInput(f"{team}: no user {user!r} (users: {names})", "pick a listed user")
    region = spec.domain.region
    clients = aws.Aws(region=region)
    if account is None:
        account = clients.client("sts").get_caller_identity()["Account"]
    domain = domain_id or spec.domain.id
    if domain is None:
        try:
            domain = apps.find_domain(clients.client("sagemaker"), spec)
        except SmstudioError:
            console.print("domain not created yet: the policies cover any domain in the account")
            domain = "*"
    roles = iam.Names(spec.namespace)
    scope = iam.Scope(account=account, region=region, domain_id=domain)
    if member.iam_principal:
        identity: dict[str, Any] = {"existing principal": member.iam_principal,
                                    "tags": {facts.STUDIO_USER_TAG: user}}  # fmt: skip
    else:
        identity = {
            "role": roles.user_role(user),
            "arn": scope.role(roles.user_role(user)),
            "tags": {facts.STUDIO_USER_TAG: user},
            "trust": iam.user_trust_policy(account, spec.identity.saml_provider),
        }
    documents = {
        f"user:{user}": {
            **identity,
            "policy": roles.user_policy(user),
            "document": iam.user_policy(scope, spec.allowed_for(member)),
        },
        "execution-role": {
            "role": roles.execution_role,
            "trust": iam.sagemaker_trust_policy(),
            "document": iam.execution_role_policy(
                scope, bucket or f"sagemaker-{region}-{account}", roles.ssm_instance_role
            ),
        },
        "ssm-instance-role": {
            "role": roles.ssm_instance_role,
            "trust": iam.ssm_trust_policy(),
            "document": iam.ssm_instance_policy(),
        },
    }
    print(json.dumps(documents, indent=2))
