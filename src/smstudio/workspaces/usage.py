"""Home usage per user or space, as the apps' lifecycle scripts report it to CloudWatch
Logs at every start (lcc/lib/studio.py home-usage): admins see who uses what without
mounting anyone's home."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

GROUP = "/smstudio/home-usage"  # also in lcc/lib/studio.py


@dataclass(frozen=True)
class HomeUsage:
    owner: str
    bytes: int
    files: int
    app: str
    at: str


def latest(logs: Any, domain_id: str) -> dict[str, HomeUsage]:
    """The newest report of each user or space of the domain."""
    found: dict[str, HomeUsage] = {}
    try:
        pages = logs.get_paginator("describe_log_streams").paginate(
            logGroupName=GROUP, logStreamNamePrefix=f"{domain_id}/"
        )
        streams = [s["logStreamName"] for page in pages for s in page["logStreams"]]
    except logs.exceptions.ResourceNotFoundException:
        return found
    for stream in streams:
        events = logs.get_log_events(
            logGroupName=GROUP, logStreamName=stream, limit=1, startFromHead=False
        )["events"]
        if not events:
            continue
        report = json.loads(events[-1]["message"])
        usage = HomeUsage(
            report["owner"], int(report["bytes"]), int(report["files"]), report["app"], report["at"]
        )
        found[usage.owner] = usage
    return found


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
