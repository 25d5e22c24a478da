"""The control plane's state: resources by kind and key, persisted to one JSON file so a
local Studio keeps everything across `down`/`up`."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from smstudio.local import durable

_STAMP = "__datetime__"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_STAMP: value.isoformat()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_STAMP}:
            return datetime.fromisoformat(value[_STAMP])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Store:
    """kind -> key -> resource (a dict). All access under one lock; every change is
    written through to disk durably (smstudio.local.durable: fsynced, atomic, the previous
    version kept); at start an empty or cut-short file gives way to that backup."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.data: dict[str, dict[str, Any]] = {}
        self.note: str | None = None  # what reading the state ran into, if anything
        if path is not None:
            found, self.note = durable.read_json(path)
            if isinstance(found, dict):
                self.data = _decode(found)

    def table(self, kind: str) -> dict[str, Any]:
        return self.data.setdefault(kind, {})

    def save(self) -> None:
        if self.path is None:
            return
        durable.write(self.path, json.dumps(_encode(self.data), indent=1, sort_keys=True))
