"""The platform team's commands: `plan`, `apply`, `iam policy`, `lcc show`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from smstudio.cli.base import TEAM_FILE, app, console, out
from smstudio.core import aws, config, facts
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.core.sagemaker import SageMaker
from smstudio.register import apply, desired, iam, lcc, lock
from smstudio.register.plan import Change, Options
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


PlanFile = Annotated[
    Path | None,
    typer.Option("-o", "--out", help="Write the plan to this file, for `apply FILE`."),
]
Prune = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Delete what the team file no longer has (users: their apps, spaces, profile, "
        "IAM identity and policy, git token, SSM registrations; spaces; images). Without "
        "it they are listed as kept.",
    ),
]
DeleteHome = Annotated[
    bool,
    typer.Option("--delete-home", help="With --prune: also the homes of users who left."),
]
ReplaceSpaces = Annotated[
    bool,
    typer.Option(
        "--replace-spaces",
        help="Allow replacing spaces whose owner or sharing type changed (SageMaker "
        "cannot change them: the space and its home are deleted and made again).",
    ),
]


def _show(planned: apply.Planned, prefix: str = "") -> None:
    for change in planned.plan.changes:
        line = f"  {change.step:<18} {prefix + change.action:<22} {change.target} {change.detail}"
        why = f" [dim]({escape(change.reason)})[/]" if change.reason else ""
        console.print(escape(line.rstrip()) + why, soft_wrap=True)
    for change in planned.plan.kept:
        line = f"  {change.step:<18} {'keep':<22} {change.target} {change.detail}"
        console.print(f"[yellow]{escape(line.rstrip())}[/] [dim]({escape(change.reason)})[/]",
                      soft_wrap=True)  # fmt: skip


def _make(team: Path, tag: str, options: Options) -> tuple[apply.Planned, aws.Aws]:
    spec, base = config.load(team)
    clients = aws.Aws(region=spec.domain.region)
    with console.status("reading the account", spinner="dots"):
        return apply.make(spec, base, clients, tag, options), clients


@app.command("plan")
def plan(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    tag: Annotated[str, typer.Option(help="The built image tag to register.")] = "dev",
    out_file: PlanFile = None,
    prune: Prune = False,
    delete_home: DeleteHome = False,
    replace_spaces: ReplaceSpaces = False,
) -> None:
    """Show what `apply` would change in the domain; changes nothing, pushes nothing.

    With -o FILE the plan is written down: `smstudio apply FILE` then carries out exactly
    that plan, or refuses, saying what changed, if the account changed since.
    """
    planned, _ = _make(team, tag, Options(prune, delete_home, replace_spaces))
    console.print("plan:")
    _show(planned, "would ")
    if out_file is not None:
        planned.save(out_file)
        console.print(f"plan written to {out_file}; carry it out with: smstudio apply {out_file}")
    count = len(planned.plan.changes)
    out.print(f"{count} change(s) planned" if count else "nothing to change")


@app.command("apply")
def apply_team(
    plan_file: Annotated[
        Path | None,
        typer.Argument(help="A plan `smstudio plan -o` wrote: carry out exactly it."),
    ] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    tag: Annotated[str, typer.Option(help="The built image tag to register.")] = "dev",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Apply without asking.")] = False,
    prune: Prune = False,
    delete_home: DeleteHome = False,
    replace_spaces: ReplaceSpaces = False,
    lock_wait: Annotated[
        float, typer.Option(help="Seconds to wait for another apply of the team to finish.")
    ] = 600,
    break_lock: Annotated[
        bool,
        typer.Option("--break-lock", help="Take the team's apply lock from an apply that died."),
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(
            help="`images`: only new image versions and their app image configs (what an "
            "image pipeline's role may do; the images must exist from a full apply)."
        ),
    ] = None,
    image: Annotated[
        list[str] | None,
        typer.Option(help="With --only images: these of the team's images (default: all)."),
    ] = None,
) -> None:
    """Register the team file into its domain: IAM roles, images and versions, app image
    configs, lifecycle configs, domain defaults, user policies and profiles, spaces; with
    --prune, offboard what the team file no longer has.

    Reads the account, shows the plan, then carries out that plan. A second apply changes
    nothing. `apply FILE` carries out a plan written by `plan -o FILE`. One apply of a
    team runs at a time (a lock in the account; a second waits). Against the local
    Studio: eval "$(smstudio local env)" first.
    """
    if only not in (None, "images"):
        raise BadInput(f"--only {only}: unknown", "use --only images (or leave it out)")
    if image and only is None:
        raise BadInput("--image needs --only images", "add --only images")
    if only and (prune or delete_home or replace_spaces):
        raise BadInput("--only images changes images only", "leave out --prune and friends")
    options = Options(prune, delete_home, replace_spaces, only == "images", list(image or []))
    if dry_run:
        planned, _ = _make(team, tag, options)
        console.print("plan:")
        _show(planned, "would ")
        count = len(planned.plan.changes)
        out.print(f"{count} change(s) planned" if count else "nothing to change")
        return
    loaded = apply.Planned.load(plan_file) if plan_file else None
    spec = loaded.team if loaded else config.load(team)[0]
    clients = aws.Aws(region=spec.domain.region)
    said: list[str] = []

    def waiting(message: str) -> None:
        if not said:  # once, where logs keep it; the spinner shows it as it goes
            console.print(escape(message))
            said.append(message)
        status.update(message)

    with console.status("taking the apply lock", spinner="dots") as status:
        held = lock.held(clients.client("ssm"), spec.namespace, lock_wait, break_lock, waiting)
        held.__enter__()
    try:
        if loaded is not None and plan_file is not None:
            _apply_file(loaded, plan_file, clients)
        else:
            _apply_team(team, tag, options, yes)
    finally:
        held.__exit__(None, None, None)


def _apply_file(planned: apply.Planned, plan_file: Path, clients: aws.Aws) -> None:
    with console.status("reading the account", spinner="dots"):
        changed = apply.stale(planned, clients)
    if changed:
        shown = "\n  ".join(changed[:12]) + ("\n  ..." if len(changed) > 12 else "")
        raise SmstudioError(
            f"the account changed since {plan_file} was made; nothing was applied:\n  {shown}",
            f"plan again: smstudio plan -o {plan_file}",
        )
    console.print(f"plan {plan_file}:")
    _show(planned)
    _check_replacements(planned)
    _execute(planned, clients)


def _apply_team(team: Path, tag: str, options: Options, yes: bool) -> None:
    planned, clients = _make(team, tag, options)
    console.print("plan:")
    _show(planned)
    changes = planned.plan.changes
    if changes and not yes:
        if not sys.stdin.isatty():
            raise BadInput("apply needs confirmation", "pass --yes (no terminal to ask on)")
        typer.confirm(f"apply {len(changes)} change(s)?", abort=True)
    if planned.plan.replacing and not options.replace_spaces and sys.stdin.isatty():
        count = len(planned.plan.replacing)
        typer.confirm(f"replace {count} space(s), deleting their homes?", abort=True)
        planned.options.replace_spaces = True
    _check_replacements(planned)
    _execute(planned, clients)


def _check_replacements(planned: apply.Planned) -> None:
    replacing = planned.plan.replacing
    if replacing and not planned.options.replace_spaces:
        raise BadInput(
            f"{len(replacing)} space(s) would be replaced, deleting their homes: "
            + ", ".join(c.target for c in replacing),
            "check the plan; to go ahead, apply with --replace-spaces",
        )


def _execute(planned: apply.Planned, clients: aws.Aws) -> None:
    if not planned.plan.changes:
        out.print("nothing to change")
        return
    console.print("applying:")

    def started(change: Change) -> None:
        console.print(escape(f"  {change.step:<18} {change.action:<22} {change.target}"))

    done = apply.execute(planned, clients, console, started=started)
    out.print(f"applied {len(done)} change(s)")


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
    user: Annotated[str | None, typer.Option(help="A user from the team file.")] = None,
    exec_admin: Annotated[
        bool,
        typer.Option(
            "--exec-admin",
            help="The platform team's policy for `smstudio exec` in anyone's app instead.",
        ),
    ] = False,
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
    tag), the team's shared spaces, and the instance types the team file allows them; the
    access policy to their own secrets (git token, remote-access keys), SSH into their own
    apps and remote access to their own spaces.

    With --exec-admin: the policy that lets the platform team run `smstudio exec` in any
    app of the team's domain (find the domain and the app, open Studio as the team's
    profiles), to attach to the admins' own identities.
    """
    spec, _ = config.load(team)
    if exec_admin:
        _print_exec_admin_policy(spec, account, domain_id)
        return
    if user is None:
        raise BadInput("whose policies? no --user given", "give --user NAME, or --exec-admin")
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
            domain = apps.find_domain(SageMaker.of(clients), spec)
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
            "access-policy": roles.user_access_policy(user),
            "access-document": iam.user_access_policy(scope),
        },
        "execution-role": {
            "role": roles.execution_role,
            "trust": iam.sagemaker_trust_policy(),
            "document": iam.execution_role_policy(
                scope,
                bucket or f"sagemaker-{region}-{account}",
                roles.ssm_instance_role,
                bool(spec.docker.remote_host),
                spec.starter.s3,
            ),
        },
        "ssm-instance-role": {
            "role": roles.ssm_instance_role,
            "trust": iam.ssm_trust_policy(),
            "document": iam.ssm_instance_policy(),
        },
    }
    print(json.dumps(documents, indent=2))


