"""The `smstudio` command line: thin commands over the modules, rendered with rich."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smstudio import (
    apply,
    applylock,
    apps,
    aws,
    awserrors,
    check,
    config,
    desired,
    gittoken,
    iam,
    ide,
    images,
    jupyter,
    lcc,
    localbase,
    push,
    ssh,
    sshconfig,
    sshproxy,
    usage,
    whoami,
)
from smstudio.errors import BadInput, SmstudioError
from smstudio.local import stack

console = Console(stderr=True, emoji=False, highlight=False)
# Piped output (CI logs, files) is not squeezed to 80 columns.
out = Console(emoji=False, highlight=False, width=None if sys.stdout.isatty() else 160)

app = typer.Typer(
    help="SageMaker Studio for teams, as code: images, lifecycle scripts, SSH, registration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
images_app = typer.Typer(
    help="Build the Studio images with docker buildx bake, list them, and check any image "
    "against the Studio contract before you push it.",
    no_args_is_help=True,
)
app.add_typer(images_app, name="images")
iam_app = typer.Typer(
    help="The IAM policies smstudio manages, built from the team file.", no_args_is_help=True
)
app.add_typer(iam_app, name="iam")

local_app = typer.Typer(
    help="The local Studio on 127.0.0.1: an AWS endpoint (moto + the Studio control "
    "plane) and a registry standing in for ECR. State survives down/up.",
    no_args_is_help=True,
)
app.add_typer(local_app, name="local")

lcc_app = typer.Typer(
    help="Lifecycle scripts: lcc/<app>.sh rendered with the team's settings and lcc/lib.",
    no_args_is_help=True,
)
app.add_typer(lcc_app, name="lcc")
git_token_app = typer.Typer(
    help="Users' git tokens in Secrets Manager, fetched in Studio only when git asks.",
    no_args_is_help=True,
)
app.add_typer(git_token_app, name="git-token")

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


def _all(url: str) -> dict[str, str]:
    return {service: url for service in ("sts", "iam", "sagemaker", "ssm")}


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
        table.add_row(iam.TAG, f"{found.user} (from {found.how})")
    elif found.kind == "account root":
        table.add_row(iam.TAG, "none: the account root (the platform admin)")
    else:
        table.add_row(iam.TAG, "none: not a user of this team")
    domain = spec.domain.name or spec.domain.id
    table.add_row("domain", f"{found.domain} ({domain})" if found.domain else f"{domain}: not "
                  "created yet (smstudio apply)")  # fmt: skip
    out.print(table)


@images_app.command("local-base")
def local_base(
    rebuild: Annotated[bool, typer.Option(help="Remake it even if it exists.")] = False,
    tag: Annotated[str, typer.Option(help="Tag of the imported image.")] = localbase.DEFAULT_TAG,
    suite: Annotated[str, typer.Option(help="Debian suite.")] = localbase.DEFAULT_SUITE,
    mirror: Annotated[str, typer.Option(help="Debian mirror.")] = localbase.DEFAULT_MIRROR,
    extra_ca: Annotated[
        Path | None,
        typer.Option(
            help="Folder of *.crt files to trust (default: the host's "
            "/usr/local/share/ca-certificates]."
        ),
    ] = None,
) -> None:
    """Make the offline local base image (debootstrap + docker import).

    A minimal Debian rootfs with python3, venv and CA certificates (plus extra ones),
    imported as smstudio/local-base:bookworm so images build with no registry access.
    Reused when present; --rebuild remakes it. Needs root and debootstrap.
    """
    request = localbase.LocalBaseRequest(tag, suite, mirror, extra_ca, rebuild)
    out.print(localbase.ensure(request, console))


@images_app.command("build")
def build(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help=f"Targets or groups: {', '.join(images.TARGETS + images.GROUPS)}."),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(help="Debian/Ubuntu image to build FROM (default: debian:bookworm-slim)."),
    ] = None,
    local_base: Annotated[
        bool, typer.Option("--local-base", help="Build FROM the local base (made if missing).")
    ] = False,
    tag: Annotated[str | None, typer.Option(help="Image tag (default: dev).")] = None,
    registry: Annotated[
        str | None, typer.Option(help="Repository prefix for tags (default: smstudio).")
    ] = None,
    extra_ca: Annotated[
        Path | None, typer.Option(help="Folder of *.crt files trusted in builds and images.")
    ] = None,
) -> None:
    """Build images with docker buildx bake (default group: base, kernelgateway, jupyterlab).

    Shows the current step; the full log goes to ~/.smstudio/logs/.

    Examples: smstudio images build --local-base all;
    smstudio images build jupyterlab --tag 1.0 --registry ACCOUNT.dkr.ecr.REGION.amazonaws.com/team
    """
    if local_base and base_image:
        raise BadInput("--local-base and --base-image both given", "pass one of them")
    if local_base:
        base_image = localbase.ensure(localbase.LocalBaseRequest(), console)
    request = images.BuildRequest(
        targets=tuple(targets or ["default"]),
        base_image=base_image,
        registry=registry,
        tag=tag,
        extra_ca_dir=str(extra_ca.resolve()) if extra_ca else None,
    )
    images.build(request, console)


@images_app.command("push")
def push_images(
    targets: Annotated[list[str], typer.Argument(help="Built targets, e.g. jupyterlab.")],
    tag: Annotated[str, typer.Option(help="The built tag to push.")] = "dev",
) -> None:
    """Push built images to ECR (repository smstudio/TARGET, created if missing).

    Against the local Studio (eval "$(smstudio local env)") the images go to its registry.
    Prints each image's ECR URI pinned to its digest.
    """
    images.validate_targets(tuple(targets))
    clients = aws.Aws()
    for target in targets:
        pushed = push.push(f"smstudio/{target}:{tag}", target, tag, clients, console)
        out.print(pushed.pinned)


@images_app.command("list")
def list_images() -> None:
    """The smstudio images in the local Docker engine."""
    table = Table("target", "app types", "size (MB)", "created")
    table.add_column("image", no_wrap=True)
    for row in images.list_built():
        created = row.created.replace("T", " ")[:16]
        table.add_row(row.image, row.app_types, f"{row.size_mb:.0f}", created, row.ref)
    out.print(table)


@images_app.command("check")
def check_image(
    image: Annotated[str, typer.Argument(help="A built image, e.g. smstudio/jupyterlab:dev.")],
    uid: Annotated[int, typer.Option(help="DefaultUid the AppImageConfig will declare.")] = 1000,
    gid: Annotated[int, typer.Option(help="DefaultGid the AppImageConfig will declare.")] = 100,
    mount_path: Annotated[
        str, typer.Option(help="FileSystemConfig.MountPath (the home).")
    ] = "/home/sagemaker-user",
    app_type: Annotated[
        list[str] | None,
        typer.Option(
            help="App type(s) the image serves (default: its io.smstudio.app-types "
            "label): KernelGateway, JupyterLab, ..."
        ),
    ] = None,
    kernel: Annotated[
        list[str] | None,
        typer.Option(help="Kernelspec names the AppImageConfig will list (KernelGateway)."),
    ] = None,
    health: Annotated[
        bool, typer.Option(help="Start JupyterLab images and ask their health endpoint.")
    ] = True,
) -> None:
    """Lint any built image against the Studio contract before you push it.

    Checks the platform, the default user against the declared UID/GID, files owned above
    UID/GID 65535 in any layer, files under the home mount path, the declared kernelspecs
    (KernelGateway) and the health endpoint (JupyterLab). Each violation is printed with
    its fix; the exit code is 1 when there are violations, 2 for bad input.

    Example: smstudio images check my-team/image:1 --app-type KernelGateway --kernel python3
    """
    options = check.CheckOptions(
        uid, gid, mount_path, tuple(app_type or ()), tuple(kernel or ()), health
    )
    violations = check.run(image, options, console)
    if not violations:
        out.print(f"[green]✓[/] {image} meets the Studio contract")
        return
    out.print(f"[red]✗[/] {image}: {len(violations)} violation(s) of the Studio contract")
    for v in violations:
        out.print(f"  [red]✗ {v.code}[/]: {escape(v.problem)}", soft_wrap=True)
        out.print(f"    [yellow]fix[/]: {escape(v.fix)}", soft_wrap=True)
    raise typer.Exit(1)


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
        lock = applylock.held(ssm, spec.namespace, lock_wait, break_lock, status.update)
        lock.__enter__()
    try:
        _apply_locked(team, tag, yes, replace_spaces)
    finally:
        lock.__exit__(None, None, None)


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


def _studio(team: Path) -> tuple[config.Team, Any]:
    spec, _ = config.load(team)
    return spec, aws.Aws(region=spec.domain.region).client("sagemaker")


def _ssh_target(
    team: Path, target: str
) -> tuple[config.Team, sshconfig.StudioHost, dict[str, str]]:
    """TARGET resolved and checked the way the ProxyCommand will use it (clear errors
    here: not running, not registered, agent offline, not yours); the env for ssh."""
    spec, _ = config.load(team)
    clients = aws.Aws(region=spec.domain.region)
    host = ssh.resolve(clients.client("sagemaker"), spec, target)
    instance_id = ssh.preflight(clients, host, spec.domain.region)
    return spec, host, ssh.ready_env(host, instance_id)


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
    spec, sm = _studio(team)
    ws = apps.workspace(sm, spec, user, space)
    out.print(apps.up(sm, spec, ws, instance_type, console))


@app.command("down")
def workspace_down(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    space: Annotated[str | None, typer.Option(help="Space name (default: USER-space).")] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Stop USER's JupyterLab app; the space and its home stay."""
    spec, sm = _studio(team)
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
    spec, sm = _studio(team)
    domain_id = apps.find_domain(sm, spec)
    rows = apps.status(sm, domain_id)
    table = Table("owner", "type", "app", "instance type", "status", "age")
    for row in rows:
        table.add_row(row.owner, row.app_type, row.name, row.instance_type, row.status, row.age)
    out.print(table)
    if not all_homes:
        return
    homes = usage.latest(aws.Aws(region=spec.domain.region).client("logs"), domain_id)
    owners = [u["UserProfileName"] for u in apps.pages(sm, "list_user_profiles", domain_id)]
    owners += [s["SpaceName"] for s in apps.pages(sm, "list_spaces", domain_id)]
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
    spec, sm = _studio(team)
    out.print(apps.open_url(sm, apps.workspace(sm, spec, user, space)))


