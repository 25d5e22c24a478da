"""Files the local Studio keeps its state in, written so that a crash at any moment loses
nothing: the new content goes to a temporary file, is fsynced and replaces the old one,
the folder is fsynced, and the same is then done for a copy, `<name>.bak`. Reading takes
the file, or the copy when the file is empty or cut short (so either can be lost); a file
that cannot be read is moved aside, never overwritten."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(temporary, mode)
    os.replace(temporary, path)
    _fsync_folder(path.parent)


def write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, text, mode)
    _replace(backup_of(path), text, mode)


def backup_of(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def read_json(path: Path) -> tuple[Any, str | None]:
    """(the data, None) from the file or its backup; (None, what happened) when neither
    has any. A file that does not parse is moved aside as `<name>.corrupt-<time>`."""
    note = None
    for candidate in (path, backup_of(path)):
        if not candidate.exists():
            continue
        try:
            return json.loads(candidate.read_text()), note
        except (ValueError, OSError):
            if candidate.stat().st_size:
                aside = candidate.with_name(f"{candidate.name}.corrupt-{int(time.time())}")
                os.replace(candidate, aside)
                note = f"{candidate.name} did not read; kept as {aside.name}"
            else:
                note = f"{candidate.name} was empty"
    return None, note