def _print_exec_admin_policy(spec: config.Team, account: str | None, domain_id: str | None) -> None:
    clients = aws.Aws(region=spec.domain.region)
    if account is None:
        account = clients.client("sts").get_caller_identity()["Account"]
    domain = domain_id or spec.domain.id or apps.find_domain(SageMaker.of(clients), spec)
    scope = iam.Scope(account=account, region=spec.domain.region, domain_id=domain)
    documents = {
        "exec-admin": {
            "policy": iam.Names(spec.namespace).exec_admin_policy,
            "document": iam.exec_admin_policy(scope, spec.namespace),
        }
    }
    print(json.dumps(documents, indent=2))


docker_host_app = typer.Typer(
    help="Docker for Studio Classic: each user's own engine on the team's engine host.",
    no_args_is_help=True,
)
app.add_typer(docker_host_app, name="docker-host")


@docker_host_app.command("setup")
def docker_host_setup(
    team: Annotated[
        Path, typer.Option(help="The team file (its \\[docker] remote_host).")
    ] = TEAM_FILE,
    run: Annotated[
        bool, typer.Option("--run", help="Run the setup here (on the host) instead of printing it.")
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(
            help="The engine image on the host (default: smstudio's, built here for "
            "the local Studio; build it from src/smstudio/local/engine for a host)."
        ),
    ] = None,
    state_dir: Annotated[
        str, typer.Option(help="Folder on the host for the engines' sockets.")
    ] = "/var/lib/smstudio-docker",
) -> None:
    """Give each user of the team a Docker engine of their own on the host named by the
    team file's \\[docker] remote_host, for Studio Classic (KernelGateway) apps.

    Per user: an engine container (privileged; reached only through Studio's Docker proxy
    with the remote rules: no privileged containers, host devices or host paths) and a door
    container (unprivileged sshd) registered with SSM as a managed instance tagged with the
    user (SSHOwner), so IAM lets only that user's apps in. Their lifecycle script then makes
    the docker context `studio-remote`. Activations are made now, as you (the admin), for
    users whose engine is not online; running engines are kept.

    Example: smstudio docker-host setup --team team.toml > setup.sh   (then run it as root
    on the host), or against the local Studio: smstudio docker-host setup --run
    """
    from smstudio.images import localbase
    from smstudio.local import engines
    from smstudio.teamops import dockerhost

    spec, _ = config.load(team)
    host = spec.docker.remote_host
    if not host:
        raise BadInput(f"{team}: no [docker] remote_host", "name the engine host's managed "
                       'instance: [docker] remote_host = "mi-..."')  # fmt: skip
    clients = aws.Aws(region=spec.domain.region)
    domain_id = apps.find_domain(SageMaker.of(clients), spec)
    account = clients.client("sts").get_caller_identity()["Account"]
    ssm = clients.client("ssm")
    endpoint = clients.endpoints.get("ssm") or aws.env_endpoint("ssm") or ""
    local = dockerhost.local_host(endpoint, account, spec.domain.region)
    if local is not None and image is None:
        with console.status("building the engine image", spinner="dots"):
            engines.build(localbase.DEFAULT_TAG)
    users = dockerhost.missing_users(ssm, host, [u.name for u in spec.users])
    made = []
    for user in users:
        found = dockerhost.tags(spec.namespace, domain_id, user, host)
        made.append(dockerhost.Engine(user, *dockerhost.activate(
            ssm, iam.Names(spec.namespace).ssm_instance_role, found)))  # fmt: skip
    setup = dockerhost.HostSetup(
        spec.namespace, domain_id, spec.domain.region, image or engines.IMAGE,
        local.state_dir if local else state_dir, tuple(made), local,
        {facts.MANAGED_BY_TAG: spec.namespace},
    )  # fmt: skip
    script = dockerhost.script(setup)
    if not made:
        console.print(f"every user of {spec.namespace} has an engine online on {host}")
    if not run:
        out.print(script, end="", markup=False, highlight=False)
        return
    if made:
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SmstudioError(f"the setup failed:\n{done.stderr.strip()[-1500:]}",
                                "fix what it says and run it again (it is idempotent)")  # fmt: skip
        for line in done.stdout.splitlines():
            console.print(escape(line))


