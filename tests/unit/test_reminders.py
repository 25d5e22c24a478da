"""Reminders, pure: durations, thresholds by type or family glob, which apps are overdue
(the instance type from ResourceSpec, never the name; deleted and failed apps skipped),
the messages; ListApps paginated past 100 with a fake client; the team file's
[reminders]; the function's package; what the plan deploys."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smstudio.core import config
from smstudio.core.errors import BadInput
from smstudio.register import reminders as deployed
from smstudio.register.plan import Inputs, plan
from smstudio.register.state import State
from smstudio.teamops import reminders

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SETTINGS = reminders.Settings(
    team="ml-team", domain_id="d-abcdefabcdef", region="us-east-1", account="111122223333",
    sender="ops@example.com", admins=("lead@example.com",),
    thresholds={"default": 86400, "ml.t3.*": 5 * 86400, "ml.g5.xlarge": 3600, "ml.g5.*": 7200},
    templates={"reminder": "t-reminder", "summary": "t-summary"},
)  # fmt: skip


def app(owner: str, name: str, kind: str, days: float, status: str = "InService",
        space: str | None = None) -> dict[str, Any]:  # fmt: skip
    found = {"DomainId": "d-abcdefabcdef", "AppType": "KernelGateway", "AppName": name,
             "Status": status, "CreationTime": NOW - timedelta(days=days),
             "ResourceSpec": {"InstanceType": kind}}  # fmt: skip
    if space:
        found.update(SpaceName=space, AppType="JupyterLab")
    else:
        found["UserProfileName"] = owner
    return found


def test_durations_and_thresholds() -> None:
    assert reminders.parse_duration("30m") == 1800
    assert reminders.parse_duration("1d12h") == 129600
    with pytest.raises(ValueError):
        reminders.parse_duration("5x")
    with pytest.raises(ValueError):
        reminders.parse_duration("")
    assert reminders.threshold("ml.t3.large", SETTINGS.thresholds) == ("ml.t3.*", 5 * 86400)
    assert reminders.threshold("ml.g5.xlarge", SETTINGS.thresholds) == ("ml.g5.xlarge", 3600)
    assert reminders.threshold("ml.g5.2xlarge", SETTINGS.thresholds) == ("ml.g5.*", 7200)
    assert reminders.threshold("ml.m5.large", SETTINGS.thresholds) == ("default", 86400)
    assert reminders.human(5 * 86400 + 3 * 3600 + 59) == "5d 3h"
    assert reminders.human(7 * 3600 + 20 * 60) == "7h 20m"


def test_overdue_apps_by_resource_spec_skipping_the_stopped() -> None:
    apps = [
        app("alice", "ml-t3-medium", "ml.m5.large", 2),  # the name is not the type
        app("alice", "t3", "ml.t3.medium", 4),
        app("bob", "old", "ml.m5.large", 9, "Deleted"),
        app("bob", "broken", "ml.m5.large", 9, "Failed"),
        app("bob", "going", "ml.m5.large", 9, "Deleting"),
        app("", "default", "ml.g5.xlarge", 0.5, space="team-lab"),
        app("carol", "pending", "ml.m5.large", 1.5, "Pending"),
    ]
    seen, late = reminders.overdue(apps, {"team-lab": "bob"}, SETTINGS, NOW)
    assert seen == 4
    assert [(a.owner, a.app_name, a.rule) for a in late] == [
        ("alice", "ml-t3-medium", "default"), ("bob", "default", "ml.g5.xlarge"),
        ("carol", "pending", "default")]  # fmt: skip
    assert late[1].where == "space team-lab" and late[1].price == 1.408


def test_one_message_per_user_a_summary_and_nothing_for_the_rest() -> None:
    apps = [app("alice", "a", "ml.m5.large", 2), app("alice", "b", "ml.m5.large", 3),
            app("dave", "x", "ml.m5.large", 2), app("carol", "ok", "ml.t3.medium", 1)]  # fmt: skip
    seen, late = reminders.overdue(apps, {}, SETTINGS, NOW)
    report = reminders.compose(seen, late, {"alice": "alice@example.com", "dave": None}, SETTINGS)
    assert [(m.kind, m.to) for m in report.messages] == [
        ("reminder", ["alice@example.com"]), ("summary", ["lead@example.com"])]  # fmt: skip
    assert report.no_email == ["dave"]
    subject, text = report.messages[0].rendered()
    assert subject == "2 SageMaker Studio app(s) of yours running long ($0.23/h)"
    assert "- KernelGateway b (profile alice) on ml.m5.large: running 3d 0h" in text
    assert "{{" not in text
    _, summary = report.messages[1].rendered()
    assert "No email on the profile of: dave" in summary
    quiet = reminders.compose(*reminders.overdue(apps[3:], {}, SETTINGS, NOW), {}, SETTINGS)
    assert quiet.messages == []


class FakeSageMaker:
    """ListApps pages of at most the requested size (SageMaker's most: 100), ListTags."""

    def __init__(self, apps: list[dict[str, Any]]) -> None:
        self.apps = apps
        self.calls: list[str] = []
        self.exceptions = type("E", (), {"ResourceNotFound": KeyError})

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, PaginationConfig: dict[str, int], **_: Any) -> Any:
                size = PaginationConfig["PageSize"]
                assert size <= 100
                items = fake.apps if operation == "list_apps" else []
                for start in range(0, max(len(items), 1), size):
                    fake.calls.append(operation)
                    key = "Apps" if operation == "list_apps" else "Spaces"
                    yield {key: items[start : start + size]}

        return Paginator()

    def list_tags(self, ResourceArn: str) -> dict[str, Any]:
        self.calls.append("list_tags")
        user = ResourceArn.rsplit("/", 1)[1]
        return {"Tags": [{"Key": "smstudio:email", "Value": f"{user}@example.com"}]}


