#!/opt/smstudio/venv/bin/python3
"""sshd's AuthorizedKeysCommand (ssh/start-sshd.sh): the public keys a laptop stored for
SageMaker's remote access (smstudio.ssh.remote), read at each login from the app owner's
own secret `smstudio/<domain>/<owner>/remote-access-keys` with the app's execution-role
session, which may read only its own user's. Prints nothing for a shared space (it acts
for no single user) or on any failure, which it logs: the keys in authorized_keys (SSH
over SSM) still work. Root-owned in the image, as sshd requires of this command."""

from __future__ import annotations

import os
import pwd
import sys
from datetime import UTC, datetime
from pathlib import Path

ENV_FILE = Path("/tmp/smstudio-sshd/aws.env")  # the app's AWS_* settings, by start-sshd.sh
LIBRARY = "/opt/smstudio/lcc/lib"  # studio.py: metadata() and owner()
KEYS = "remote-access-keys"  # smstudio.ssh.remote.KEYS
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-", "ssh-rsa", "sk-")


def log(message: str) -> None:
    path = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".smstudio/logs/remote-access.log"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with path.open("a") as out:
            out.write(f"{stamp} {message}\n")
    except OSError:
        pass


def load_env() -> None:
    for line in ENV_FILE.read_text().splitlines():
        name, _, value = line.partition("=")
        if name:
            os.environ[name] = value


def keys() -> list[str]:
    load_env()
    sys.path.insert(0, LIBRARY)
    import studio  # type: ignore[import-not-found]

    meta = studio.metadata()
    if not meta.get("SpaceName"):
        return []  # remote access reaches spaces only
    owner = studio.owner(meta)
    if owner is None:
        return []
    secret = studio.client("secretsmanager").get_secret_value(
        SecretId=f"smstudio/{meta['DomainId']}/{owner}/{KEYS}"
    )
    lines = [line.strip() for line in str(secret.get("SecretString", "")).splitlines()]
    return [line for line in lines if line.startswith(KEY_TYPES)]


def main(argv: list[str]) -> int:
    me = pwd.getpwuid(os.getuid())
    user = argv[1] if len(argv) > 1 else ""
    if user != me.pw_name:  # sshd runs as the app's user and lets in no one else
        return 0
    os.environ.setdefault("HOME", me.pw_dir)
    try:
        found = keys()
    except Exception as exc:  # sshd goes on with authorized_keys; the reason is logged
        log(f"WARN no remote-access keys for {user}: {type(exc).__name__}: {exc}")
        return 0
    print("\n".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
