"""SSH into Studio apps: `ssh`, `connect`, `ssh-config`, `forward`, `ide`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from smstudio.cli.base import TEAM_FILE, app, console, out, studio
from smstudio.core import aws, config
from smstudio.core.errors import BadInput
from smstudio.core.sagemaker import SageMaker
from smstudio.ssh import connect, ide, proxy, sshconfig
from smstudio.workspaces import apps

# the command after `--`, run in the app instead of a shell
RemoteCommand = Annotated[
    list[str] | None, typer.Argument(help="A command to run instead of a shell.")
]


def _ssh_target(
    team: Path, target: str
) -> tuple[config.Team, sshconfig.StudioHost, dict[str, str]]:
    """TARGET resolved and checked the way the ProxyCommand will use it (clear errors
    here: not running, not registered, agent offline, not yours); the env for ssh."""
    spec, _ = config.load(team)
    clients = aws.Aws(region=spec.domain.region)
    host = connect.resolve(SageMaker.of(clients), spec, target)
    instance_id = connect.preflight(clients, host, spec.domain.region)
    return spec, host, connect.ready_env(host, instance_id)


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
    command: RemoteCommand = None,
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
        raise typer.Exit(proxy.run(command[0], region))
    spec, host, env = _ssh_target(team, target)
    args = connect.ssh_args(host, spec.domain.region, [])
    raise typer.Exit(subprocess.call([*args, *(command or [])], env=env))


@app.command(
    "connect",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def connect_command(
    space: Annotated[
        str,
        typer.Argument(
            help="A space whose remote access the team file enables, or its host "
            "default.<space>.<domain>.studio.sagemaker."
        ),
    ],
    command: RemoteCommand = None,
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
) -> None:
    """SSH into a running space by SageMaker's remote access (StartSession, as you), not
    an SSM managed instance: your laptop's public key goes into your own remote-access
    secret, the app's sshd reads it at login. `smstudio connect alice-dev -- hostname`."""
    spec, sm = studio(team)
    host = (
        sshconfig.parse_host(space)
        if "." in space
        else sshconfig.StudioHost("default", space, apps.find_domain(sm, spec))
    )
    connect.running_app(sm, host)  # a clear error before ssh starts: missing, stopped
    if not connect.remote_access_enabled(sm, host):
        raise BadInput(
            f"space {host.owner} does not have remote access enabled",
            f"set `remote_access = true` for it in the team file and run `smstudio apply`, "
            f"or use SSH over SSM: `smstudio ssh {host.name}`",
        )
    args = connect.ssh_args(host, spec.domain.region, [], transport="remote-access")
    raise typer.Exit(subprocess.call([*args, *(command or [])]))


@app.command("ssh-config")
def ssh_config(
    team: Annotated[Path, typer.Option(help="The team file.")] = TEAM_FILE,
    config_file: Annotated[Path, typer.Option("--file", help="The ssh config to update.")] = Path(
        "~/.ssh/config"
    ),
    transport: Annotated[
        str,
        typer.Option(
            help="How ssh reaches an app: ssm (an SSM managed instance the app registers; "
            "every app with sshd), remote-access (SageMaker's StartSession; spaces with "
            "remote access), auto (remote access where a space has it, else SSM).",
        ),
    ] = "ssm",
    dry_run: Annotated[bool, typer.Option(help="Print the block, change nothing.")] = False,
) -> None:
    """Write one managed block in ~/.ssh/config for every Studio app (idempotent; the
    rest of the file is left as it is): then `ssh <app>.<user-or-space>.<domain>
    .studio.sagemaker` works, and VS Code Remote-SSH and PyCharm see the same hosts."""
    if transport not in connect.TRANSPORTS:
        raise BadInput(
            f"--transport {transport!r} is not one of {', '.join(connect.TRANSPORTS)}",
            "pick ssm, remote-access or auto",
        )
    spec, sm = studio(team)
    keys = connect.ssh_dir() / "keys"
    proxy = connect.proxy_command(spec.domain.region, transport)
    block = sshconfig.config_block(
        proxy, keys, connect.ssh_dir() / "known_hosts", connect.host_key_checking(transport)
    )
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
    raise typer.Exit(subprocess.call(connect.ssh_args(host, spec.domain.region, options), env=env))


@app.command("ide")
def ide_command(
    editor: Annotated[str, typer.Argument(help="vscode or pycharm.")],
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
    if editor == "pycharm":
        _pycharm(team, target, remote_root, write)
        return
    if editor != "vscode":
        raise BadInput(f"no IDE helper for {editor!r}", "use vscode or pycharm")
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


def _pycharm(team: Path, target: str, remote_root: str, write: Path | None) -> None:
    """What PyCharm Professional (or JetBrains Gateway) needs for TARGET: the SSH host,
    every interpreter in the app, the project's path mapping, and how to debug."""
    spec, host, env = _ssh_target(team, target)
    args = connect.ssh_args(host, spec.domain.region, ["-o", "BatchMode=yes"])
    listed = subprocess.run([*args, "smstudio-env", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    try:
        envs = json.loads(listed.stdout.strip().splitlines()[-1]) if listed.returncode == 0 else []
    except (ValueError, IndexError):
        envs = []
    if listed.returncode != 0:
        console.print(
            f"[yellow]could not list the app's environments[/] ({listed.stderr.strip()[-200:]})"
        )
    project = write.resolve().name if write is not None else "PROJECT"
    remote = f"{remote_root.rstrip('/')}/{project}"
    if write is not None:
        deployment = write / ".idea" / "deployment.xml"
        deployment.parent.mkdir(parents=True, exist_ok=True)
        deployment.write_text(ide.deployment_xml(host, str(write), remote))
        console.print(f"{deployment}: {write} <-> {host.name}:{remote}")
    out.print("1. once: smstudio ssh-config   (PyCharm reads ~/.ssh/config)")
    out.print(f"2. SSH host: {host.name}   user: sagemaker-user   (Settings > Tools > SSH "
              "Configurations: 'Parse config file ~/.ssh/config'; JetBrains Gateway: the "
              "same host)")  # fmt: skip
    out.print("3. interpreters (Add Interpreter > On SSH > that host > Existing):")
    for name, path in ide.pycharm_interpreters(envs):
        out.print(f"   interpreter: {path}   # {name}")
    hint = "" if write is not None else "   (--write DIR writes .idea/deployment.xml)"
    out.print(f"4. deployment mapping: this project <-> {remote}{hint}")
    out.print(
        "5. debugging: Run > Debug with the SSH interpreter. PyCharm copies its own "
        "debugger (pydevd) to the app and drives it over the same SSH connection: no "
        "port to forward, nothing to install. (PyCharm cannot attach to debugpy; to "
        "attach to a process already running, use its Python Debug Server with "
        "`ssh -R PORT:127.0.0.1:PORT HOST` and pydevd-pycharm in the environment.)"
    )
