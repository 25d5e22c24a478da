"""`smstudio local up|down|status|env`: the local Studio's services, on 127.0.0.1 only,
with their state under one folder so `down` then `up` loses nothing.

- moto server: IAM, STS, ECR, S3, SSM, Secrets Manager, SES, CloudWatch Logs, EFS,
  EventBridge, Lambda. Its state is kept by moto's recorder: every request is appended to
  a file while up, and replayed on the next `up`.
- the Studio control plane (smstudio.local.controlplane), state in studio.json.
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
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from smstudio import dockerhost, localbase, project
from smstudio.errors import SmstudioError

HOST = "127.0.0.1"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Ports:
    moto: int = 4566
    studio: int = 4567
    registry: int = 4568

    @classmethod
    def from_env(cls) -> Ports:
        base = int(os.environ.get("SMSTUDIO_LOCAL_PORT", "4566"))
        return cls(base, base + 1, base + 2)


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
    def recording(self) -> Path:
        return self.root / "moto-recording.jsonl"

    @property
    def studio_state(self) -> Path:
        return self.root / "studio.json"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def free_port_base(tries: int = 50) -> int:
    """A port with the next two also free on 127.0.0.1 (for Ports(base, base+1, base+2)),
    so parallel stacks (tests, benches) never collide."""
    for _ in range(tries):
        base = random.randrange(20000, 60000)
        try:
            for port in (base, base + 1, base + 2):
                with socket.socket() as sock:
                    sock.bind((HOST, port))
            return base
        except OSError:
            continue
    raise SmstudioError("no three consecutive free ports on 127.0.0.1", "free some ports")


def endpoints(ports: Ports) -> dict[str, str]:
    return {
        "moto": f"http://{HOST}:{ports.moto}",
        "studio": f"http://{HOST}:{ports.studio}",
        "registry": f"{HOST}:{ports.registry}",
    }


def env_exports(ports: Ports) -> dict[str, str]:
    """What points boto3, the AWS CLI and smstudio at the local Studio."""
    urls = endpoints(ports)
    return {
        "AWS_ENDPOINT_URL": urls["moto"],
        "AWS_ENDPOINT_URL_SAGEMAKER": urls["studio"],
        "AWS_ENDPOINT_URL_SSM": urls["studio"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "SMSTUDIO_LOCAL_REGISTRY": urls["registry"],
    }


def user_credentials(ports: Ports, user: str) -> dict[str, str]:
    """A Studio user's own local access key (made once per local Studio)."""
    url = f"{endpoints(ports)['studio']}/_local/identity"
    try:
        answer = requests.post(url, json={"User": user}, timeout=10)
    except requests.RequestException as exc:
        raise SmstudioError(
            "the local Studio is not running", "start it with `smstudio local up`"
        ) from exc
    if answer.status_code != 200:
        raise SmstudioError(f"no local identity for {user!r}: {answer.json().get('message')}")
    made = answer.json()
    return {
        "AWS_ACCESS_KEY_ID": made["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": made["SecretAccessKey"],
    }


def _health_urls(ports: Ports) -> dict[str, str]:
    urls = endpoints(ports)
    return {
        "moto": f"{urls['moto']}/moto-api/",
        "studio": f"{urls['studio']}/health",
        "registry": f"http://{urls['registry']}/v2/",
    }


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
    moto = Path(sys.executable).with_name("moto_server")
    return {
        "moto": [str(moto), "-H", HOST, "-p", str(ports.moto)],
        "studio": [
            sys.executable,
            "-m",
            "smstudio.local.controlplane",
            "--port",
            str(ports.studio),
            "--state",
            str(layout.studio_state),
            "--registry",
            endpoints(ports)["registry"],
            "--presign-base",
            f"http://{HOST}:{ports.studio}",
            *_runtime_args(ports),
        ],
        "registry": [registry, "serve", str(_registry_config(layout, ports))],
    }


def _runtime_args(ports: Ports) -> list[str]:
    """The app runtime's settings: CloudWatch Logs on moto, the base the kernel gateway
    runtime is built from (the offline local base when there is one), and the lifecycle
    time limit (SMSTUDIO_LIFECYCLE_TIMEOUT, seconds; Studio's is 300)."""
    try:
        dockerhost.client().images.get(localbase.DEFAULT_TAG)
        gateway_base = localbase.DEFAULT_TAG
    except Exception:
        gateway_base = "debian:bookworm-slim"
    return [
        "--aws-endpoint", endpoints(ports)["moto"],
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


def _read_pids(layout: Layout) -> dict[str, int]:
    if not layout.pids.exists():
        return {}
    return {k: int(v) for k, v in json.loads(layout.pids.read_text()).items()}


def _alive(pid: int) -> bool:
    """Running, and not a zombie (reaped here when this process started it)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: `up` ran in another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def up(layout: Layout, ports: Ports, timeout: float = 60) -> dict[str, str]:
    """Start whatever is not running, wait until every service answers, restore moto's
    state. Idempotent."""
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(exist_ok=True)
    layout.registry_dir.mkdir(exist_ok=True)
    pids = {k: v for k, v in _read_pids(layout).items() if _alive(v)}
    running = health(ports)
    started_moto = False
    # Services get the local credentials (the runtime's CloudWatch client needs some).
    env = {
        **os.environ,
        **env_exports(ports),
        "MOTO_ENABLE_RECORDING": "True",
        "MOTO_RECORDER_FILEPATH": str(layout.recording),
    }
    for name, cmd in _commands(layout, ports).items():
        if running[name]:
            continue
        if name in pids:
            raise SmstudioError(
                f"local Studio {name} (pid {pids[name]}) is running but not answering",
                "run `smstudio local down`, then `smstudio local up`",
            )
        log = (layout.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)  # fmt: skip
        pids[name] = proc.pid
        started_moto |= name == "moto"
    layout.pids.write_text(json.dumps(pids))
    deadline = time.monotonic() + timeout
    while not all((status := health(ports)).values()):
        dead = [n for n, pid in pids.items() if not status[n] and not _alive(pid)]
        if dead or time.monotonic() > deadline:
            which = ", ".join(dead or [n for n, ok in status.items() if not ok])
            raise SmstudioError(
                f"local Studio service(s) {which} did not start",
                f"see the logs in {layout.logs} (a port in use? set SMSTUDIO_LOCAL_PORT)",
            )
        time.sleep(0.2)
    if started_moto:
        _restore_moto(layout, ports)
    return endpoints(ports)


def _restore_moto(layout: Layout, ports: Ports) -> None:
    """Replay what the last session recorded, then record again (appending)."""
    api = f"{endpoints(ports)['moto']}/moto-api/recorder"
    if layout.recording.exists() and layout.recording.stat().st_size:
        requests.post(f"{api}/stop-recording", timeout=10)
        requests.post(f"{api}/replay-recording", timeout=600)
    requests.post(f"{api}/start-recording", timeout=10)


def down(layout: Layout, timeout: float = 20) -> list[str]:
    """Stop the services this folder started; their state stays on disk."""
    stopped = []
    for name, pid in _read_pids(layout).items():
        if not _alive(pid):
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        stopped.append(name)
    layout.pids.unlink(missing_ok=True)
    return stopped
