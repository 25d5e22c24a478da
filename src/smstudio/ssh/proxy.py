"""The ssh ProxyCommand, kept light (no CLI framework to import on every connection):
python -m smstudio.sshproxy --region REGION HOST (which hands on to this module). Same as
`smstudio ssh proxy HOST`."""

from __future__ import annotations

import argparse
import sys

from smstudio.core import aws, awserrors
from smstudio.core.errors import SmstudioError
from smstudio.ssh import connect, sshconfig


def run(host_name: str, region: str | None, transport: str = "ssm") -> int:
    """Check HOST, then become the session to its sshd (see connect.proxy)."""
    host = sshconfig.parse_host(host_name)
    clients = aws.Aws(region=region)  # None: the profile's or AWS_DEFAULT_REGION
    return connect.proxy(clients, host, clients.session.region_name, transport)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smstudio-ssh-proxy", description=__doc__)
    parser.add_argument("--region", help="default: the profile's or AWS_DEFAULT_REGION")
    parser.add_argument(
        "--transport", choices=connect.TRANSPORTS, default="ssm",
        help="ssm: SSM managed instance (default); remote-access: SageMaker's StartSession; "
        "auto: remote access where the space has it, else SSM",
    )  # fmt: skip
    parser.add_argument("host", help="<app>.<user-or-space>.<domain>.studio.sagemaker")
    args = parser.parse_args(argv)
    try:
        return run(args.host, args.region, args.transport)
    except Exception as exc:  # ssh shows this text: never a traceback
        error = exc if isinstance(exc, SmstudioError) else awserrors.translate(exc)
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
