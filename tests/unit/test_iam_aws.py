"""IAM builders (linted by parliament) and the AWS client factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string
from typer.testing import CliRunner

from smstudio import cli
from smstudio.core import aws
from smstudio.register import iam

SCOPE = iam.Scope(account="111122223333", region="eu-west-1", domain_id="d-abcdefabcdef")
TYPES = ["ml.t3.medium", "ml.m5.large"]


NAMES = iam.Names("ml-team")


def all_policies() -> dict[str, iam.Policy]:
    return {
        "user": iam.user_policy(SCOPE, TYPES),
        "user-access": iam.user_access_policy(SCOPE),
        "execution": iam.execution_role_policy(SCOPE, "team-bucket", NAMES.ssm_instance_role),
        "trust": iam.sagemaker_trust_policy(),
        "user-trust": iam.user_trust_policy("111122223333"),
        "ssm-instance": iam.ssm_instance_policy(),
    }


# parliament's action data lists only `document` as ssm:SendCommand's resource; AWS also
# takes managed instances (that is how the key push is confined to one's own apps). Its
# data predates SageMaker's remote access (sar.ADDED_PRIVILEGES and ADDED_KEYS).
KNOWN_GAPS = [
    ("RESOURCE_MISMATCH",
     [{"action": "ssm:SendCommand", "required_format": "arn:*:ssm:*:*:document/*"}]),
    ("UNKNOWN_ACTION", "Unknown action sagemaker:StartSession"),
    ("UNKNOWN_CONDITION_FOR_ACTION",
     "Unknown condition sagemaker:RemoteAccess for action sagemaker:CreateSpace"),
    ("UNKNOWN_CONDITION_FOR_ACTION",
     "Unknown condition sagemaker:RemoteAccess for action sagemaker:UpdateSpace"),
]  # fmt: skip


@pytest.mark.parametrize("name", ["user", "user-access", "execution", "ssm-instance"])
def test_parliament_finds_nothing(name: str) -> None:
    findings = analyze_policy_string(json.dumps(all_policies()[name])).findings
    assert [(f.issue, f.detail) for f in findings if (f.issue, f.detail) not in KNOWN_GAPS] == []


def test_policies_fit_iams_size_limits() -> None:
    """Managed policies take 6144 characters (whitespace not counted), inline role
    policies 10240."""
    compact = {k: len(json.dumps(v, separators=(",", ":"))) for k, v in all_policies().items()}
    assert compact["user"] <= 6144 and compact["user-access"] <= 6144, compact
    # the allowed instance types are written once: a team may allow many
    many = [f"ml.m5.{n}xlarge" for n in range(40)]
    assert len(json.dumps(iam.user_policy(SCOPE, many), separators=(",", ":"))) <= 6144
    assert compact["execution"] <= 10240, compact


def test_trust_policies() -> None:
    (statement,) = iam.sagemaker_trust_policy()["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    # USER_PROFILE_NAME needs SageMaker to set the SourceIdentity of apps' sessions
    assert {"sts:AssumeRole", "sts:SetSourceIdentity"} <= set(statement["Action"])
    (users,) = iam.user_trust_policy("111122223333")["Statement"]
    assert users["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    provider = "arn:aws:iam::111122223333:saml-provider/IdentityCenter"
    saml, tagging = iam.user_trust_policy("111122223333", provider)["Statement"]
    assert saml["Principal"] == tagging["Principal"] == {"Federated": provider}
    assert saml["Action"] == ["sts:AssumeRoleWithSAML"]
    # session tags never name a studiouserid (it would override the role's own tag)
    assert tagging["Condition"] == {
        "ForAllValues:StringNotEqualsIgnoreCase": {"aws:TagKeys": ["studiouserid"]}
    }
    assert "sts:TagSession" not in users["Action"]


def test_names_carry_the_team_and_fit_iam() -> None:
    assert NAMES.execution_role == "smstudio-ml-team-execution"
    assert NAMES.user_role("alice") == "smstudio-ml-team-user-alice"
    assert iam.Names("other-team").user_role("alice") != NAMES.user_role("alice")
    long = iam.Names("a" * 63)
    assert len(long.user_role("b" * 63)) == 64 and long.user_role("b" * 63).startswith("smstudio-")
    assert long.user_role("b" * 63) != long.user_role("b" * 62 + "c")


def test_user_policy_is_scoped_to_the_domain() -> None:
    """Every sagemaker, secret and managed-instance resource is in the team's domain,
    region and account; only read-only listing is on "*"."""
    statements = [*iam.user_policy(SCOPE, TYPES)["Statement"],
                  *iam.user_access_policy(SCOPE)["Statement"]]  # fmt: skip
    for statement in statements:
        for arn in statement["Resource"]:
            if arn == "*":
                assert all(
                    a.split(":")[1].startswith(("List", "Describe", "Get"))
                    for a in statement["Action"]
                )
            elif ":sagemaker:" in arn or ":secretsmanager:" in arn:
                assert arn.startswith(("arn:aws:sagemaker:eu-west-1:111122223333:",
                                       "arn:aws:secretsmanager:eu-west-1:111122223333:"))  # fmt: skip
                assert "d-abcdefabcdef" in arn
    by_sid = {s["Sid"]: s for s in statements}
    for sid in ("AppsInOwnPrivateSpaces", "AppsInSharedSpaces", "OwnKernelGatewayApps",
                "UpdateOwnSpaces"):  # fmt: skip
        condition = by_sid[sid]["Condition"]
        assert condition["Null"]["sagemaker:InstanceTypes"] == "false", sid
    deny = by_sid["AllowedInstanceTypesOnly"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {
        "ForAnyValue:StringNotEquals": {"sagemaker:InstanceTypes": [*TYPES, "system"]}}


def test_managed_instance_role_carries_only_the_agent_channels() -> None:
    """What the activation's role gives an app's managed instance: the agent's message
    channels, no data, no way to reach another instance."""
    (statement,) = iam.ssm_instance_policy()["Statement"]
    services = {a.split(":")[0] for a in statement["Action"]}
    assert services == {"ssm", "ssmmessages", "ec2messages"}
    assert [a for a in statement["Action"] if a.startswith("ssm:")] == [
        "ssm:UpdateInstanceInformation"
    ]
    (trust,) = iam.ssm_trust_policy()["Statement"]
    assert trust["Principal"] == {"Service": "ssm.amazonaws.com"}


def test_env_endpoint_precedence() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_SAGEMAKER": "http://127.0.0.1:2",
    }
    assert aws.env_endpoint("sagemaker", env) == "http://127.0.0.1:2"
    assert aws.env_endpoint("sts", env) == "http://127.0.0.1:1"
    assert aws.env_endpoint("secretsmanager", {}) is None


def test_clients_use_overrides_region_and_standard_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    factory = aws.Aws(region="eu-west-1", endpoints={"sagemaker": "http://127.0.0.1:2"})
    sagemaker = factory.client("sagemaker")
    assert sagemaker.meta.endpoint_url == "http://127.0.0.1:2"
    assert sagemaker.meta.region_name == "eu-west-1"
    assert factory.client("sts").meta.endpoint_url == "http://127.0.0.1:1"
    # botocore's max_attempts counts retries; the first try comes on top.
    assert sagemaker.meta.config.retries == {
        "mode": "standard",
        "total_max_attempts": aws.MAX_ATTEMPTS + 1,
    }


def test_event_hooks_see_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook apply's idempotency tests count mutating calls with."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    seen: list[str] = []
    factory = aws.Aws(
        region="us-east-1",
        endpoints={"sagemaker": "http://127.0.0.1:9"},
        max_attempts=1,
        event_hooks=[("before-call.sagemaker.*", lambda model, **_: seen.append(model.name))],
    )
    with pytest.raises(Exception, match=r"127\.0\.0\.1:9"):
        factory.client("sagemaker").list_domains()
    assert seen == ["ListDomains"]


def test_cli_prints_a_users_identity_trust_and_policy(tmp_path: Path) -> None:
    """`smstudio iam policy`: the user's role (named for the team), its trust and tag, its
    policy; the team file's IAM principal instead when it names one."""
    team = tmp_path / "team.toml"
    team.write_text(TEAM)
    runner = CliRunner()
    args = ["iam", "policy", "--team", str(team), "--account", "111122223333",
            "--domain-id", "d-abcdefabcdef"]  # fmt: skip
    done = runner.invoke(cli.app, [*args, "--user", "alice"])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    alice = printed["user:alice"]
    assert alice["role"] == "smstudio-ml-team-user-alice"
    assert alice["tags"] == {"studiouserid": "alice"}
    assert alice["trust"] == iam.user_trust_policy("111122223333")
    assert alice["document"] == iam.user_policy(SCOPE_US, TYPES)
    assert alice["access-policy"] == "smstudio-ml-team-access-alice"
    assert alice["access-document"] == iam.user_access_policy(SCOPE_US)
    assert printed["execution-role"]["role"] == "smstudio-ml-team-execution"
    bob = json.loads(runner.invoke(cli.app, [*args, "--user", "bob"]).stdout)["user:bob"]
    assert bob["existing principal"] == "arn:aws:iam::111122223333:user/bob.smith"
    missing = runner.invoke(cli.app, [*args, "--user", "mallory"])
    assert missing.exit_code != 0 and "no user 'mallory'" in str(missing.exception)


SCOPE_US = iam.Scope(account="111122223333", region="us-east-1", domain_id="d-abcdefabcdef")
TEAM = """
[domain]
name = "ml-team"
[defaults]
allowed_instance_types = ["ml.t3.medium", "ml.m5.large"]
[[users]]
name = "alice"
email = "alice@example.com"
[[users]]
name = "bob"
email = "bob@example.com"
iam_principal = "arn:aws:iam::111122223333:user/bob.smith"
"""


def test_starter_content_elsewhere_is_readable_by_its_prefix_only() -> None:
    assert iam.starter_statements("team-bucket", "s3://team-bucket/starter/") == []
    read, listing = iam.starter_statements("team-bucket", "s3://shared-content/ml/starter/")
    assert read["Resource"] == ["arn:aws:s3:::shared-content/ml/starter/*"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["ml/starter/*"]}}
    policy = iam.execution_role_policy(SCOPE, "team-bucket", NAMES.ssm_instance_role,
                                       starter_s3="s3://shared-content/ml/starter/")  # fmt: skip
    assert [s["Sid"] for s in policy["Statement"]][-2:] == ["ReadStarterContent", "ListStarterContent"]
