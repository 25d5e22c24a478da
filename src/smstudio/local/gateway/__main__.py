"""Run the local Studio's AWS endpoint (gateway, control plane, moto, app runtime):
python -m smstudio.local.gateway --port N --state DIR --registry HOST:PORT"""

from __future__ import annotations

import argparse
import copy
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from smstudio.local import durable
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.ssm import Ssm
from smstudio.local.controlplane.store import Store
from smstudio.local.gateway.identities import Identities
from smstudio.local.gateway.motohost import Moto
from smstudio.local.gateway.server import Gateway, GatewayServer
from smstudio.local.registry import RegistryResolver
from smstudio.local.runtime import DockerAppRuntime, RuntimeSettings

ADMIN_FILE = "admin-credentials.json"  # the root key, for `smstudio local env` (mode 600)


def write_admin(state: Path, keys: dict[str, str]) -> None:
    durable.write(state / ADMIN_FILE, json.dumps(keys), mode=0o600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True, help="the local Studio's folder")
    parser.add_argument("--registry", required=True, help="host:port of the local registry")
    parser.add_argument("--gateway-base-image", default="debian:bookworm-slim")
    parser.add_argument("--lifecycle-timeout", type=float, default=300.0)
    parser.add_argument("--no-apps", action="store_true", help="no app runtime (no Docker)")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    args.state.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(args.state / "studio.json")
    if store.note:
        print(f"local Studio state: {store.note}", file=sys.stderr, flush=True)
    plane = ControlPlane(store, resolver=RegistryResolver(args.registry), presign_base=url)
    moto = Moto(plane.account, args.state / "aws-journal.jsonl")
    replayed = moto.replay()
    failed = moto.replay_failures
    print(f"local Studio: replayed {replayed} AWS requests, {len(failed)} failed"
          + "".join(f"\n  {f}" for f in failed[:20]), file=sys.stderr, flush=True)  # fmt: skip
    identities = Identities(store, moto, plane.account)
    write_admin(args.state, identities.root_key())
    ssm = Ssm(store, plane.account)
    gateway = Gateway(plane, ssm, moto, identities)
    gateway.web_identity_dir = args.state
    runtime = None
    if not args.no_apps:
        settings = RuntimeSettings(
            registry=args.registry,
            aws_endpoint=url,
            state_dir=args.state,
            gateway_base_image=args.gateway_base_image,
            service_keys=identities.root_key(),
            lifecycle_timeout=args.lifecycle_timeout,
        )

        def snapshot() -> dict[str, Any]:
            with store.lock:
                return copy.deepcopy(store.data)

        runtime = DockerAppRuntime(settings, snapshot, plane.app_status, gateway)
        plane.runtime = runtime
        ssm.host = runtime
    server = GatewayServer(gateway, args.port, runtime).start()
    if runtime is not None:
        done = runtime.reconcile()
        if done:
            print(f"local Studio: apps reconciled: {done}", file=sys.stderr, flush=True)
        runtime.watch()
        runtime.watch_idle()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
