"""Reminders against the local Studio: apply deploys them (as the admin), then the
handler runs with the Lambda role's own session (as Lambda gets it: the role assumed by
lambda.amazonaws.com) over a domain of apps of several ages and instance types, more than
a page of them. Apps get their ages from the control plane's clock (no sleeping), and
the emails are read back from the local Studio's SES."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rich.console import Console

from smstudio.core import config
from smstudio.local import adminapi
from smstudio.register import apply
from smstudio.teamops import reminders
from tests.emulator.conftest import LocalAws

DAY, HOUR = 86400, 3600
ACCOUNT = "123456789012"
FUNCTION = "smstudio-ml-team-reminders"
TEAM = """
[domain]
name = "ml-team"
region = "us-east-1"
[defaults]
instance_type = "ml.t3.medium"
allowed_instance_types = ["ml.t3.medium", "ml.m5.large", "ml.g5.xlarge"]
[reminders]
sender = "studio-ops@example.com"
admins = ["lead@example.com"]
schedule = "rate(1 day)"
[reminders.thresholds]
default = "1d"
"ml.t3.*" = "5d"
"ml.g5.*" = "12h"
[reminders.prices]
"ml.g5.xlarge" = 1.5
[[users]]
name = "alice"
email = "alice@example.com"
[[users]]
name = "bob"
email = "bob@example.com"
[[users]]
name = "carol"
email = "carol@example.com"
[[users]]
name = "erin"
email = "erin@example.com"
[[spaces]]
name = "team-lab"
owner = "bob"
sharing = "Shared"
"""


@pytest.fixture
def deployed(local: LocalAws, tmp_path: Path) -> tuple[config.Team, Path]:
    local.region = "us-east-1"
    path = tmp_path / "team.toml"
    path.write_text(TEAM)
    team, base = config.load(path)
    done = apply.run(team, base, local.clients(), Console(stderr=True))
    steps = {c.step for c in done}
    assert {"reminders function", "reminders schedule", "ses identity", "ses template"} <= steps
    return team, base


def aged(local: LocalAws, seconds: float, **app: Any) -> None:
    """An app created `seconds` ago by the control plane's clock (as the admin)."""
    adminapi.set_clock(local.url, local.root, -seconds)
    try:
        local.client("sagemaker").create_app(**app)
    finally:
        adminapi.set_clock(local.url, local.root, 0)


