"""Run the control plane: python -m smstudio.local.controlplane --port N --state FILE"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.server import ControlPlaneServer
from smstudio.local.controlplane.store import Store
from smstudio.local.registry import RegistryResolver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--registry", required=True, help="host:port of the local registry")
    parser.add_argument("--presign-base", default="http://127.0.0.1")
    args = parser.parse_args()
    plane = ControlPlane(
        Store(args.state), resolver=RegistryResolver(args.registry), presign_base=args.presign_base
    )
    server = ControlPlaneServer(plane, args.port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
