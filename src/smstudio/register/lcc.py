"""Rendering lifecycle scripts: Studio runs a lifecycle config as one standalone script, so
`lcc/<app>.sh` is rendered with the team's settings and the shared library inlined
(`. "$SMSTUDIO_LCC_LIB/x.sh"` lines replaced by the file; lib/*.py embedded so the script
can install them on the home). Studio accepts at most 16384 base64 characters, so
`package` drops comment-only and blank lines and ships the script gzip-compressed behind
a short readable header that names the settings (`smstudio lcc show` prints it plain).
Pure: text in, text out; the same input always gives the same bytes."""

from __future__ import annotations

import base64
import gzip
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path

from smstudio.core.config import Team
from smstudio.register import iam

INCLUDE = re.compile(r'^\s*\.\s+"\$SMSTUDIO_LCC_LIB/(?P<name>[\w.-]+\.sh)"\s*$')
SETTINGS_MARK = "# smstudio:settings"
EMBED_MARK = "# smstudio:embed"  # in lcc/<app>.sh: the lib/*.py modules it carries
SOURCE_MARK = "# smstudio:lib-source"  # in lib/common.sh: replaced by those modules
HEREDOC_END = "SMSTUDIO_PY_END"
SETTING_NAME = re.compile(r"^SMSTUDIO_[A-Z_]+$")


def settings(team: Team, app_type: str) -> dict[str, str]:
    """The SMSTUDIO_* values a script gets from the team file."""
    usage_seconds = max(1, round(team.startup.home_usage_every_hours * 3600))
    out = {
        "SMSTUDIO_BUDGET": str(team.startup.budget_seconds),
        "SMSTUDIO_APT_BUDGET": str(team.startup.apt_budget_seconds),
        "SMSTUDIO_HOOK_BUDGET": str(team.startup.hook_budget_seconds),
        "SMSTUDIO_HOME_USAGE_SECONDS": str(usage_seconds),
        "SMSTUDIO_SSM_ROLE": iam.Names(team.namespace).ssm_instance_role,
    }
    if team.git.host:
        out["SMSTUDIO_GIT_HOST"] = team.git.host
        out["SMSTUDIO_GIT_USERNAME"] = team.git.username
    if team.git.repositories:
        out["SMSTUDIO_GIT_REPOS"] = " ".join(team.git.repositories)
    if team.starter.source:
        out["SMSTUDIO_STARTER"] = team.starter.source
        out["SMSTUDIO_STARTER_BUDGET"] = str(team.starter.budget_seconds)
    idle = team.defaults.kernel_gateway_idle_minutes or team.defaults.idle_timeout_minutes
    if app_type == "KernelGateway" and idle is not None:
        out["SMSTUDIO_IDLE_MINUTES"] = f"{idle:g}"
    if app_type == "KernelGateway" and team.docker.remote_host:
        out["SMSTUDIO_DOCKER_REMOTE_HOST"] = team.docker.remote_host
    return out


def _code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _embedded(lib: Path, names: list[str]) -> Iterator[str]:
    """`smstudio_lib_source NAME` printing each named lib/*.py from a quoted heredoc; the
    others come from the image (/opt/smstudio/lcc/lib) when the script runs."""
    yield f"SMSTUDIO_EMBEDDED={shlex.quote(' '.join(names))}"
    yield "smstudio_lib_source() {"
    yield '  case "$1" in'
    for module in (lib / name for name in names):
        lines = [line for line in module.read_text().splitlines() if _code(line)]
        if HEREDOC_END in lines:
            raise ValueError(f"{module} contains the line {HEREDOC_END}")
        yield f"    {module.name}) cat <<'{HEREDOC_END}'"
        yield from lines
        yield HEREDOC_END
        yield "      ;;"
    yield "  esac"
    yield "}"


def _expand(
    path: Path, lib: Path, values: Mapping[str, str], seen: set[Path], embed: list[str]
) -> Iterator[str]:
    for number, line in enumerate(path.read_text().splitlines()):
        if number == 0 and line.startswith("#!"):
            continue
        include = INCLUDE.match(line)
        if include:
            target = (lib / include["name"]).resolve()
            if target not in seen:
                seen.add(target)
                yield from _expand(target, lib, values, seen, embed)
        elif line.strip() == SETTINGS_MARK:
            yield from (f"{name}={shlex.quote(value)}" for name, value in values.items())
        elif line.rstrip().endswith(SOURCE_MARK):
            yield from _embedded(lib, embed)
        elif _code(line):
            yield line.strip()  # indentation is for readers of lcc/; bash does not need it


def render(script: Path, values: Mapping[str, str]) -> str:
    """The standalone script for `script` with `values` as its settings."""
    bad = [name for name in values if not SETTING_NAME.match(name)]
    if bad:
        raise ValueError(f"not setting names: {', '.join(bad)}")
    lib = script.resolve().parent / "lib"
    header = [
        "#!/usr/bin/env bash",
        f"# {script.name} rendered by smstudio (lcc/lib inlined); edit lcc/, then apply",
    ]
    embed = [
        name
        for line in script.read_text().splitlines()
        if line.startswith(EMBED_MARK)
        for name in line.split()[2:]
    ]
    body = _expand(script.resolve(), lib, values, set(), embed)
    return "\n".join([*header, *body]) + "\n"


PAYLOAD_END = "SMSTUDIO_PAYLOAD_END"


def package(script: Path, values: Mapping[str, str]) -> str:
    """The lifecycle-config script: settings in plain text, then the rendered script,
    compressed, unpacked to a temporary file and sourced."""
    compressed = gzip.compress(render(script, values).encode(), compresslevel=9, mtime=0)
    encoded = base64.b64encode(compressed).decode()
    lines = [
        "#!/usr/bin/env bash",
        f"# {script.name} rendered by smstudio with lcc/lib inlined, gzip+base64 for Studio's",
        "# size limit. Read it with `smstudio lcc show APP_TYPE`; edit lcc/, then apply.",
        *(f"{name}={shlex.quote(value)}" for name, value in values.items()),
        'smstudio_script="$(mktemp)"',
        f"base64 -d >\"$smstudio_script.gz\" <<'{PAYLOAD_END}'",
        encoded,
        PAYLOAD_END,
        'gunzip -c "$smstudio_script.gz" >"$smstudio_script"',
        'rm -f "$smstudio_script.gz"',
        '. "$smstudio_script"',
        'rm -f "$smstudio_script"',
    ]
    return "\n".join(lines) + "\n"