@app.command("run")
def workspace_run(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    code: Annotated[str, typer.Argument(help="Python code, e.g. 'import sys; sys.version'.")],
    space: Annotated[str | None, typer.Option(help="Space name (default: USER-space).")] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Run CODE in a fresh kernel of USER's running space and print the result (local
    Studio: real Studio needs its browser sign-in)."""
    spec, sm = _studio(team)
    url = apps.open_url(sm, apps.workspace(sm, spec, user, space))
    browser = requests.Session()  # keeps the app's login cookie, as a browser would
    landed = browser.get(url, timeout=30, allow_redirects=True)
    if landed.status_code != 200 or not landed.url.startswith("http://127.0.0.1:"):
        raise SmstudioError(
            f"{user}'s space did not open locally (HTTP {landed.status_code})",
            "`smstudio run` works against the local Studio with the space up (`smstudio up`)",
        )
    out.print(jupyter.run_in_server(landed.url.removesuffix("/lab"), code, session=browser))


@app.command(
    "ssh",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def ssh_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A user (their workspace), a host <app>.<user-or-space>.<domain>"
            ".studio.sagemaker, or `proxy` (then HOST: the ProxyCommand ssh runs)."
        ),
    ],
    command: Annotated[
        list[str] | None, typer.Argument(help="A command to run instead of a shell.")
    ] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    region: Annotated[
        str | None, typer.Option(help="`proxy` only: the domain's region (no team file needed).")
    ] = None,
) -> None:
    """SSH into a running Studio app with a key made for it on this machine (only the
    public key goes to the app). `smstudio ssh alice -- nvidia-smi`."""
    if target == "proxy":
        if not command or len(command) != 1:
            raise BadInput("usage: smstudio ssh proxy HOST", "give exactly one host name")
        raise typer.Exit(sshproxy.run(command[0], region))
    spec, host, env = _ssh_target(team, target)
    args = ssh.ssh_args(host, spec.domain.region, [])
    raise typer.Exit(subprocess.call([*args, *(command or [])], env=env))


@app.command("ssh-config")
def ssh_config(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    config_file: Annotated[Path, typer.Option("--file", help="The ssh config to update.")] = Path(
        "~/.ssh/config"
    ),
    dry_run: Annotated[bool, typer.Option(help="Print the block, change nothing.")] = False,
) -> None:
    """Write one managed block in ~/.ssh/config for every Studio app (idempotent; the
    rest of the file is left as it is): then `ssh <app>.<user-or-space>.<domain>
    .studio.sagemaker` works, and VS Code Remote-SSH and PyCharm see the same hosts."""
    spec, sm = _studio(team)
    keys = ssh.ssh_dir() / "keys"
    proxy = ssh.proxy_command(spec.domain.region)
    block = sshconfig.config_block(proxy, keys, ssh.ssh_dir() / "known_hosts")
    domain_id = apps.find_domain(sm, spec)
    if dry_run:
        out.print(escape(block), end="")
        return
    path = config_file.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    current = path.read_text() if path.exists() else ""
    merged = sshconfig.merge(current, block)
    if merged != current:
        path.write_text(merged)
        path.chmod(0o600)
    out.print(f"{path}: {'updated' if merged != current else 'already up to date'}; hosts:")
    for user in spec.users:
        out.print(f"  {sshconfig.StudioHost('default', f'{user.name}-space', domain_id).name}")


@app.command("forward")
def forward(
    target: Annotated[str, typer.Argument(help="A user (their workspace) or a Studio host.")],
    ports: Annotated[
        list[str], typer.Argument(help="PORT (same on both sides) or LOCAL:REMOTE, e.g. 8501.")
    ],
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Forward ports from 127.0.0.1 here to 127.0.0.1 in the app (Streamlit, Dask,
    debugpy) until Ctrl-C."""
    spec, host, env = _ssh_target(team, target)
    forwards: list[str] = []
    for port in ports:
        local, _, remote = port.partition(":")
        if not (local.isdigit() and (remote or local).isdigit()):
            raise BadInput(f"{port!r} is not PORT or LOCAL:REMOTE", "e.g. 8501 or 9000:8501")
        forwards += ["-L", f"127.0.0.1:{local}:127.0.0.1:{remote or local}"]
        console.print(f"127.0.0.1:{local} -> {host.name}:{remote or local}")
    options = ["-N", "-o", "ExitOnForwardFailure=yes", *forwards]
    raise typer.Exit(subprocess.call(ssh.ssh_args(host, spec.domain.region, options), env=env))


