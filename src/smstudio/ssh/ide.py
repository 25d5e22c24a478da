"""What IDEs need to work on a Studio app over SSH, as pure builders: VS Code's
Remote-SSH settings and a debugpy "attach" configuration through a forwarded port."""

from __future__ import annotations

import json
from typing import Any

from smstudio.core.facts import HOME
from smstudio.ssh.sshconfig import StudioHost

# EFS homes refuse chown: VS Code's server unpacks with tar, which would try.
TAR_OPTIONS = "--no-same-owner"


def remote_ssh_settings(host: StudioHost) -> dict[str, Any]:
    """VS Code user settings for Remote-SSH on this host."""
    return {
        "remote.SSH.remotePlatform": {host.name: "linux"},
        "remote.SSH.useLocalServer": False,
        "remote.SSH.serverInstallPath": {host.name: f"{HOME}/.vscode-server-smstudio"},
    }


def attach_configuration(host: StudioHost, local_port: int, remote_root: str) -> dict[str, Any]:
    return {
        "name": f"Attach to debugpy on {host.owner} ({local_port})",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": local_port},
        "pathMappings": [{"localRoot": "${workspaceFolder}", "remoteRoot": remote_root}],
        "justMyCode": False,
    }


def merge_launch(current: str, configuration: dict[str, Any]) -> str:
    """launch.json with `configuration` added or replaced by name; others kept."""
    document = json.loads(current) if current.strip() else {}
    configs = [
        c for c in document.get("configurations", []) if c.get("name") != configuration["name"]
    ]
    document = {"version": "0.2.0", **document, "configurations": [*configs, configuration]}
    return json.dumps(document, indent=2) + "\n"
