"""Reminders ("police"): who has had apps running past their instance type's threshold,
told by email, with a summary to the platform team.

This file is the whole of the Lambda function `apply` deploys (`handler`): it uses the
standard library and boto3 only, because smstudio zips this one module and nothing else.
`smstudio remind` runs the same `run` in-process with the caller's clients.

Pure parts (no AWS): durations, thresholds by instance type or family glob, ages, prices,
the messages. The I/O parts take boto3 clients: ListApps over the domain (paginated),
ListSpaces for spaces' owners, ListTags on an owner's profile for their email, SES's
SendTemplatedEmail. The settings come from the environment variable SMSTUDIO_REMINDERS
(JSON; `apply` writes it from the team file's [reminders]).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

ENV = "SMSTUDIO_REMINDERS"
SKIPPED = ("Deleted", "Deleting", "Failed")  # not running: nothing to remind of
PAGE_SIZE = 100  # ListApps, ListSpaces: the most SageMaker gives per page
# On-demand hourly prices (USD, us-east-1, SageMaker Studio apps) of common instance
# types; the team file's [reminders.prices] overrides and extends them. A type in
# neither is listed with its price unknown.
PRICES: dict[str, float] = {
    "system": 0.0,
    "ml.t3.medium": 0.05, "ml.t3.large": 0.10, "ml.t3.xlarge": 0.20, "ml.t3.2xlarge": 0.399,
    "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922, "ml.m5.8xlarge": 1.843,
    "ml.c5.large": 0.102, "ml.c5.xlarge": 0.204, "ml.c5.2xlarge": 0.408,
    "ml.c5.4xlarge": 0.816,
    "ml.r5.large": 0.151, "ml.r5.xlarge": 0.302, "ml.r5.2xlarge": 0.605,
    "ml.g4dn.xlarge": 0.7364, "ml.g4dn.2xlarge": 1.0528, "ml.g5.xlarge": 1.408,
    "ml.g5.2xlarge": 1.515, "ml.p3.2xlarge": 3.825,
}  # fmt: skip
# The SES templates (apply creates them under the names the settings give). The app
# lines are composed here, so the text reads the same in every mail client.
TEMPLATES: dict[str, dict[str, str]] = {
    "reminder": {
        "SubjectPart": "{{count}} SageMaker Studio app(s) of yours running long ({{hourly}}/h)",
        "TextPart": (
            "Hello {{user}},\n\n"
            "these apps of yours in SageMaker Studio ({{domain}}) have been running longer "
            "than the team's reminder threshold for their instance type:\n\n{{apps}}\n\n"
            "Together they cost about {{hourly}} an hour. If you are not using them, stop "
            "them in Studio (or: smstudio down). Work in your home is kept.\n\n"
            "-- sent by smstudio reminders for {{team}}\n"
        ),
    },
    "summary": {
        "SubjectPart": "Studio reminders for {{team}}: {{count}} app(s) of {{users}} user(s)",
        "TextPart": (
            "Apps running past their threshold in {{domain}} ({{count}} of {{seen}} "
            "running), about {{hourly}} an hour together:\n\n{{apps}}\n\n{{notes}}"
            "-- smstudio reminders\n"
        ),
    },
}
DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


@dataclass(frozen=True)
class Settings:
    team: str
    domain_id: str
    region: str
    account: str
    sender: str
    admins: tuple[str, ...] = ()
    thresholds: dict[str, int] = field(default_factory=lambda: {"default": 86400})  # seconds
    prices: dict[str, float] = field(default_factory=dict)  # over PRICES
    templates: dict[str, str] = field(default_factory=dict)  # kind -> SES template name
    email_tag: str = "smstudio:email"  # the profile tag holding the user's email
    dry_run: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        data["admins"] = tuple(data.get("admins", ()))
        return cls(**data)

    def price(self, instance_type: str) -> float | None:
        return self.prices.get(instance_type, PRICES.get(instance_type))

    def profile_arn(self, user: str) -> str:
        return (
            f"arn:aws:sagemaker:{self.region}:{self.account}:user-profile/{self.domain_id}/{user}"
        )


# --- pure ------------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """`30m`, `12h`, `5d`, `1d12h` in seconds."""
    found = DURATION.match(text.strip())
    if not text.strip() or found is None:
        raise ValueError(f"{text!r} is not a duration like 30m, 12h, 5d or 1d12h")
    days, hours, minutes = (int(g or 0) for g in found.groups())
    return days * 86400 + hours * 3600 + minutes * 60


def human(seconds: float) -> str:
    """An age as people say it: `5d 3h`, `7h 20m`, `12m`."""
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


def threshold(instance_type: str, thresholds: dict[str, int]) -> tuple[str, int]:
    """The entry that applies to an instance type: its own, else the most specific glob
    (the most literal characters), else `default`."""
    if instance_type in thresholds:
        return instance_type, thresholds[instance_type]
    globs = [g for g in thresholds if g != "default" and fnmatch.fnmatchcase(instance_type, g)]
    if globs:
        best = max(globs, key=lambda g: (len(g.replace("*", "").replace("?", "")), g))
        return best, thresholds[best]
    return "default", thresholds["default"]


def money(value: float | None) -> str:
    return "price unknown" if value is None else f"${value:,.2f}"


@dataclass(frozen=True)
class App:
    owner: str  # the user profile it runs for (a space's owner)
    app_type: str
    app_name: str
    space: str | None
    instance_type: str
    age: float  # seconds since CreationTime
    limit: int  # the threshold that applies, in seconds
    rule: str  # which entry of the thresholds gave it
    price: float | None  # per hour

    @property
    def where(self) -> str:
        return f"space {self.space}" if self.space else f"profile {self.owner}"

    def line(self) -> str:
        return (
            f"- {self.app_type} {self.app_name} ({self.where}) on {self.instance_type}: "
            f"running {human(self.age)} (threshold {human(self.limit)}), "
            f"{money(self.price)}/h, about {money(self.cost)} so far"
        )

    @property
    def cost(self) -> float | None:
        return None if self.price is None else self.price * self.age / 3600


@dataclass
class Message:
    kind: str  # reminder | summary
    to: list[str]
    template: str
    data: dict[str, str]

    def rendered(self) -> tuple[str, str]:
        """Subject and text as SES renders the template with this data."""
        parts = TEMPLATES[self.kind]
        return render(parts["SubjectPart"], self.data), render(parts["TextPart"], self.data)


@dataclass
class Report:
    seen: int  # running apps on the domain
    overdue: list[App]
    messages: list[Message]  # one per user, then the admins' summary
    no_email: list[str]  # owners of overdue apps without an email tag
    sent: bool = False


def render(template: str, data: dict[str, str]) -> str:
    """A template's `{{name}}` filled (the subset of SES's Handlebars the templates use)."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(data.get(m.group(1), "")), template)