class FakeSes:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_templated_email(self, **message: Any) -> dict[str, str]:
        self.sent.append(message)
        return {"MessageId": str(len(self.sent))}


def test_pagination_past_100_apps() -> None:
    apps = [app("erin", f"e{n}", "ml.t3.medium", 1) for n in range(230)]
    apps.append(app("alice", "last", "ml.m5.large", 2))  # on the third page
    sm, ses = FakeSageMaker(apps), FakeSes()
    report = reminders.run(sm, ses, SETTINGS, NOW)
    assert report.seen == 231 and [a.app_name for a in report.overdue] == ["last"]
    assert sm.calls == ["list_apps"] * 3 + ["list_tags"]  # no spaces: no ListSpaces
    assert [m["Destination"]["ToAddresses"] for m in ses.sent] == [
        ["alice@example.com"], ["lead@example.com"]]  # fmt: skip
    dry = reminders.run(FakeSageMaker(apps), FakeSes(), SETTINGS, NOW, deliver=False)
    assert not dry.sent and len(dry.messages) == 2


TEAM = """
[domain]
name = "ml-team"
[reminders]
sender = "ops@example.com"
admins = ["lead@example.com"]
[reminders.thresholds]
default = "1d"
"ml.t3.*" = "5d"
[reminders.prices]
"ml.t3.medium" = 0.06
"""


def test_the_team_file_and_its_errors() -> None:
    team = config.parse(TEAM, "team.toml")
    made = deployed.settings(team, "d-abcdefabcdef", "111122223333", "us-east-1")
    assert made.thresholds == {"default": 86400, "ml.t3.*": 432000}
    assert made.price("ml.t3.medium") == 0.06 and made.price("ml.m5.large") == 0.115
    assert reminders.Settings.from_json(made.to_json()) == made
    for bad, said in [
        ('"ml.t3.*" = "5 days"', "a duration is days, hours and minutes"),
        ('"t3*" = "5d"', "a family glob in quotes"),
    ]:
        with pytest.raises(BadInput, match=said):
            config.parse(TEAM.replace('"ml.t3.*" = "5d"', bad), "team.toml")
    with pytest.raises(BadInput, match="needs a `default`"):
        config.parse(TEAM.replace('default = "1d"\n', ""), "team.toml")
    with pytest.raises(BadInput, match="EventBridge expression"):
        config.parse(TEAM.replace("[reminders]\n", '[reminders]\nschedule = "daily"\n'), "t")


def test_the_package_is_the_module_alone_and_stable() -> None:
    code = deployed.package()
    assert deployed.package() == code
    names = zipfile.ZipFile(io.BytesIO(code)).namelist()
    assert names == ["reminders.py"]
    source = zipfile.ZipFile(io.BytesIO(code)).read("reminders.py").decode()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}  # fmt: skip
    assert imports <= {"__future__", "fnmatch", "json", "os", "re", "dataclasses", "datetime",
                       "typing"}  # fmt: skip


def test_the_plan_deploys_reminders_then_nothing() -> None:
    team = config.parse(TEAM, "team.toml")
    state = State(account="111122223333", region="us-east-1",
                  domain={"id": "d-abcdefabcdef", "settings": {}, "identity": "USER_PROFILE_NAME",
                          "docker": {}})  # fmt: skip
    made = plan(team, Inputs(), state)
    ours = [c.id for c in made.changes if "reminders" in c.target or c.step.startswith("ses")]
    assert ours == [
        "iam role:smstudio-ml-team-reminders:create",
        "ses identity:ops@example.com:create",
        "ses template:smstudio-ml-team-reminders-reminder:create",
        "ses template:smstudio-ml-team-reminders-summary:create",
        "reminders function:smstudio-ml-team-reminders:create",
        "reminders schedule:smstudio-ml-team-reminders:create",
        "reminders schedule:smstudio-ml-team-reminders:allow",
        "reminders schedule:smstudio-ml-team-reminders:target",
    ]
    without = config.parse(TEAM.split("[reminders]")[0], "team.toml")
    assert not [c for c in plan(without, Inputs(), state).changes if "reminders" in c.target]
