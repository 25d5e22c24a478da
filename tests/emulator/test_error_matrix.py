"""Every CLI command against every way AWS can fail: no credentials, an endpoint that is
down, an expired session, a refusal, throttling past the retries, a domain that is not
there. Each ends in one screen: `error:` with a fix, exit 1 or 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import TEAM, LocalAws, write_team

COMMANDS = [
    ("status",), ("plan",), ("apply", "--yes"), ("whoami",), ("up", "alice"), ("down", "alice"),
    ("open", "alice"), ("run", "alice", "1+1"), ("ssh", "alice", "--", "true"),
    ("forward", "alice", "8501"), ("ide", "vscode", "alice"), ("ssh-config", "--dry-run"),
    ("git-token", "set", "alice"), ("iam", "policy", "--user", "alice"), ("docker-host", "setup"),
    ("connect", "alice-dev", "--", "true"), ("remind", "--dry-run"),
    ("exec", "alice", "--", "true"), ("exec", "alice", "--app", "tools", "--", "true"),
    ("iam", "policy", "--exec-admin"),
]  # fmt: skip
# the team's remote Docker host, for `docker-host setup` (the other commands do not mind)
REMOTE = TEAM.replace("[[users]]", '[docker]\nremote_host = "mi-0123456789abcdef0"\n\n[[users]]', 1)
# ... and reminders, for `remind`
REMOTE = REMOTE.replace("[[users]]", '[reminders]\nsender = "ops@example.com"\n\n[[users]]', 1)


class Throttling(BaseHTTPRequestHandler):
    """An AWS endpoint that throttles everything, in each protocol's words."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Amz-Target"):
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        else:
            body = ("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                    "<Message>Rate exceeded</Message></Error></ErrorResponse>")  # fmt: skip
        data = body.encode()
        self.send_response(400)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST


@pytest.fixture
def throttling() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(args: tuple[str, ...], env: dict[str, str], team: Path, state: Path) -> subprocess.CompletedProcess[str]:
    options = ["--team", str(team)]
    if "--" in args:  # options before the remote command
        at = args.index("--")
        command = [sys.executable, "-m", "smstudio.cli", *args[:at], *options, *args[at:]]
    else:
        command = [sys.executable, "-m", "smstudio.cli", *args, *options]
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(command, env={**base, "SMSTUDIO_STATE_DIR": str(state),
                                        "SMSTUDIO_AWS_MAX_ATTEMPTS": "2", **env},
                          capture_output=True, text=True, timeout=120, input="tok\n")  # fmt: skip


def keys_env(keys: dict[str, str], url: str) -> dict[str, str]:
    env = {"AWS_ACCESS_KEY_ID": keys["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
           "AWS_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}  # fmt: skip
    if keys.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = keys["SessionToken"]
    return env


def test_every_command_fails_in_words(local: LocalAws, throttling: str, tmp_path: Path) -> None:
    team = write_team(tmp_path, REMOTE)
    missing = write_team(tmp_path, REMOTE.replace('name = "ml-team"', 'id = "d-000000000000"'),
                         "missing.toml")  # fmt: skip
    nobody = local.user("nobody", {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"})
    expired = local.user("late", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    local.server.gateway.identities.expire(expired["AccessKeyId"])
    fake = {"AccessKeyId": "AKIAEXAMPLEEXAMPLE01", "SecretAccessKey": "x"}
    conditions: dict[str, tuple[dict[str, str], Path]] = {
        "no credentials": ({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                            "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}, team),
        "endpoint down": (keys_env(fake, "http://127.0.0.1:9"), team),
        "expired token": (keys_env(expired, local.url), team),
        "access denied": (keys_env(nobody, local.url), team),
        "throttled": (keys_env(fake, throttling), team),
        "not found": (keys_env(local.root, local.url), missing),
    }  # fmt: skip
    jobs = [(name, args) for name in conditions for args in COMMANDS]

    def one(job: tuple[str, tuple[str, ...]]) -> tuple[str, tuple[str, ...], Any]:
        name, args = job
        env, file = conditions[name]
        return name, args, run(args, env, file, tmp_path / "state")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, jobs))
    problems = []
    for name, args, done in results:
        where = f"{name}: smstudio {' '.join(args)}"
        if "Traceback" in done.stderr or done.returncode not in (0, 1, 2):
            problems.append(f"{where}: exit {done.returncode}\n{done.stderr[-800:]}")
        elif done.returncode != 0 and not ("error:" in done.stderr and "fix:" in done.stderr):
            problems.append(f"{where}: no problem-and-fix\n{done.stderr[-800:]}")
        elif len(done.stderr.splitlines()) > 25:
            problems.append(f"{where}: more than a screen\n{done.stderr[-800:]}")
        elif name != "not found" and done.returncode == 0 and args[0] not in ("iam",):
            problems.append(f"{where}: succeeded")
    assert problems == [], "\n\n".join(problems)
    said = {(n, a[0]): d.stderr for n, a, d in results}
    assert "no AWS credentials found" in said[("no credentials", "status")]
    assert "is not running" in said[("endpoint down", "status")]
    assert "session has expired" in said[("expired token", "status")]
    assert "AccessDenied" in said[("access denied", "status")]
    assert "throttled" in said[("throttled", "status")]