def overdue(
    apps: list[dict[str, Any]],
    owners: dict[str, str],
    settings: Settings,
    now: datetime,
) -> tuple[int, list[App]]:
    """(how many apps run, those past their threshold), from ListApps' summaries and
    spaces' owners. The instance type is the app's ResourceSpec's, never read from its
    name."""
    seen, found = 0, []
    for app in apps:
        if app.get("Status") in SKIPPED:
            continue
        seen += 1
        space = app.get("SpaceName")
        owner = owners.get(space, "") if space else app.get("UserProfileName", "")
        kind = (app.get("ResourceSpec") or {}).get("InstanceType") or "unknown"
        created = app["CreationTime"]
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        age = (now - created).total_seconds()
        rule, limit = threshold(kind, settings.thresholds)
        if age < limit:
            continue
        price = settings.price(kind)
        found.append(App(owner, app["AppType"], app["AppName"], space, kind, age, limit, rule,
                         price))  # fmt: skip
    found.sort(key=lambda a: (a.owner, -a.age, a.app_type, a.app_name))
    return seen, found


def _hourly(apps: list[App]) -> str:
    known = [a.price for a in apps if a.price is not None]
    total = money(sum(known)) if known else money(None)
    return total + ("" if len(known) == len(apps) else " (and apps of unknown price)")


