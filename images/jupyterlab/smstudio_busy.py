"""A Jupyter server extension of smstudio's: while a kernel is busy or a terminal runs a
command, Studio's idle check hears about it. jupyter-activity-monitor-extension answers
/api/idle from kernels' and terminals' last activity and from the file it reads,
/tmp/.sagemaker-last-active-timestamp; a cell that runs for an hour without output, or a
training script in a terminal, leaves no activity there, so every 30 s this writes now
into that file while anything runs."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tornado.ioloop import PeriodicCallback

STAMP_FILE = Path("/tmp/.sagemaker-last-active-timestamp")
EVERY_MS = 30_000


def _children(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return bool(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    return False


def busy(server_app: Any) -> bool:
    kernels = server_app.kernel_manager
    for kernel_id in list(kernels.list_kernel_ids()):
        with contextlib.suppress(KeyError):
            if getattr(kernels.get_kernel(kernel_id), "execution_state", "") == "busy":
                return True
    terminals = getattr(server_app.web_app.settings.get("terminal_manager"), "terminals", {})
    for terminal in list(terminals.values()):
        process = getattr(getattr(terminal, "ptyproc", None), "pid", None)
        if process and _children(process):
            return True
    return False


def mark(server_app: Any) -> None:
    if busy(server_app):
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with contextlib.suppress(OSError):
            STAMP_FILE.write_text(stamp)
            os.chmod(STAMP_FILE, 0o644)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "smstudio_busy"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    PeriodicCallback(lambda: mark(server_app), EVERY_MS).start()
