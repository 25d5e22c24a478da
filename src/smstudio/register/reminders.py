"""What `apply` deploys for the team file's [reminders], as pure builders: the Lambda
function's package (a zip of the one module smstudio.teamops.reminders, byte for byte
the same for the same code, so its CodeSha256 says whether it changed), its settings,
configuration and SES templates, and the schedule's rule."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from importlib import resources
from typing import Any

from smstudio.core import facts
from smstudio.core.config import Team
from smstudio.register import iam
from smstudio.teamops import reminders

MODULE = "reminders.py"
HANDLER = "reminders.handler"
RUNTIME = "python3.12"
TIMEOUT = 300  # seconds: a domain of thousands of apps is listed well within it
MEMORY = 256
TARGET_ID = "smstudio-reminders"
PERMISSION_ID = "smstudio-schedule"  # the statement letting the rule invoke the function


def source() -> bytes:
    return resources.files("smstudio.teamops").joinpath(MODULE).read_bytes()


def package() -> bytes:
    """The function's zip: the module alone, with fixed times and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(MODULE, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, source())
    return buffer.getvalue()


def code_sha256(code: bytes | None = None) -> str:
    """Lambda's CodeSha256 of the package: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(code or package()).digest()).decode()


@dataclass(frozen=True)
class Names:
    function: str
    role: str
    rule: str
    templates: dict[str, str]  # kind -> SES template name

    @classmethod
    def of(cls, team: Team) -> Names:
        base = iam.Names(team.namespace).reminders
        kinds = {kind: f"{base}-{kind}" for kind in reminders.TEMPLATES}
        return cls(base, base, base, kinds)


def settings(team: Team, domain_id: str, account: str, region: str) -> reminders.Settings:
    """The handler's settings from the team file (what its environment carries)."""
    spec = team.reminders
    assert spec is not None
    return reminders.Settings(
        team=team.namespace,
        domain_id=domain_id,
        region=region,
        account=account,
        sender=spec.sender,
        admins=tuple(spec.admins),
        thresholds={k: reminders.parse_duration(v) for k, v in spec.thresholds.items()},
        prices=dict(spec.prices),
        templates=dict(Names.of(team).templates),
        email_tag=facts.EMAIL_TAG,
        dry_run=spec.dry_run,
    )


def function_config(team: Team, domain_id: str, account: str, region: str) -> dict[str, Any]:
    """The function's configuration as UpdateFunctionConfiguration takes it."""
    names = Names.of(team)
    made = settings(team, domain_id, account, region)
    return {
        "FunctionName": names.function,
        "Role": f"arn:aws:iam::{account}:role/{names.role}",
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "Timeout": TIMEOUT,
        "MemorySize": MEMORY,
        "Description": f"smstudio reminders for {team.namespace}",
        "Environment": {"Variables": {reminders.ENV: made.to_json()}},
    }


def templates(team: Team) -> list[dict[str, str]]:
    """The SES templates (CreateTemplate's Template)."""
    names = Names.of(team)
    return [
        {"TemplateName": names.templates[kind], **parts}
        for kind, parts in reminders.TEMPLATES.items()
    ]


def policy(team: Team, scope: iam.Scope) -> iam.Policy:
    assert team.reminders is not None
    names = Names.of(team)
    return iam.reminders_policy(
        scope, names.function, team.reminders.sender, sorted(names.templates.values())
    )
