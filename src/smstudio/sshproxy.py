"""The ssh ProxyCommand, kept light (no CLI framework to import on every connection):
python -m smstudio.sshproxy --region REGION HOST. Same as `smstudio ssh proxy HOST`."""

from __future__ import annotations

import argparse
import os
import sys

from smstudio import aws, ssh, sshconfig
from smstudio.errors import SmstudioError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smstudio-ssh-proxy", description=__doc__)
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("host", help="<app>.<user-or-space>.<domain>.studio.sagemaker")
    args = parser.parse_args(argv)
    try:
        host = sshconfig.parse_host(args.host)
        clients = aws.Aws(region=args.region)
        return ssh.proxy(clients, host, clients.session.region_name)
    except SmstudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
