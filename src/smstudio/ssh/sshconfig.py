"""The laptop side of SSH, pure parts: Studio host names, and the one managed block in
~/.ssh/config that serves every app a user owns (VS Code Remote-SSH, PyCharm, plain ssh).

Host names: `<app>.<user-or-space>.<domain>.studio.sagemaker`, e.g.
`default.alice-space.d-abc123def456.studio.sagemaker` (a JupyterLab space's app) or
`default.alice.d-abc123def456.studio.sagemaker` (alice's KernelGateway app `default`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from smstudio.core import facts
from smstudio.core.errors import BadInput, SmstudioError

SUFFIX = ".studio.sagemaker"
SSHD_PORT = facts.SSHD_PORT  # in the container, on 127.0.0.1: sshd runs as the app's user
USER = "sagemaker-user"
BEGIN = "# >>> smstudio: Studio apps over SSH (managed by `smstudio ssh-config`) >>>"
END = "# <<< smstudio <<<"
_PART = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
HOST = re.compile(rf"^(?P<app>{_PART})\.(?P<owner>{_PART})\.(?P<domain>d-[a-z0-9]{{12}})$")


@dataclass(frozen=True)
class StudioHost:
    app: str
    owner: str  # a user profile (KernelGateway app) or a space (JupyterLab app)
    domain: str

    @property
    def name(self) -> str:
        return f"{self.app}.{self.owner}.{self.domain}{SUFFIX}"


def parse_host(name: str) -> StudioHost:
    bare = name.lower().removesuffix(SUFFIX) if name.lower().endswith(SUFFIX) else None
    found = HOST.match(bare) if bare is not None else None
    if found is None:
        raise BadInput(
            f"{name!r} is not a Studio host name",
            f"use <app>.<user-or-space>.<domain-id>{SUFFIX}, "
            f"e.g. default.alice-space.d-abc123def456{SUFFIX}, or a user name",
        )
    return StudioHost(found["app"], found["owner"], found["domain"])


def config_block(
    proxy_command: str, key_dir: Path, known_hosts: Path, host_key_checking: str = "yes"
) -> str:
    """One Host entry for every Studio app: the ProxyCommand reaches the app's sshd (SSM in
    AWS, the container in the local Studio) after pushing the laptop's public key and
    pinning the app's host key (read through the same Run Command), so ssh checks the
    host strictly."""
    lines = [
        BEGIN,
        f"Host *{SUFFIX}",
        f"  ProxyCommand {proxy_command} %h",
        f"  User {USER}",
        f"  IdentityFile {key_dir}/%h",
        "  IdentitiesOnly yes",
        f"  UserKnownHostsFile {known_hosts}",
        f"  StrictHostKeyChecking {host_key_checking}",
        "  ServerAliveInterval 30",
        "  ServerAliveCountMax 4",
        END,
    ]
    return "\n".join(lines) + "\n"


def merge(current: str, block: str) -> str:
    """`current` with the managed block replaced (or added at the top, where ssh's
    first-match rule gives it precedence over a later `Host *`); the rest untouched."""
    if BEGIN in current:
        before, _, rest = current.partition(BEGIN)
        if END not in rest:
            raise SmstudioError(
                f"~/.ssh/config has the line {BEGIN!r} but not {END!r}",
                "restore or delete the smstudio block by hand, then run it again",
            )
        _, _, after = rest.partition(END)
        return before + block.rstrip("\n") + after
    return block + ("\n" + current if current.strip() else "")


def pin_host_keys(known_hosts: str, host: str, keys: list[str]) -> str:
    """known_hosts with `host`'s lines replaced by `keys` ("<type> <base64>" each)."""
    kept = [line for line in known_hosts.splitlines() if line.split(" ", 1)[0] != host]
    return "".join(f"{line}\n" for line in [*kept, *(f"{host} {k}" for k in keys)])