@app.command("ide")
def ide_command(
    editor: Annotated[str, typer.Argument(help="vscode (PyCharm: see the README).")],
    target: Annotated[str, typer.Argument(help="A user (their workspace) or a Studio host.")],
    port: Annotated[int, typer.Option(help="The local port debugpy is forwarded to.")] = 5678,
    remote_root: Annotated[
        str, typer.Option(help="Where your code is in the app.")
    ] = "/home/sagemaker-user",
    write: Annotated[
        Path | None,
        typer.Option(help="A project folder: add the configuration to its .vscode/launch.json."),
    ] = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """What VS Code Remote-SSH needs for TARGET: the host to open, settings, and a debugpy
    "attach" configuration through `smstudio forward TARGET PORT`. The app must be running
    and yours (checked the way SSH checks it; its host key is pinned on the way)."""
    if editor != "vscode":
        raise BadInput(f"no IDE helper for {editor!r}", "use vscode; PyCharm: README")
    _, host, _ = _ssh_target(team, target)  # reachable, and yours: checked as SSH will be
    attach = ide.attach_configuration(host, port, remote_root)
    if write is not None:
        launch = write / ".vscode" / "launch.json"
        launch.parent.mkdir(parents=True, exist_ok=True)
        current = launch.read_text() if launch.exists() else ""
        launch.write_text(ide.merge_launch(current, attach))
        console.print(f"{launch}: configuration {attach['name']!r} written")
    out.print(f"1. once: smstudio ssh-config   (TAR_OPTIONS={ide.TAR_OPTIONS} is set in the app)")
    out.print(f"2. VS Code: Remote-SSH: Connect to Host... -> {host.name}")
    out.print(f"3. debugging: smstudio forward {target} {port}   then start the configuration:")
    out.print(escape(json.dumps(attach, indent=2)))
    out.print("VS Code settings (settings.json):")
    out.print(escape(json.dumps(ide.remote_ssh_settings(host), indent=2)))


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
    console.print(f"{script.name}: {size} of {desired.LCC_LIMIT} base64 characters")


@git_token_app.command("set")
def git_token_set(
    user: Annotated[str, typer.Argument(help="A user from the team file.")],
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """Store USER's git token (read from stdin, or asked for without echo) in Secrets
    Manager. In Studio, git gets it from there only for the team's git host."""
    spec, sm = _studio(team)
    if sys.stdin.isatty():
        token = typer.prompt(f"git token for {user} on {spec.git.host or 'the git host'}",
                             hide_input=True)  # fmt: skip
    else:
        token = sys.stdin.read()
    secrets = aws.Aws(region=spec.domain.region).client("secretsmanager")
    domain_id = apps.find_domain(sm, spec)
    done = gittoken.store(sm, secrets, domain_id, user, token)
    out.print(f"{gittoken.secret_name(domain_id, user)}: {done}")


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
                                    "tags": {iam.TAG: user}}  # fmt: skip
    else:
        identity = {
            "role": roles.user_role(user),
            "arn": scope.role(roles.user_role(user)),
            "tags": {iam.TAG: user},
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


def main() -> None:
    try:
        try:
            app()
        except Exception as exc:  # botocore's failures, said in words
            translated = awserrors.translate(exc)
            if translated is None:
                raise
            raise translated from None
    except SmstudioError as exc:
        console.print(f"[red]error:[/] {escape(exc.problem)}", soft_wrap=True)
        if exc.fix:
            console.print(f"  [yellow]fix:[/] {escape(exc.fix)}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
