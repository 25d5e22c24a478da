"""The workspace side on a fake SageMaker (what its typed front, smstudio.core.sagemaker,
lets a test hand it): up, down, open and status without an endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from smstudio.core.config import parse
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.core.sagemaker import App, AppId, SpaceSummary
from smstudio.workspaces import apps

TEAM = parse("""
[domain]
name = "ml-team"
[defaults]
allowed_instance_types = ["ml.t3.medium", "ml.m5.large"]
[[users]]
name = "alice"
email = "alice@example.com"
[[spaces]]
name = "churn"
owner = "alice"
sharing = "Shared"
""", "team.toml")  # fmt: skip
QUIET = Console(quiet=True)


class FakeSageMaker:
    """In memory: one domain; an app starts at once."""

    def __init__(self) -> None:
        self.spaces_made: dict[str, dict[str, Any]] = {}
        self.running: dict[str, App] = {}
        self.calls: list[str] = []

    def domain_id(self, name: str) -> str | None:
        return "d-000000000001" if name == "ml-team" else None

    def space(self, domain_id: str, name: str) -> dict[str, Any] | None:
        return self.spaces_made.get(name)

    def spaces(self, domain_id: str) -> list[SpaceSummary]:
        return [{"SpaceName": n} for n in self.spaces_made]

    def profile_names(self, domain_id: str) -> list[str]:
        return ["alice"]

    def create_private_space(self, domain_id: str, name: str, owner: str, tag: str) -> None:
        self.calls.append(f"create_space {name}")
        self.spaces_made[name] = {"owner": owner, "tags": {tag: owner}}

    def app(self, ident: AppId) -> App | None:
        return self.running.get(ident["SpaceName"])

    def create_app(self, ident: AppId, instance_type: str) -> None:
        self.calls.append(f"create_app {ident['SpaceName']} {instance_type}")
        self.running[ident["SpaceName"]] = {**ident, "Status": "InService",
                                            "ResourceSpec": {"InstanceType": instance_type},
                                            "CreationTime": datetime.now(UTC)}  # fmt: skip

    def delete_app(self, ident: AppId) -> None:
        self.calls.append(f"delete_app {ident['SpaceName']}")
        self.running[ident["SpaceName"]]["Status"] = "Deleted"

    def apps(self, domain_id: str) -> list[App]:
        return list(self.running.values())

    def presigned_url(self, domain_id: str, user: str, space: str | None = None) -> str:
        return f"https://studio/{user}/{space}"


def test_up_makes_the_private_space_tagged_then_the_app_then_reuses_it() -> None:
    sm: Any = FakeSageMaker()
    ws = apps.workspace(sm, TEAM, "alice", None)
    assert apps.up(sm, TEAM, ws, None, QUIET) == "https://studio/alice/alice-space"
    assert sm.spaces_made["alice-space"] == {"owner": "alice", "tags": {"studiouserid": "alice"}}
    assert apps.up(sm, TEAM, ws, None, QUIET) == "https://studio/alice/alice-space"
    assert sm.calls == ["create_space alice-space", "create_app alice-space ml.t3.medium"]


def test_an_instance_type_not_allowed_is_bad_input() -> None:
    sm: Any = FakeSageMaker()
    ws = apps.workspace(sm, TEAM, "alice", None)
    with pytest.raises(BadInput, match=r"may not use ml\.p3\.2xlarge"):
        apps.up(sm, TEAM, ws, "ml.p3.2xlarge", QUIET)
    assert sm.calls == []


def test_a_declared_space_is_never_made_by_up() -> None:
    sm: Any = FakeSageMaker()
    ws = apps.workspace(sm, TEAM, "alice", "churn")
    with pytest.raises(SmstudioError, match="does not exist yet"):
        apps.up(sm, TEAM, ws, None, QUIET)


def test_down_stops_a_running_app_once_and_status_lists_it() -> None:
    sm: Any = FakeSageMaker()
    ws = apps.workspace(sm, TEAM, "alice", None)
    apps.up(sm, TEAM, ws, "ml.m5.large", QUIET)
    sm.running["alice-space"]["CreationTime"] -= timedelta(minutes=5)
    [row] = apps.status(sm, ws.domain_id)
    assert (row.owner, row.instance_type, row.status, row.age) == (
        "alice-space", "ml.m5.large", "InService", "5m")  # fmt: skip
    assert apps.down(sm, ws, QUIET) is True
    assert apps.down(sm, ws, QUIET) is False
    assert apps.status(sm, ws.domain_id) == []


def test_a_missing_domain_says_to_apply() -> None:
    other = parse('[domain]\nname = "nope"\n', "team.toml")
    with pytest.raises(SmstudioError, match=r"run `smstudio apply` first"):
        apps.find_domain(FakeSageMaker(), other)  # type: ignore[arg-type]
