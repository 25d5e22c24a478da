"""Workspaces for data scientists: bring an app up (creating its space), take it down,
list apps, and open Studio through a presigned URL. New Studio first: a user's workspace
is a private JupyterLab space named `<user>-space` with its app `default`; the spaces the
team file declares (private or shared) are opened by name."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console

from smstudio.core import facts
from smstudio.core.config import SPACE_NAME, Team, is_valid_name
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.core.sagemaker import App, AppId, SageMaker
from smstudio.core.wait import TimedOut
from smstudio.core.wait import until as wait_until

LIVE = ("Pending", "InService")


@dataclass(frozen=True)
class Workspace:
    domain_id: str
    user: str  # who opens it
    space: str
    app_type: str = "JupyterLab"
    declared: bool = False  # a space of the team file (apply makes it)
    instance_type: str | None = None  # the declared space's

    def app(self) -> AppId:
        return {
            "DomainId": self.domain_id,
            "SpaceName": self.space,
            "AppType": self.app_type,
            "AppName": facts.SPACE_APP_NAME,
        }


def find_domain(sm: SageMaker, team: Team) -> str:
    if team.domain.id:
        return team.domain.id
    found = sm.domain_id(str(team.domain.name))
    if found is None:
        raise SmstudioError(
            f"domain {team.domain.name!r} does not exist", "run `smstudio apply` first"
        )
    return found


def member(team: Team, user: str) -> None:
    """`user` is one of the team's; else a clear error naming them."""
    if team.user(user) is None:
        names = ", ".join(u.name for u in team.users)
        raise BadInput(f"{user!r} is not in the team (users: {names})", "pick a team member")


def workspace(sm: SageMaker, team: Team, user: str, space: str | None) -> Workspace:
    member(team, user)
    if space is not None and not is_valid_name(SPACE_NAME, space):
        raise BadInput(
            f"{space!r} is not a space name smstudio takes",
            "use lower-case letters, digits and hyphens, at most 63 characters",
        )
    declared = team.space(space) if space else None
    if declared is not None:
        if declared.sharing == "Private" and declared.owner != user:
            raise BadInput(
                f"space {declared.name} is private to {declared.owner}",
                "open your own workspace, or ask for the space to be shared in the team file",
            )
        return Workspace(find_domain(sm, team), user, declared.name, declared.app_type, True,
                         declared.instance_type)  # fmt: skip
    return Workspace(find_domain(sm, team), user, space or f"{user}-space")


def wait(sm: SageMaker, app: AppId, want: tuple[str, ...], console: Console, timeout: float) -> App:
    started = time.monotonic()
    seen: list[str] = ["Pending"]
    with console.status(
        f"{app.get('SpaceName') or app.get('UserProfileName')}: waiting", spinner="dots"
    ) as status:

        def settled() -> App | None:
            found = sm.app(app) or {"Status": "Deleted"}
            seen.append(found["Status"])
            if found["Status"] in want or found["Status"] == "Failed":
                return found
            status.update(
                f"{app.get('SpaceName')}: {found['Status']} ({time.monotonic() - started:.0f}s)"
            )
            return None

        try:
            return wait_until(settled, timeout)
        except TimedOut:
            raise SmstudioError(
                f"app still {seen[-1]} after {timeout:.0f}s", "check `smstudio status`"
            ) from None


def up(
    sm: SageMaker,
    team: Team,
    ws: Workspace,
    instance_type: str | None,
    console: Console,
    timeout: float = 600,
) -> str:
    """Create or reuse the user's space and app, wait until it serves; the presigned URL."""
    member = next(u for u in team.users if u.name == ws.user)
    instance = (
        instance_type
        or ws.instance_type
        or member.default_instance_type
        or team.defaults.instance_type
    )
    if instance not in team.allowed_for(member):
        raise BadInput(
            f"{ws.user} may not use {instance}",
            f"choose one of {', '.join(team.allowed_for(member))}",
        )
    if sm.space(ws.domain_id, ws.space) is None:
        if ws.declared:
            raise SmstudioError(
                f"space {ws.space} (in the team file) does not exist yet",
                "ask the platform team to run `smstudio apply`",
            )
        sm.create_private_space(ws.domain_id, ws.space, ws.user, facts.STUDIO_USER_TAG)
    current = (sm.app(ws.app()) or {}).get("Status")
    if current == "Deleting":
        wait(sm, ws.app(), ("Deleted",), console, timeout)
        current = "Deleted"
    if current not in LIVE:
        sm.create_app(ws.app(), instance)
    found = wait(sm, ws.app(), ("InService",), console, timeout)
    if found["Status"] == "Failed":
        raise SmstudioError(
            f"{ws.space} failed to start: {found.get('FailureReason', '?')}",
            "fix the cause, then run `smstudio up` again",
        )
    return open_url(sm, ws)


def down(sm: SageMaker, ws: Workspace, console: Console, timeout: float = 300) -> bool:
    if (sm.app(ws.app()) or {}).get("Status") not in LIVE:
        return False
    sm.delete_app(ws.app())
    wait(sm, ws.app(), ("Deleted",), console, timeout)
    return True


def open_url(sm: SageMaker, ws: Workspace) -> str:
    return sm.presigned_url(ws.domain_id, ws.user, ws.space)


@dataclass(frozen=True)
class AppRow:
    owner: str
    app_type: str
    name: str
    instance_type: str
    status: str
    age: str


def age(created: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or datetime.now(UTC)) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def status(sm: SageMaker, domain_id: str) -> list[AppRow]:
    rows = [
        AppRow(
            owner=app.get("SpaceName") or app.get("UserProfileName", "?"),
            app_type=app["AppType"],
            name=app["AppName"],
            instance_type=(app.get("ResourceSpec") or {}).get("InstanceType", "-"),
            status=app["Status"],
            age=age(app["CreationTime"]),
        )
        for app in sm.apps(domain_id)
        if app["Status"] != "Deleted"
    ]
    return sorted(rows, key=lambda r: (r.owner, r.app_type))
