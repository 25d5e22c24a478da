"""Byte relays between TCP ports on 127.0.0.1 and Unix sockets.

The local Studio uses them to give app containers what SageMaker gives apps without
sending traffic anywhere but loopback: the AWS endpoint (moto and the Studio control plane
on the host's 127.0.0.1) appears on the container's own 127.0.0.1 through Unix sockets in
a mounted folder, and an app with no network (a VpcOnly domain) is still reachable from
the host through its socket. Standard library only: this file is also copied into
containers and run there with the image's python3.

    python3 relay.py tcp:4566=unix:/opt/ml/local-endpoint/aws.sock unix:/x/app.sock=tcp:8888
    python3 relay.py --stdio unix:/proxy/proxy.sock    # stdin/stdout <-> the socket (what
                                                       # `docker system dial-stdio` does)
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

READY_SUFFIX = ".ready"


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        source.close()


def connector(spec: str) -> Callable[[], socket.socket]:
    kind, _, where = spec.partition(":")
    if kind == "tcp":
        return lambda: socket.create_connection(("127.0.0.1", int(where)), timeout=10)
    if kind == "unix":

        def connect() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            sock.connect(where)
            return sock

        return connect
    raise ValueError(f"relay end {spec!r}: use tcp:PORT or unix:PATH")


def listen(spec: str) -> socket.socket:
    kind, _, where = spec.partition(":")
    if kind == "tcp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(where)))
    elif kind == "unix":
        path = Path(where)
        path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(where)
        os.chmod(where, 0o666)  # the container's user is not the host's
    else:
        raise ValueError(f"relay end {spec!r}: use tcp:PORT or unix:PATH")
    sock.listen(64)
    return sock


def serve(listener: socket.socket, connect: Callable[[], socket.socket]) -> threading.Thread:
    """Accept on `listener` until it is closed; each connection gets its own pair of pumps."""

    def accept_loop() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = connect()
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    return thread


def start(listen_spec: str, target_spec: str) -> socket.socket:
    """Listen and relay in the background; close the returned socket to stop."""
    listener = listen(listen_spec)
    serve(listener, connector(target_spec))
    return listener


def stdio(target: str) -> int:
    """stdin/stdout to `target` and back, until both ends close."""
    sock = connector(target)()
    sock.settimeout(None)

    def up() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(0, 65536):
                sock.sendall(data)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=up, daemon=True).start()
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            os.write(1, data)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--stdio"] and len(argv) == 2:
        return stdio(argv[1])
    pairs = [arg.split("=", 1) for arg in argv if "=" in arg]
    if not pairs or len(pairs) != len(argv):
        print(__doc__, file=sys.stderr)
        return 2
    threads = [serve(listen(a), connector(b)) for a, b in pairs]
    ready = os.environ.get("RELAY_READY_FILE")
    if ready:
        Path(ready).touch()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