def lambda_clients(local: LocalAws) -> Any:
    """Clients with the function's own session: its role as Lambda assumes it."""
    made = local.server.gateway.identities.assume_as_service(
        f"arn:aws:iam::{ACCOUNT}:role/{FUNCTION}", "lambda.amazonaws.com", FUNCTION, None, 3600
    )["Credentials"]
    return local.clients({k: made[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")})


def test_apply_deploys_reminders_idempotently(local: LocalAws, deployed: Any) -> None:
    team, base = deployed
    lam, events = local.client("lambda"), local.client("events")
    function = lam.get_function_configuration(FunctionName=FUNCTION)
    assert function["Role"].endswith(f":role/{FUNCTION}") and function["Runtime"] == "python3.12"
    settings = reminders.Settings.from_json(function["Environment"]["Variables"][reminders.ENV])
    assert settings.thresholds == {"default": DAY, "ml.t3.*": 5 * DAY, "ml.g5.*": 12 * HOUR}
    assert settings.sender == "studio-ops@example.com" and settings.admins == ("lead@example.com",)
    assert events.describe_rule(Name=FUNCTION)["ScheduleExpression"] == "rate(1 day)"
    targets = events.list_targets_by_rule(Rule=FUNCTION)["Targets"]
    assert [t["Arn"] for t in targets] == [function["FunctionArn"]]
    policy = json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}

    again = apply.make(team, base, local.clients(), "dev")
    assert again.plan.changes == [], [c.id for c in again.plan.changes]

    # drift: someone changes the schedule and the function's settings by hand
    events.put_rule(Name=FUNCTION, ScheduleExpression="rate(7 days)", State="DISABLED")
    lam.update_function_configuration(FunctionName=FUNCTION, Timeout=3)
    drifted = apply.make(team, base, local.clients(), "dev")
    assert sorted(c.id for c in drifted.plan.changes) == [
        f"reminders function:{FUNCTION}:update", f"reminders schedule:{FUNCTION}:update"]  # fmt: skip
    apply.execute(drifted, local.clients(), Console(stderr=True))
    assert apply.make(team, base, local.clients(), "dev").plan.changes == []


def test_the_right_people_get_the_right_emails(
    local: LocalAws, deployed: Any, tmp_path: Path
) -> None:
    sm = local.client("sagemaker")
    domain_id = sm.list_domains()["Domains"][0]["DomainId"]
    kg = {"DomainId": domain_id, "AppType": "KernelGateway"}
    # alice: a t3 app past 5 days, and an m5 app past 1 day whose name reads like a t3
    aged(local, 6 * DAY, **kg, UserProfileName="alice", AppName="old-t3",
         ResourceSpec={"InstanceType": "ml.t3.medium"})  # fmt: skip
    aged(local, 2 * DAY, **kg, UserProfileName="alice", AppName="ml-t3-medium",
         ResourceSpec={"InstanceType": "ml.m5.large"})  # fmt: skip
    # bob: the shared space he owns runs a g5 for 13 hours; his own m5 app for 2 hours
    aged(local, 13 * HOUR, DomainId=domain_id, SpaceName="team-lab", AppType="JupyterLab",
         AppName="default", ResourceSpec={"InstanceType": "ml.g5.xlarge"})  # fmt: skip
    aged(local, 2 * HOUR, **kg, UserProfileName="bob", AppName="fresh",
         ResourceSpec={"InstanceType": "ml.m5.large"})  # fmt: skip
    # carol: a t3 app of 4 days (under 5), an old app deleted, an old app that failed
    aged(local, 4 * DAY, **kg, UserProfileName="carol", AppName="t3",
         ResourceSpec={"InstanceType": "ml.t3.medium"})  # fmt: skip
    aged(local, 30 * DAY, **kg, UserProfileName="carol", AppName="gone",
         ResourceSpec={"InstanceType": "ml.m5.large"})  # fmt: skip
    sm.delete_app(**kg, UserProfileName="carol", AppName="gone")
    aged(local, 30 * DAY, **kg, UserProfileName="carol", AppName="broken",
         ResourceSpec={"InstanceType": "ml.m5.large"})  # fmt: skip
    broken = sm.describe_app(**kg, UserProfileName="carol", AppName="broken")["AppArn"]
    local.server.plane.app_status(broken, "Failed", "the image's kernelspec is missing")
    # erin: 120 t3 apps of 3 days (under 5), newer than alice's: hers come after page one
    for n in range(120):
        aged(local, 3 * DAY, **kg, UserProfileName="erin", AppName=f"erin-{n}",
             ResourceSpec={"InstanceType": "ml.t3.medium"})  # fmt: skip
    first = sm.list_apps(DomainIdEquals=domain_id, MaxResults=100)["Apps"]
    assert "old-t3" not in {a["AppName"] for a in first}, "alice's apps must be past page one"

    # `remind --dry-run`, as the admin runs it: prints, sends nothing
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": local.root["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": local.root["SecretAccessKey"], "AWS_ENDPOINT_URL": local.url,
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})  # fmt: skip
    team_file = tmp_path / "team.toml"
    dry = subprocess.run([sys.executable, "-m", "smstudio.cli", "remind", "--dry-run",
                          "--team", str(team_file)], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "would send (dry run): 3 message(s)" in dry.stdout
    assert "--- reminder to alice@example.com" in dry.stdout and "carol@" not in dry.stdout
    assert adminapi.ses_sent(local.url, local.root, "us-east-1") == []

    # the scheduled run: the handler with the function's settings and its role's session
    function = local.client("lambda").get_function_configuration(FunctionName=FUNCTION)
    settings = reminders.Settings.from_json(function["Environment"]["Variables"][reminders.ENV])
    clients = lambda_clients(local)
    report = reminders.run(clients.client("sagemaker"), clients.client("ses"), settings)
    assert report.sent and report.seen == 125

    sent = adminapi.ses_sent(local.url, local.root, "us-east-1")
    by_address = {m["Destination"]["ToAddresses"][0]: m for m in sent}
    assert sorted(by_address) == ["alice@example.com", "bob@example.com", "lead@example.com"]
    assert all(m["Source"] == "studio-ops@example.com" for m in sent)
    alice = json.loads(by_address["alice@example.com"]["TemplateData"])
    assert alice["count"] == "2"
    assert (
        "KernelGateway ml-t3-medium (profile alice) on ml.m5.large: running 2d 0h" in alice["apps"]
    )
    assert "KernelGateway old-t3 (profile alice) on ml.t3.medium: running 6d 0h" in alice["apps"]
    bob = json.loads(by_address["bob@example.com"]["TemplateData"])
    assert (
        bob["count"] == "1" and "JupyterLab default (space team-lab) on ml.g5.xlarge" in bob["apps"]
    )
    assert "$1.50/h" in bob["apps"] and "fresh" not in bob["apps"]
    summary = by_address["lead@example.com"]
    assert summary["Template"] == f"{FUNCTION}-summary"
    data = json.loads(summary["TemplateData"])
    assert (data["count"], data["users"], data["seen"]) == ("3", "2", "125")
    subject = local.client("ses").get_template(TemplateName=summary["Template"])["Template"]
    assert reminders.render(subject["SubjectPart"], data) == (
        "Studio reminders for ml-team: 3 app(s) of 2 user(s)")  # fmt: skip

    # the function's role reaches no further than that
    with pytest.raises(ClientError) as refused:
        clients.client("sagemaker").delete_app(**kg, UserProfileName="alice", AppName="old-t3")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    local.client("ses").verify_email_identity(EmailAddress="someone@example.com")
    with pytest.raises(ClientError) as refused:
        clients.client("ses").send_templated_email(
            Source="someone@example.com", Destination={"ToAddresses": ["x@example.com"]},
            Template=f"{FUNCTION}-reminder", TemplateData="{}")  # fmt: skip
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_only_the_admin_reads_ses_and_sets_the_clock(local: LocalAws) -> None:
    alice = local.user("alice", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    from smstudio.core.errors import SmstudioError

    with pytest.raises(SmstudioError, match="refused"):
        adminapi.ses_sent(local.url, alice, "us-east-1")
    with pytest.raises(SmstudioError, match="refused"):
        adminapi.set_clock(local.url, alice, -DAY)
