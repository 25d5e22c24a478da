"""IDE helpers: the debugpy attach configuration and launch.json merging."""

from __future__ import annotations

import json

from smstudio.ssh import ide
from smstudio.ssh.sshconfig import StudioHost

HOST = StudioHost("default", "alice-space", "d-abc123def456")


def test_attach_configuration_goes_through_the_forwarded_port() -> None:
    attach = ide.attach_configuration(HOST, 5679, "/home/sagemaker-user/churn")
    assert attach["type"] == "debugpy" and attach["request"] == "attach"
    assert attach["connect"] == {"host": "127.0.0.1", "port": 5679}
    assert attach["pathMappings"][0]["remoteRoot"] == "/home/sagemaker-user/churn"


def test_launch_json_keeps_other_configurations_and_replaces_its_own() -> None:
    theirs = {"version": "0.2.0", "configurations": [{"name": "Run tests", "type": "python"}]}
    attach = ide.attach_configuration(HOST, 5678, "/home/sagemaker-user")
    once = ide.merge_launch(json.dumps(theirs), attach)
    twice = ide.merge_launch(once, attach)
    assert once == twice
    names = [c["name"] for c in json.loads(twice)["configurations"]]
    assert names == ["Run tests", attach["name"]]
    assert json.loads(ide.merge_launch("", attach))["configurations"] == [attach]
    settings = ide.remote_ssh_settings(HOST)
    assert settings["remote.SSH.remotePlatform"] == {HOST.name: "linux"}
