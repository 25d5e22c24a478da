"""Turn a failed `docker buildx bake` log into an error that names the problem and fix.
Pure: text in, SmstudioError out."""

from __future__ import annotations

import re

from smstudio.errors import SmstudioError

_PARSE = re.compile(r"(dockerfile parse error[^\n]*|unknown instruction[^\n]*)", re.IGNORECASE)
_PULL = re.compile(
    r"(failed to resolve source metadata for (?P<ref>\S+)|pull access denied for (?P<ref2>[^,\s]+)"
    r"|(?P<ref3>\S+): not found|failed to do request[^\n]*|no such host)",
    re.IGNORECASE,
)
_STEP = re.compile(
    r'process "(?P<cmd>[^\n]*)" did not complete successfully: exit code: (?P<code>\d+)'
)
_STEP_LINE = re.compile(r"^#\d+ \[(?P<stage>[^\]]+)\] (?P<what>.*)$", re.MULTILINE)


def explain(log: str, log_path: str, base_image: str | None) -> SmstudioError:
    where = f"full log: {log_path}"
    parse = _PARSE.search(log)
    if parse:
        return SmstudioError(
            f"a Dockerfile does not parse: {parse.group(1).strip()}",
            f"correct that Dockerfile line; `hadolint images/*/Dockerfile` checks them. {where}",
        )
    pull = _PULL.search(log)
    if pull:
        ref = pull.group("ref") or pull.group("ref2") or pull.group("ref3") or base_image or "?"
        return SmstudioError(
            f"the base image {ref} cannot be pulled: {pull.group(0).strip()}",
            "check the name and your registry access, or build offline from a local base: "
            f"`smstudio images local-base` then `smstudio images build --local-base`. {where}",
        )
    step = _STEP.search(log)
    if step:
        steps = _STEP_LINE.findall(log[: step.start()])
        stage, what = steps[-1] if steps else ("?", step.group("cmd"))
        return SmstudioError(
            f"build step [{stage}] {what[:200]} failed with exit code {step.group('code')}",
            f"read the step's output in {log_path} (search for 'ERROR')",
        )
    tail = "\n".join(log.strip().splitlines()[-10:])
    return SmstudioError(f"docker buildx bake failed:\n{tail}", where)