@app.command("remind")
def remind(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send nothing.")
    ] = False,
) -> None:
    """Run the reminders now, as the scheduled Lambda function does, from this machine
    with your credentials: email each user whose apps run past their instance type's
    threshold (the team file's \\[reminders]) and send the admins a summary.

    Example: smstudio remind --dry-run
    """
    from smstudio.register import reminders as deployed
    from smstudio.teamops import reminders

    spec, _ = config.load(team)
    if spec.reminders is None:
        raise BadInput(f"{team}: no [reminders]", "add one (see bootstrap/team.example.toml)")
    clients = aws.Aws(region=spec.domain.region)
    domain_id = apps.find_domain(SageMaker.of(clients), spec)
    account = str(clients.client("sts").get_caller_identity()["Account"])
    settings = deployed.settings(spec, domain_id, account, spec.domain.region)
    with console.status("listing the domain's apps", spinner="dots"):
        report = reminders.run(
            clients.client("sagemaker"), clients.client("ses"), settings, deliver=not dry_run
        )
    late = len(report.overdue)
    console.print(f"{report.seen} app(s) running on {domain_id}, {late} past their threshold")
    for message in report.messages:
        subject, text = message.rendered()
        out.print(f"--- {message.kind} to {', '.join(message.to)}", markup=False)
        out.print(f"Subject: {subject}\n\n{text}", markup=False)
    for user in report.no_email:
        console.print(f"[yellow]no email on {escape(user)}'s profile: not reminded[/]")
    said = "sent" if report.sent else "would send (dry run)"
    out.print(f"{said}: {len(report.messages)} message(s)")
