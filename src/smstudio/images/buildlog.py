"""Turn a failed `docker buildx bake` log into an error that names the problem and fix.
Pure: text in, SmstudioError out (BadInput for a Dockerfile or base image of the user's)."""

from __future__ import annotations

import re

from smstudio.core.errors import BadInput, SmstudioError

_PARSE = re.compile(r"(dockerfile parse error[^\n]*|unknown instruction[^\n]*)", re.IGNORECASE)
_PULL = re.compile(
    r"(failed to resolve source metadata for (?P<ref>\S+)|pull access denied for (?P<ref2>[^,\s]+)"
    r"|(?P<ref3>\S+): not found|failed to do request[^\n]*|no such host)",
    re.IGNORECASE,
)
_STEP = re.compile(
    r'process "(?P<cmd>[^\n]*)" did not complete successfully: exit code: (?P<code>\d+)'
)
# What the failing command itself printed as its error (pip, apt, a script).
_CAUSE = re.compile(r"^#\d+ [\d.]+ ((?:ERROR|E|error):? .*)$", re.MULTILINE)
_STEP_LINE = re.compile(r"^#\d+ \[(?P<stage>[^\]]+)\] (?P<what>.*)$", re.MULTILINE)


def explain(log: str, log_path: str, base_image: str | None) -> SmstudioError:
    where = f"full log: {log_path}"
    parse = _PARSE.search(log)
    if parse:
        return BadInput(
            f"a Dockerfile does not parse: {parse.group(1).strip()}",
            f"correct that Dockerfile line; `hadolint images/*/Dockerfile` checks them. {where}",
        )
    pull = _PULL.search(log)
    if pull:
        # The image's name may be on a later line than the first sign of the failure.
        named = [m for m in _PULL.finditer(log) if m.group("ref") or m.group("ref2")]
        found = pull.group("ref") or pull.group("ref2") or pull.group("ref3")
        if not found and named:
            found = named[0].group("ref") or named[0].group("ref2")
        ref = base_image or (found or "an image").rstrip(":")
        line_start = log.rfind("\n", 0, pull.start()) + 1
        line_end = log.find("\n", pull.end())
        line = log[line_start : line_end if line_end != -1 else None].strip()
        cause = line.rsplit(": ", 2)[-2:] if ": " in line else [line]
        return BadInput(
            f"the base image {ref} cannot be pulled ({': '.join(cause)})",
            "check the name and your registry access, or build offline from a local base: "
            f"`smstudio images local-base` then `smstudio images build --local-base`. {where}",
        )
    step = _STEP.search(log)
    if step:
        before = log[: step.start()]
        steps = _STEP_LINE.findall(before)
        stage, what = steps[-1] if steps else ("?", step.group("cmd"))
        causes = [m.group(1) for m in _CAUSE.finditer(before)][-2:]
        printed = "".join(f"\n  {c[:300]}" for c in causes)
        return SmstudioError(
            f"build step [{stage}] {what[:200]} failed with exit code {step.group('code')}"
            + printed,
            f"read the step's output in {log_path} (search for 'ERROR')",
        )
    tail = "\n".join(log.strip().splitlines()[-10:])
    return SmstudioError(f"docker buildx bake failed:\n{tail}", where)
