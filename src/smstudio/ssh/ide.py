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


IMAGE_PYTHON = "/opt/smstudio/venv/bin/python"  # the image's own environment


def pycharm_interpreters(envs: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(name, path) of every interpreter PyCharm can use in the app: the image's, then
    each persisted environment's (from `smstudio-env list --json`)."""
    found = [("the image's environment", IMAGE_PYTHON)]
    found += [(f"{e['project']} ({e['kind']})", e["python"]) for e in envs]
    return found


def deployment_xml(host: StudioHost, local: str, remote: str) -> str:
    """PyCharm's .idea/deployment.xml: the project folder mapped onto the home, over the
    SSH host (an SFTP server of the same name, from ~/.ssh/config)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project version="4">
  <component name="PublishConfigData" serverName="{host.name}" remoteFilesAllowedToDisappearOnAutoupload="false">
    <serverData>
      <paths name="{host.name}">
        <serverdata>
          <mappings>
            <mapping deploy="{remote}" local="$PROJECT_DIR$" web="/" />
          </mappings>
        </serverdata>
      </paths>
    </serverData>
  </component>
</project>
"""  # noqa: E501 (PyCharm's own file, as it writes it)
