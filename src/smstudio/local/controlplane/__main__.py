"""Run the control plane: python -m smstudio.local.controlplane --port N --state FILE"""

from __future__ import annotations

import argparse
import copy
import signal
import threading
from pathlib import Path
from typing import Any

from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.server import ControlPlaneServer
from smstudio.local.controlplane.ssm import Ssm
from smstudio.local.controlplane.store import Store
from smstudio.local.registry import RegistryResolver
from smstudio.local.runtime import DockerAppRuntime, RuntimeSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--registry", required=True, help="host:port of the local registry")
    parser.add_argument("--presign-base", default="http://127.0.0.1")
    parser.add_argument("--aws-endpoint", help="moto server, for CloudWatch Logs (enables apps)")
    parser.add_argument("--gateway-base-image", default="debian:bookworm-slim")
    parser.add_argument("--lifecycle-timeout", type=float, default=300.0)
    args = parser.parse_args()
    plane = ControlPlane(
        Store(args.state), resolver=RegistryResolver(args.registry), presign_base=args.presign_base
    )
    if args.aws_endpoint:
        settings = RuntimeSettings(
            registry=args.registry,
            aws_endpoint=args.aws_endpoint,
            state_dir=args.state.parent,
            gateway_base_image=args.gateway_base_image,
            lifecycle_timeout=args.lifecycle_timeout,
            sagemaker_endpoint=f"http://127.0.0.1:{args.port}",
        )

        def snapshot() -> dict[str, Any]:
            with plane.store.lock:
                return copy.deepcopy(plane.store.data)

        runtime = DockerAppRuntime(settings, snapshot, plane.app_status)
        plane.runtime = runtime
        ssm = Ssm(plane.store, plane.account, host=runtime)
    else:
        ssm = Ssm(plane.store, plane.account)
    server = ControlPlaneServer(plane, args.port, ssm).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