def compose(
    seen: int, late: list[App], emails: dict[str, str | None], settings: Settings
) -> Report:
    """One message per user with overdue apps (those with an email), and one summary to
    the admins when anything is overdue. Users all under threshold get nothing."""
    messages: list[Message] = []
    no_email: list[str] = []
    users = sorted({a.owner for a in late})
    for user in users:
        theirs = [a for a in late if a.owner == user]
        address = emails.get(user)
        if not address:
            no_email.append(user or "(no owner)")
            continue
        data = {
            "user": user,
            "team": settings.team,
            "domain": settings.domain_id,
            "count": str(len(theirs)),
            "hourly": _hourly(theirs),
            "apps": "\n".join(a.line() for a in theirs),
        }
        messages.append(Message("reminder", [address], settings.templates["reminder"], data))
    if late and settings.admins:
        notes = ""
        if no_email:
            notes = f"No email on the profile of: {', '.join(no_email)} (not reminded).\n\n"
        data = {
            "team": settings.team,
            "domain": settings.domain_id,
            "count": str(len(late)),
            "users": str(len(users)),
            "seen": str(seen),
            "hourly": _hourly(late),
            "apps": "\n".join(f"{a.owner or '(no owner)'}: {a.line()[2:]}" for a in late),
            "notes": notes,
        }
        messages.append(
            Message("summary", list(settings.admins), settings.templates["summary"], data)
        )
    return Report(seen, late, messages, no_email)


# --- AWS ------------------------------------------------------------------------------


def list_apps(sm: Any, domain_id: str) -> list[dict[str, Any]]:
    """Every app of the domain, all pages."""
    found: list[dict[str, Any]] = []
    pages = sm.get_paginator("list_apps").paginate(
        DomainIdEquals=domain_id, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for page in pages:
        found += page.get("Apps", [])
    return found


def space_owners(sm: Any, domain_id: str) -> dict[str, str]:
    """Each space's owner (OwnershipSettings), all pages."""
    owners: dict[str, str] = {}
    pages = sm.get_paginator("list_spaces").paginate(
        DomainIdEquals=domain_id, PaginationConfig={"PageSize": PAGE_SIZE}
    )
    for page in pages:
        for space in page.get("Spaces", []):
            owner = (space.get("OwnershipSettingsSummary") or {}).get("OwnerUserProfileName")
            owners[space["SpaceName"]] = owner or ""
    return owners


def emails_of(sm: Any, users: list[str], settings: Settings) -> dict[str, str | None]:
    """Each user's email, from their profile's tag (None when it has none)."""
    found: dict[str, str | None] = {}
    for user in users:
        if not user:
            continue
        try:
            tags = sm.list_tags(ResourceArn=settings.profile_arn(user)).get("Tags", [])
        except sm.exceptions.ResourceNotFound:
            tags = []
        found[user] = next((t["Value"] for t in tags if t["Key"] == settings.email_tag), None)
    return found


def send(ses: Any, report: Report, settings: Settings) -> None:
    for message in report.messages:
        ses.send_templated_email(
            Source=settings.sender,
            Destination={"ToAddresses": message.to},
            Template=message.template,
            TemplateData=json.dumps(message.data),
        )
    report.sent = True


def run(
    sm: Any, ses: Any, settings: Settings, now: datetime | None = None, deliver: bool = True
) -> Report:
    """Find the overdue apps, compose the messages, and send them unless `deliver` is
    False (a dry run). Only the owners of overdue apps have their email looked up."""
    moment = now or datetime.now(UTC)
    apps = list_apps(sm, settings.domain_id)
    in_spaces = any(a.get("SpaceName") for a in apps if a.get("Status") not in SKIPPED)
    owners = space_owners(sm, settings.domain_id) if in_spaces else {}
    seen, late = overdue(apps, owners, settings, moment)
    emails = emails_of(sm, sorted({a.owner for a in late}), settings)
    report = compose(seen, late, emails, settings)
    if deliver:
        send(ses, report, settings)
    return report


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda function's entry point (EventBridge's scheduled event)."""
    import boto3  # the Lambda runtime has it; nothing else is needed

    settings = Settings.from_json(os.environ[ENV])
    report = run(
        boto3.client("sagemaker", region_name=settings.region),
        boto3.client("ses", region_name=settings.region),
        settings,
        deliver=not settings.dry_run,
    )
    for message in report.messages:
        subject, _ = message.rendered()
        sent = "sent" if report.sent else "dry run, not sent"
        print(f"{message.kind} to {', '.join(message.to)}: {subject} ({sent})")
    return {
        "seen": report.seen,
        "overdue": len(report.overdue),
        "messages": len(report.messages),
        "sent": report.sent,
        "no_email": report.no_email,
    }
