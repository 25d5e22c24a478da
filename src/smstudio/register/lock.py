"""One apply at a time per team: a lock held in the account (an SSM parameter created only
if absent, `/smstudio/<team>/apply-lock`), naming who holds it and since when. A second
apply waits for it, or says who holds it. A lock left by an apply that died on this very
machine (its process is gone) is taken over; one held elsewhere is broken only on request
(`--break-lock`)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from smstudio.core.errors import SmstudioError
from smstudio.core.wait import REAL, Clock, TimedOut, until


def parameter(namespace: str) -> str:
    return f"/smstudio/{namespace}/apply-lock"


def _mine() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip


def _dead_here(holder: dict[str, Any]) -> bool:
    """Held by a process of this machine that is gone."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder.get("pid", 0)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


@contextmanager
def held(
    ssm: Any,
    namespace: str,
    wait: float = 600,
    break_lock: bool = False,
    waiting: Callable[[str], None] = lambda _: None,
    clock: Clock = REAL,
) -> Iterator[None]:
    """Hold the team's apply lock for the block."""
    name = parameter(namespace)
    me = _mine()
    holders: list[str] = []

    def taken() -> bool | None:
        try:
            ssm.put_parameter(Name=name, Value=json.dumps(me), Type="String", Overwrite=False)
            return True
        except ssm.exceptions.ParameterAlreadyExists:
            try:
                holder = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
            except ssm.exceptions.ParameterNotFound:
                return None  # released just now
            who = f"{holder.get('host')} (pid {holder.get('pid')}) since {holder.get('since')}"
            if break_lock or _dead_here(holder):
                ssm.delete_parameter(Name=name)
                return None
            holders.append(who)
            waiting(f"waiting for the apply lock held by {who}")
            return None

    try:
        until(taken, wait, 1.0, clock)
    except TimedOut:
        raise SmstudioError(
            f"another apply of team {namespace} holds the lock: {holders[-1]}",
            "wait for it to finish; if it died elsewhere, apply with --break-lock",
        ) from None
    try:
        yield
    finally:
        try:
            current = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
            if current == me:
                ssm.delete_parameter(Name=name)
        except Exception:  # gone already, or the endpoint went away: nothing to release
            pass
