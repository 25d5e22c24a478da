"""`smstudio exec` against the local Studio, the way it works in AWS: a presigned URL
followed to the app, a terminal through its Jupyter terminals API, the command's output
and exit code. As alice in her JupyterLab space and her Classic KernelGateway app; bob
refused on hers; the platform team with only the policy `iam policy --exec-admin` prints."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from smstudio.local import stack
from tests.e2e.conftest import Studio, local_studio, open_app, settle
from tests.emulator.conftest import private_space, write_team

LIMIT = 60
KG_APP = "tools"


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]
) -> Iterator[Studio]:
    """alice's JupyterLab space and her KernelGateway app, both running (started as
    alice, in parallel)."""
    root = tmp_path_factory.mktemp("exec-studio")
    with local_studio(root, write_team(root), built_images, LIMIT) as running:
        sm = running.user("alice").client("sagemaker")
        space = private_space(sm, running["domain"], "alice", "alice-space")
        classic = {"DomainId": running["domain"], "UserProfileName": "alice",
                   "AppType": "KernelGateway", "AppName": KG_APP}  # fmt: skip
        for app in (space, classic):
            sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
        for app in (space, classic):
            found = settle(sm, app)
            assert found["Status"] == "InService", found.get("FailureReason")
        running.update(space=space, classic=classic)
        yield running


def smstudio(studio: Studio, who: str | None, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`smstudio exec ARGS` as `who` (options before `--`, as a user types them)."""
    at = args.index("--") if "--" in args else len(args)
    command = ("exec", *args[:at], "--team", str(studio["team"]), *args[at:])
    return studio.cli(who, *command, timeout=180, env=env)


def terminals(studio: Studio, app: dict[str, str]) -> list[Any]:
    """The app's open terminals, as alice sees them."""
    base, browser = open_app(studio.user("alice").client("sagemaker"), app, "alice")
    listed = browser.get(f"{base}/api/terminals", timeout=10)
    assert listed.status_code == 200, listed.text
    return list(listed.json())


def test_exec_in_own_space_prints_output_and_exit_code(studio: Studio) -> None:
    done = smstudio(studio, "alice", "alice", "--", "id", "-un")
    assert (done.returncode, done.stdout) == (0, "sagemaker-user\n"), done.stderr
    failed = smstudio(studio, "alice", "alice", "--", "false")
    assert failed.returncode == 1 and failed.stdout == "", failed.stderr
    # the shell reads the words (as ssh's remote command), stdout and stderr both shown
    mixed = smstudio(studio, "alice", "alice", "--", "echo out; echo err >&2; cd ~ && pwd; exit 7")
    assert mixed.returncode == 7, mixed.stderr
    assert mixed.stdout.splitlines() == ["out", "err", "/home/sagemaker-user"]
    assert "error:" not in mixed.stderr
    assert terminals(studio, studio["space"]) == []  # every terminal deleted afterwards


def test_exec_in_a_kernelgateway_app_runs_in_its_container(studio: Studio) -> None:
    done = smstudio(studio, "alice", "alice", "--app", KG_APP, "--",
                    "id -un; echo $SAGEMAKER_APP_TYPE; python3 -c 'print(6*7)'")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["sagemaker-user", "KernelGateway", "42"]
    assert smstudio(studio, "alice", "alice", "--app", KG_APP, "--", "exit 3").returncode == 3
    assert terminals(studio, studio["classic"]) == []
    # `run` gets in the same way, with a kernel instead of a terminal
    ran = studio.cli("alice", "run", "alice", "6*7", "--app", KG_APP)
    assert (ran.returncode, ran.stdout.strip()) == (0, "42"), ran.stderr


def test_bob_is_refused_on_alices_apps(studio: Studio) -> None:
    for target in (("alice",), ("alice", "--app", KG_APP)):
        refused = smstudio(studio, "bob", *target, "--", "id", "-un")
        assert refused.returncode == 1, refused.stderr
        assert "error:" in refused.stderr and "fix:" in refused.stderr
        assert "sagemaker:CreatePresignedDomainUrl" in refused.stderr
        assert "Traceback" not in refused.stderr and refused.stdout == ""
    # nor through a space of alice's opened as himself
    sideways = smstudio(studio, "bob", "bob", "--space", "alice-space", "--", "true")
    assert sideways.returncode != 0 and "error:" in sideways.stderr


def test_exec_refuses_what_is_not_running(studio: Studio) -> None:
    private_space(studio.user("alice").client("sagemaker"), studio["domain"], "alice", "alice-idle")
    done = smstudio(studio, "alice", "alice", "--space", "alice-idle", "--", "true")
    assert done.returncode == 1
    assert "alice-idle/JupyterLab/default is not running" in done.stderr
    assert "smstudio up alice --space alice-idle" in done.stderr
    missing = smstudio(studio, "alice", "alice", "--space", "alice-nowhere", "--", "true")
    assert missing.returncode == 1 and "error:" in missing.stderr and "fix:" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_platform_team_execs_with_the_exec_admin_policy(studio: Studio) -> None:
    printed = studio.cli(None, "iam", "policy", "--exec-admin")
    assert printed.returncode == 0, printed.stderr
    policy = json.loads(printed.stdout)["exec-admin"]
    clients = studio["clients"]
    iam_client, sts = clients.client("iam"), clients.client("sts")
    account = sts.get_caller_identity()["Account"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}  # fmt: skip
    iam_client.create_role(RoleName="platform-admin", AssumeRolePolicyDocument=json.dumps(trust))
    iam_client.put_role_policy(RoleName="platform-admin", PolicyName=policy["policy"],
                               PolicyDocument=json.dumps(policy["document"]))  # fmt: skip
    made = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/platform-admin",
                           RoleSessionName="admin")["Credentials"]  # fmt: skip
    env = stack.env_exports(studio["ports"], made)
    for target in (("alice",), ("alice", "--app", KG_APP)):
        done = smstudio(studio, None, *target, "--", "id", "-un", env=env)
        assert (done.returncode, done.stdout) == (0, "sagemaker-user\n"), done.stderr
    # the policy opens apps, and does nothing else
    stop = studio.cli(None, "down", "alice", "--space", "alice-space", env=env)
    assert stop.returncode == 1 and "sagemaker:DeleteApp" in stop.stderr, stop.stderr


def test_timeout_and_ctrl_c_end_the_command_and_its_terminal(studio: Studio) -> None:
    slow = smstudio(studio, "alice", "alice", "--timeout", "3", "--", "echo started; sleep 60")
    assert slow.returncode == 1 and slow.stdout == "started\n", slow.stderr
    assert "did not finish within 3 s" in slow.stderr and "fix:" in slow.stderr
    assert terminals(studio, studio["space"]) == []

    command = [sys.executable, "-m", "smstudio.cli", "exec", "alice", "--team",
               str(studio["team"]), "--", "echo started; sleep 60; echo never"]  # fmt: skip
    process = subprocess.Popen(command, env=studio.user_env("alice"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline() == "started\n"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130 and "never" not in stdout, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert terminals(studio, studio["space"]) == []
