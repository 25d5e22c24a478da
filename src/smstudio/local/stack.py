"""`smstudio local up|down|status|env`: the local Studio's services, on 127.0.0.1 only,
with their state under one folder so `down` then `up` loses nothing.

- the AWS endpoint (smstudio.local.gateway): every request authenticated and authorized,
  then served by the Studio control plane (SageMaker, SSH's SSM operations; studio.json),
  by its STS, or by moto in the same process (IAM, ECR, S3, SSM, Secrets Manager, SES,
  CloudWatch Logs, EFS, EventBridge, Lambda; aws-journal.jsonl, replayed at `up`), and the
  app runtime. The account's root key is in admin-credentials.json (mode 600).
- the distribution registry standing in for ECR, storage in registry/.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import requests

from smstudio.core import dockerhost, project, wait
from smstudio.core.errors import SmstudioError
from smstudio.images import localbase
from smstudio.local import durable

HOST = "127.0.0.1"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Ports:
    gateway: int = 4566
    registry: int = 4567

    @classmethod
    def from_env(cls) -> Ports:
        return cls.at(int(os.environ.get("SMSTUDIO_LOCAL_PORT", "4566")))

    @classmethod
    def at(cls, base: int) -> Ports:
        return cls(base, base + 1)


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def default(cls) -> Layout:
        return cls(project.state_dir() / "local")

    @property
    def pids(self) -> Path:
        return self.root / "pids.json"

    @property
    def admin(self) -> Path:
        return self.root / "admin-credentials.json"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def _ephemeral_start(default: int = 32768) -> int:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default
    return max(start, 20100)


def free_port_base(tries: int = 50) -> int:
    """A port with the next one also free on 127.0.0.1 (for Ports.at(base)), so parallel
    stacks (tests, benches) never collide. Below the kernel's ephemeral range: a port from
    there can be taken by any outgoing connection between this choice and its use."""
    for _ in range(tries):
        base = random.randrange(20000, _ephemeral_start() - 2)
        try:
            for port in (base, base + 1):
                with socket.socket() as sock:
                    sock.bind((HOST, port))
            return base
        except OSError:
            continue
    raise SmstudioError("no two consecutive free ports on 127.0.0.1", "free some ports")


def endpoints(ports: Ports) -> dict[str, str]:
    return {"aws": f"http://{HOST}:{ports.gateway}", "registry": f"{HOST}:{ports.registry}"}


def admin_keys(layout: Layout) -> dict[str, str]:
    """The local Studio's root key (its platform admin), written by its AWS endpoint."""
    keys, _ = durable.read_json(layout.admin)
    if not isinstance(keys, dict):
        raise SmstudioError(
            f"the local Studio in {layout.root} has no admin key yet",
            "start it with `smstudio local up`",
        )
    return {k: str(v) for k, v in keys.items()}


def env_exports(ports: Ports, keys: dict[str, str]) -> dict[str, str]:
    """What points boto3, the AWS CLI and smstudio at the local Studio, as `keys`."""
    out = {
        "AWS_ENDPOINT_URL": endpoints(ports)["aws"],
        "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "SMSTUDIO_LOCAL_REGISTRY": endpoints(ports)["registry"],
    }
    if keys.get("SessionToken"):
        out["AWS_SESSION_TOKEN"] = keys["SessionToken"]
    return out


def _health_urls(ports: Ports) -> dict[str, str]:
    urls = endpoints(ports)
    return {"aws": f"{urls['aws']}/health", "registry": f"http://{urls['registry']}/v2/"}


def health(ports: Ports) -> dict[str, bool]:
    out = {}
    for name, url in _health_urls(ports).items():
        try:
            out[name] = requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            out[name] = False
    return out


def _registry_config(layout: Layout, ports: Ports) -> Path:
    config = layout.root / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {layout.registry_dir}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {HOST}:{ports.registry}\n"
    )
    return config


def _commands(layout: Layout, ports: Ports) -> dict[str, list[str]]:
    registry = _registry_binary()
    return {
        "aws": [
            sys.executable, "-m", "smstudio.local.gateway",
            "--port", str(ports.gateway),
            "--state", str(layout.root),
            "--registry", endpoints(ports)["registry"],
            *_runtime_args(),
        ],
        "registry": [registry, "serve", str(_registry_config(layout, ports))],
    }  # fmt: skip


