"""SSH into an app of the local Studio with a real sshd, from alice's laptop as alice (her
own role): commands as the app's user with its environment, the generated ssh config with
plain ssh and scp and a pinned host key, a port forward, and what must be refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from smstudio.ssh import sshconfig
from tests.e2e.conftest import Studio, container_of, local_studio, log_lines, settle
from tests.emulator.conftest import private_space, write_team
from tests.helpers import wait_for

LIMIT = 60


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]
) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("ssh-studio")
    with local_studio(root, write_team(root), built_images, LIMIT) as running:
        sm = running.user("alice").client("sagemaker")
        app = private_space(sm, running["domain"], "alice", "alice-space")
        sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
        found = settle(sm, app)
        assert found["Status"] == "InService", found.get("FailureReason")
        host = sshconfig.StudioHost("default", "alice-space", running["domain"]).name
        laptop = root / "laptop"
        laptop.mkdir()
        running.update(app=app, host=host, laptop=laptop)
        yield running


def alice_env(studio: Studio) -> dict[str, str]:
    """alice's laptop: her own role's credentials, her own state folder."""
    return {**studio.user_env("alice"), "SMSTUDIO_STATE_DIR": str(studio["laptop"] / "state")}


def smstudio(studio: Studio, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI as alice runs it."""
    command = [sys.executable, "-m", "smstudio.cli", *args]
    return subprocess.run(command, env=alice_env(studio), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


@contextmanager
def forwarding(studio: Studio, local: int, remote: int) -> Iterator[None]:
    """`smstudio forward alice LOCAL:REMOTE` running for the block, as alice."""
    env = alice_env(studio)
    command = [sys.executable, "-m", "smstudio.cli", "forward", "--team", str(studio["team"]),
               "alice", f"{local}:{remote}"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)


def ssh_config(studio: Studio) -> Path:
    config = studio["laptop"] / "ssh_config"
    if not config.exists():
        done = smstudio(studio, "ssh-config", "--team", str(studio["team"]), "--file", str(config))
        assert done.returncode == 0, done.stderr
    return config


def test_commands_run_as_the_app_user_with_its_environment(studio: Studio) -> None:
    team = str(studio["team"])
    done = smstudio(studio, "ssh", "--team", team, "alice", "--", "id", "-un")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sagemaker-user"
    done = smstudio(studio, "ssh", "--team", team, "alice", "--", "env")
    assert done.returncode == 0, done.stderr
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    endpoint, credentials, space = (env.get(k, "") for k in (
        "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "SAGEMAKER_SPACE_NAME"))  # fmt: skip
    assert endpoint == "http://127.0.0.1:4566" and space == "alice-space", env
    assert credentials == "http://127.0.0.1:4566/_local/credentials" and not env.get(
        "AWS_ACCESS_KEY_ID"
    )
    assert env["TAR_OPTIONS"] == "--no-same-owner"  # VS Code's server on an EFS home
    # The app's credentials work over SSH: its execution-role session, as alice's app.
    call = 'python3 -c \'import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])\''
    done = smstudio(studio, "ssh", "--team", team, "alice", "--", call)
    assert done.stdout.strip().endswith(":assumed-role/smstudio-ml-team-execution/SageMaker"), (
        done.stderr
    )


def test_generated_config_serves_plain_ssh_and_scp(studio: Studio) -> None:
    config, host, laptop = ssh_config(studio), studio["host"], studio["laptop"]
    text = config.read_text()
    assert text.startswith(sshconfig.BEGIN) and "ProxyCommand" in text
    again = smstudio(studio, "ssh-config", "--team", str(studio["team"]), "--file", str(config))
    assert "already up to date" in again.stdout and config.read_text() == text

    env = alice_env(studio)
    plain = subprocess.run(["ssh", "-F", str(config), host, "hostname && pwd"], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert plain.returncode == 0 and "/home/sagemaker-user" in plain.stdout, plain.stderr
    up = laptop / "up.txt"
    up.write_text("from the laptop\n")
    scp = ["scp", "-q", "-F", str(config)]
    assert subprocess.run([*scp, str(up), f"{host}:up.txt"], env=env, timeout=60).returncode == 0
    box = container_of(studio["sm"], studio["app"])
    assert box.exec_run(["cat", "/home/sagemaker-user/up.txt"]).output == b"from the laptop\n"
    box.exec_run(["sh", "-c", "echo from the app > ~/down.txt"])
    down = laptop / "down.txt"
    assert (
        subprocess.run([*scp, f"{host}:down.txt", str(down)], env=env, timeout=60).returncode == 0
    )
    assert down.read_text() == "from the app\n"
    # the host key was pinned from the key push, and ssh checks it strictly
    assert "StrictHostKeyChecking yes" in text
    known = (laptop / "state" / "ssh" / "known_hosts").read_text()
    pub = box.exec_run(["cat", "/home/sagemaker-user/.smstudio/ssh/ssh_host_ed25519_key.pub"])
    assert known.split() == [host, *pub.output.decode().split()[:2]]


def test_port_forward_reaches_a_server_in_the_app(studio: Studio) -> None:
    box = container_of(studio["sm"], studio["app"])
    box.exec_run(["python3", "-m", "http.server", "8765", "--bind", "127.0.0.1",
                  "--directory", "/opt/smstudio"], detach=True)  # fmt: skip
    local = 18765 + os.getpid() % 1000
    with forwarding(studio, local, 8765):

        def answers() -> requests.Response | None:
            try:
                return requests.get(f"http://127.0.0.1:{local}/", timeout=2)
            except requests.RequestException:
                return None

        page = wait_for(answers, 60, "the forwarded port")
        assert page.status_code == 200 and "lcc/" in page.text


def test_what_sshd_refuses(studio: Studio) -> None:
    config, host, laptop = ssh_config(studio), studio["host"], studio["laptop"]
    env = alice_env(studio)
    base = ["ssh", "-F", str(config), "-o", "BatchMode=yes"]
    password = subprocess.run(
        [*base, "-o", "PreferredAuthentications=password,keyboard-interactive",
         "-o", "PubkeyAuthentication=no", host, "true"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert password.returncode != 0 and "Permission denied" in password.stderr
    stranger = laptop / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    # The same config with another key: the proxy still pushes the host's own key, and
    # the stranger's is refused.
    lines = config.read_text().splitlines()
    swapped = [f"  IdentityFile {stranger}" if "IdentityFile" in ln else ln for ln in lines]
    other_config = laptop / "ssh_config_stranger"
    other_config.write_text("\n".join(swapped) + "\n")
    other_key = subprocess.run(
        ["ssh", "-F", str(other_config), "-o", "BatchMode=yes", host, "true"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert other_key.returncode != 0 and "Permission denied" in other_key.stderr
    # Listening on loopback only: every socket on sshd's port is bound to 127.0.0.1.
    box = container_of(studio["sm"], studio["app"])
    tcp = box.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"]).output.decode().splitlines()
    port = f":{sshconfig.SSHD_PORT:04X}"
    listening = [line.split()[1] for line in tcp[1:] if line.split()[3:4] == ["0A"]]
    on_port = [address for address in listening if address.endswith(port)]
    assert on_port == ["0100007F" + port], on_port
    # Root cannot log in, and nothing but the app's user is allowed.
    sshd = box.exec_run(["cat", "/tmp/smstudio-sshd/sshd_config"]).output.decode()
    assert "PermitRootLogin no" in sshd and "PasswordAuthentication no" in sshd


def as_user(studio: Studio, user: str) -> dict[str, str]:
    """`eval "$(smstudio local env --user USER --team TEAM)"`: the user's own role session."""
    base = str(studio["ports"].gateway)
    done = subprocess.run(
        [sys.executable, "-m", "smstudio.cli", "local", "env", "--user", user,
         "--team", str(studio["team"])],
        env={**studio.user_env(None), "SMSTUDIO_LOCAL_PORT": base,
             "SMSTUDIO_STATE_DIR": str(studio["layout"].root.parent)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines()
                   if line.startswith("export "))  # fmt: skip
    assert exports["AWS_ACCESS_KEY_ID"].startswith("ASIA") and exports["AWS_SESSION_TOKEN"]
    return exports


def test_app_registers_with_ssm_as_its_owner(studio: Studio) -> None:
    """At start the app registers as a managed instance tagged with its owner (from the
    profile's studiouserid tag) and its ARN; the ssh step logs it."""
    ssm = studio["clients"].client("ssm")
    arn = studio["sm"].describe_app(**studio["app"])["AppArn"]
    found = ssm.describe_instance_information(
        Filters=[{"Key": "tag:SSHResourceArn", "Values": [arn]}]
    )["InstanceInformationList"]
    assert [i["PingStatus"] for i in found] == ["Online"], found
    tags = ssm.list_tags_for_resource(ResourceType="ManagedInstance",
                                      ResourceId=found[0]["InstanceId"])["TagList"]  # fmt: skip
    by_key = {t["Key"]: t["Value"] for t in tags}
    assert by_key["SSHOwner"] == "alice" and by_key["SSHResourceArn"] == arn
    assert set(by_key) >= {"SSHCreator", "SSHTimestamp", "SSHResourceName"}
    lines = log_lines(studio["logs"], studio["app"])
    assert any(f"registered with SSM as {found[0]['InstanceId']}" in ln for ln in lines), lines


def test_bob_is_refused_alices_app(studio: Studio) -> None:
    """The SSHOwner rule, as the user policy would apply it in AWS: bob's own identity
    cannot push a key to, or open a session on, alice's app; alice's identity can."""
    team, host = str(studio["team"]), studio["host"]
    env = {
        **studio.user_env(None),
        **as_user(studio, "bob"),
        "SMSTUDIO_STATE_DIR": str(studio["laptop"] / "bob"),
    }
    command = [sys.executable, "-m", "smstudio.cli", "ssh", "--team", team, host, "--", "id"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout
    assert f"{host} is not yours" in done.stderr and "belongs to someone else" in done.stderr
    assert "Traceback" not in done.stderr
    assert "ssm:SendCommand" in done.stderr and "smstudio-ml-team-user-bob/bob" in done.stderr
    # the ProxyCommand itself refuses too (bob writing his own ssh config)
    proxy = [sys.executable, "-m", "smstudio.cli", "ssh", "proxy", host]
    done = subprocess.run(proxy, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 1 and "is not yours" in done.stderr
    alice = {**studio.user_env(None), **as_user(studio, "alice"),
             "SMSTUDIO_STATE_DIR": str(studio["laptop"] / "alice")}  # fmt: skip
    command = [sys.executable, "-m", "smstudio.cli", "ssh", "--team", team, host, "--", "id", "-un"]
    done = subprocess.run(command, env=alice, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "sagemaker-user", done.stderr


def test_preflight_errors_say_what_to_do(studio: Studio) -> None:
    done = smstudio(studio, "ssh", "--team", str(studio["team"]), "bob", "--", "true")
    assert done.returncode == 1
    assert "no space or user 'bob-space'" in done.stderr and "smstudio up" in done.stderr
    private_space(studio.user("bob").client("sagemaker"), studio["domain"], "bob", "bob-space")
    done = smstudio(studio, "ssh", "--team", str(studio["team"]), "bob", "--", "true")
    assert done.returncode == 1
    assert "not running" in done.stderr and "smstudio up" in done.stderr
    done = smstudio(studio, "ssh", "--team", str(studio["team"]), "alice.example.com")
    assert done.returncode == 2 and "not a Studio host name" in done.stderr


class Dap:
    """A Debug Adapter Protocol client, as an IDE speaks it to debugpy."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""
        self.seq = 0
        self.events: list[dict[str, Any]] = []

    def _read(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(head.split(b":")[1])
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buffer = rest[length:]
        return dict(json.loads(rest[:length]))

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command,
                           "arguments": arguments}).encode()  # fmt: skip
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def response(self, seq: int) -> dict[str, Any]:
        while True:
            message = self._read()
            if message["type"] == "response" and message["request_seq"] == seq:
                assert message["success"], message
                return dict(message.get("body") or {})
            if message["type"] == "event":
                self.events.append(message)

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        return self.response(self.send(command, **arguments))

    def event(self, name: str) -> dict[str, Any]:
        while True:
            for event in self.events:
                if event["event"] == name:
                    self.events.remove(event)
                    return dict(event.get("body") or {})
            self.events.append(self._read())


PROGRAM = """import time
def compute():
    answer = 6 * 7
    return answer
time.sleep(0.5)
print(compute())
"""


def test_remote_debugging_through_a_forward(studio: Studio) -> None:
    """debugpy listens in the app; a DAP client here attaches through `smstudio forward`,
    sets a breakpoint, the program stops there and a local variable is read."""
    box = container_of(studio["sm"], studio["app"])
    box.exec_run(["sh", "-c", f"cat > /tmp/prog.py <<'EOF'\n{PROGRAM}EOF"])
    box.exec_run(["python3", "-m", "debugpy", "--listen", "127.0.0.1:5678", "--wait-for-client",
                  "/tmp/prog.py"], detach=True)  # fmt: skip
    project = studio["laptop"] / "project"
    wrote = smstudio(studio, "ide", "vscode", "alice", "--port", str(15678 + os.getpid() % 1000),
                     "--write", str(project), "--team", str(studio["team"]))  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    assert "Connect to Host" in wrote.stdout and studio["host"] in wrote.stdout
    (attach,) = json.loads((project / ".vscode/launch.json").read_text())["configurations"]
    local = attach["connect"]["port"]  # the IDE's own configuration, as VS Code would use it
    with forwarding(studio, local, 5678):

        def attached() -> Dap | None:
            try:
                client = Dap(local)
                client.request("initialize", adapterID="debugpy", clientID="smstudio-test",
                               linesStartAt1=True, columnsStartAt1=True, pathFormat="path")  # fmt: skip
                return client
            except OSError:
                return None

        dap = wait_for(attached, 60, "debugpy through the forward")
        attach = dap.send("attach", justMyCode=True)
        dap.event("initialized")
        placed = dap.request("setBreakpoints", source={"path": "/tmp/prog.py"},
                             breakpoints=[{"line": 4}])  # fmt: skip
        assert placed["breakpoints"][0]["verified"], placed
        dap.request("configurationDone")
        dap.response(attach)
        stopped = dap.event("stopped")
        assert stopped["reason"] == "breakpoint"
        frame = dap.request("stackTrace", threadId=stopped["threadId"])["stackFrames"][0]
        assert frame["line"] == 4 and frame["name"] == "compute"
        scopes = dap.request("scopes", frameId=frame["id"])["scopes"]
        local_vars = dap.request("variables", variablesReference=scopes[0]["variablesReference"])
        values = {v["name"]: v["value"] for v in local_vars["variables"]}
        assert values["answer"] == "42"
        dap.request("continue", threadId=stopped["threadId"])
        dap.sock.close()


def test_a_restarted_app_replaces_its_registration(studio: Studio) -> None:
    """The previous registration of the same app is removed at start (by the app itself,
    as its own user): one managed instance per app, however often it restarts."""
    sm, ssm = studio.user("alice").client("sagemaker"), studio["clients"].client("ssm")
    arn = sm.describe_app(**studio["app"])["AppArn"]
    by_arn = [{"Key": "tag:SSHResourceArn", "Values": [arn]}]
    (before,) = ssm.describe_instance_information(Filters=by_arn)["InstanceInformationList"]
    sm.delete_app(**studio["app"])
    assert settle(sm, studio["app"])["Status"] == "Deleted"
    (stale,) = ssm.describe_instance_information(Filters=by_arn)["InstanceInformationList"]
    assert stale["PingStatus"] == "ConnectionLost"
    sm.create_app(**studio["app"], ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, studio["app"])["Status"] == "InService"
    (after,) = ssm.describe_instance_information(Filters=by_arn)["InstanceInformationList"]
    assert after["InstanceId"] != before["InstanceId"] and after["PingStatus"] == "Online"
    done = smstudio(studio, "ssh", "--team", str(studio["team"]), "alice", "--", "true")
    assert done.returncode == 0, done.stderr


def test_pycharm_gets_the_host_the_interpreters_and_the_mapping(studio: Studio) -> None:
    """`ide pycharm`: the SSH host, every interpreter in the app (a persisted environment
    among them), the project's mapping; plain ssh with that host runs the named
    interpreter, which imports the environment's packages."""
    box = container_of(studio["sm"], studio["app"])
    made = box.exec_run(["bash", "-lc", "smstudio-env new charm tabulate"], user="1000:100")
    assert made.exit_code == 0, made.output.decode()[-500:]
    project = studio["laptop"] / "charm"
    project.mkdir(exist_ok=True)
    done = smstudio(studio, "ide", "pycharm", "--team", str(studio["team"]), "--write", str(project),
                    "alice", timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    host = studio["host"]
    assert f"SSH host: {host}" in done.stdout
    interpreters = [line.split("interpreter:", 1)[1].split("#")[0].strip()
                    for line in done.stdout.splitlines() if "interpreter:" in line]  # fmt: skip
    assert interpreters[0] == "/opt/smstudio/venv/bin/python"
    (charm,) = [path for path in interpreters if "charm" in path]
    deployment = (project / ".idea" / "deployment.xml").read_text()
    assert 'deploy="/home/sagemaker-user/charm"' in deployment and host in deployment
    config = ssh_config(studio)
    ran = subprocess.run(["ssh", "-F", str(config), host, charm, "-c",
                          "'import sys, tabulate; print(sys.prefix)'"],
                         env=alice_env(studio), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 0 and "charm" in ran.stdout, ran.stderr