def _runtime_args() -> list[str]:
    """The app runtime's settings: the base the kernel gateway runtime is built from (the
    offline local base when there is one), and the lifecycle time limit
    (SMSTUDIO_LIFECYCLE_TIMEOUT, seconds; Studio's is 300)."""
    try:
        dockerhost.client().images.get(localbase.DEFAULT_TAG)
        gateway_base = localbase.DEFAULT_TAG
    except Exception:
        gateway_base = "debian:bookworm-slim"
    return [
        "--gateway-base-image", gateway_base,
        "--lifecycle-timeout", os.environ.get("SMSTUDIO_LIFECYCLE_TIMEOUT", "300"),
    ]  # fmt: skip


def _registry_binary() -> str:
    for candidate in ("/usr/bin/docker-registry", "/usr/bin/registry"):
        if Path(candidate).is_file():
            return candidate
    raise SmstudioError(
        "the distribution registry is not installed",
        "run scripts/setup-host.sh (Debian: apt-get install docker-registry)",
    )


@dataclass(frozen=True)
class Started:
    """A process `up` started: its pid and what makes it that process (its start time
    since boot and its command line), so a pid reused after a reboot is never taken for
    it."""

    pid: int
    start: str
    cmd: str

    @classmethod
    def of(cls, pid: int) -> Started | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[-1].split()
        return cls(pid, fields[19] if len(fields) > 19 else "", cmd)

    def running(self) -> bool:
        """Still this very process, running (not a zombie)."""
        try:
            if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                return False
        except ChildProcessError:
            pass  # not our child: `up` ran in another process
        now = Started.of(self.pid)
        if now is None or (now.start, now.cmd) != (self.start, self.cmd):
            return False
        state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        return state != "Z"


def _read_pids(layout: Layout) -> dict[str, Started]:
    found, _ = durable.read_json(layout.pids)
    if not isinstance(found, dict):
        return {}
    out = {}
    for name, entry in found.items():
        if isinstance(entry, dict) and {"pid", "start", "cmd"} <= set(entry):
            out[name] = Started(int(entry["pid"]), str(entry["start"]), str(entry["cmd"]))
    return out


def _write_pids(layout: Layout, pids: dict[str, Started]) -> None:
    text = json.dumps({n: {"pid": p.pid, "start": p.start, "cmd": p.cmd} for n, p in pids.items()})
    durable.write(layout.pids, text)


def up(layout: Layout, ports: Ports, timeout: float = 120) -> dict[str, str]:
    """Start whatever is not running and wait until every service answers (the AWS
    endpoint restores its state as it starts). Idempotent. The state folder is the
    user's alone (0700)."""
    layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    layout.root.chmod(0o700)
    layout.logs.mkdir(exist_ok=True)
    layout.registry_dir.mkdir(exist_ok=True)
    pids = {k: v for k, v in _read_pids(layout).items() if v.running()}
    running = health(ports)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for name, cmd in _commands(layout, ports).items():
        if running[name]:
            continue
        if name in pids:
            raise SmstudioError(
                f"local Studio {name} (pid {pids[name].pid}) is running but not answering",
                "run `smstudio local down`, then `smstudio local up`",
            )
        log = (layout.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)  # fmt: skip
        forked = Started.of(proc.pid)  # its start time is the fork's; its command, ours
        pids[name] = Started(proc.pid, forked.start if forked else "", " ".join(cmd))
    _write_pids(layout, pids)

    def started() -> list[str] | None:
        status = health(ports)
        if all(status.values()):
            return []
        dead = [n for n, one in pids.items() if not status[n] and not one.running()]
        return dead or None

    try:
        dead = wait.until(started, timeout, 0.2)
    except wait.TimedOut:
        dead = [n for n, ok in health(ports).items() if not ok]
    if dead:
        raise SmstudioError(
            f"local Studio service(s) {', '.join(dead)} did not start",
            f"see the logs in {layout.logs} (a port in use? set SMSTUDIO_LOCAL_PORT)",
        )
    return endpoints(ports)


def _stopped(started: Started) -> bool | None:
    return None if started.running() else True


def down(layout: Layout, timeout: float = 20) -> list[str]:
    """Stop the services this folder started (and only them: a pid now held by another
    process is left alone); their state stays on disk."""
    stopped = []
    for name, started in _read_pids(layout).items():
        if not started.running():
            continue
        os.killpg(started.pid, signal.SIGTERM)
        try:
            wait.until(partial(_stopped, started), timeout, 0.1)
        except wait.TimedOut:
            os.killpg(started.pid, signal.SIGKILL)
        stopped.append(name)
    layout.pids.unlink(missing_ok=True)
    return stopped
