"""IAM builders (linted by parliament) and the AWS client factory."""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from smstudio import aws, iam

SCOPE = iam.Scope(account="111122223333", region="eu-west-1", domain_id="d-abcdefabcdef")
TYPES = ["ml.t3.medium", "ml.m5.large"]


def all_policies() -> dict[str, iam.Policy]:
    return {
        "user": iam.user_policy(SCOPE, TYPES),
        "execution": iam.execution_role_policy(SCOPE, "team-bucket"),
        "trust": iam.sagemaker_trust_policy(),
        "ssm-instance": iam.ssm_instance_policy(),
    }


# parliament's action data lists only `document` as ssm:SendCommand's resource; AWS also
# takes managed instances (that is how the key push is confined to one's own apps).
KNOWN_GAPS = [
    ("RESOURCE_MISMATCH",
     [{"action": "ssm:SendCommand", "required_format": "arn:*:ssm:*:*:document/*"}]),
]  # fmt: skip


@pytest.mark.parametrize("name", ["user", "execution", "ssm-instance"])
def test_parliament_finds_nothing(name: str) -> None:
    findings = analyze_policy_string(json.dumps(all_policies()[name])).findings
    assert [(f.issue, f.detail) for f in findings if (f.issue, f.detail) not in KNOWN_GAPS] == []


def test_trust_policy_shape() -> None:
    (statement,) = iam.sagemaker_trust_policy()["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert "sts:AssumeRole" in statement["Action"]


def test_user_policy_confines_the_caller_to_their_own_profile() -> None:
    statements = iam.user_policy(SCOPE, TYPES)["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    for sid in (
        "OpenOwnStudio",
        "StartOwnAppsOnAllowedInstanceTypes",
        "ManageOwnAppsAndSpaces",
        "DescribeOwnProfile",
    ):
        condition = by_sid[sid]["Condition"]["StringEquals"]
        assert condition == {"aws:ResourceTag/studiouserid": "${aws:PrincipalTag/studiouserid}"}
        for arn in by_sid[sid]["Resource"]:
            assert (
                arn.startswith("arn:aws:sagemaker:eu-west-1:111122223333:")
                and "/d-abcdefabcdef/" in arn
            )
    create = by_sid["StartOwnAppsOnAllowedInstanceTypes"]["Condition"]["ForAllValues:StringEquals"]
    assert create == {"sagemaker:InstanceTypes": TYPES}
    # Only read-only listing is on "*", and nothing on "*" mutates.
    for statement in statements:
        if statement["Resource"] == ["*"]:
            assert all(
                a.split(":")[1].startswith(("List", "Describe", "Get")) for a in statement["Action"]
            )


def test_git_tokens_are_confined_to_their_user() -> None:
    """Users store only their own token; an app's session reads only its user's token
    (the domain makes the user the session's SourceIdentity); no secret grant on '*'."""
    user = {s["Sid"]: s for s in iam.user_policy(SCOPE, TYPES)["Statement"]}
    assert user["StoreOwnGitToken"]["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:"
        "smstudio/d-abcdefabcdef/${aws:PrincipalTag/studiouserid}/git-token-*"
    ]
    role = {s["Sid"]: s for s in iam.execution_role_policy(SCOPE, "b")["Statement"]}
    read = role["GitTokenOfTheAppsUser"]
    assert read["Action"] == ["secretsmanager:GetSecretValue"]
    assert read["Condition"] == {
        "StringEquals": {"secretsmanager:ResourceTag/studiouserid": "${aws:SourceIdentity}"}
    }
    assert role["IdleKernelGatewayShutdown"]["Resource"] == [
        "arn:aws:sagemaker:eu-west-1:111122223333:app/d-abcdefabcdef/*/kernelgateway/*"
    ]
    for statement in (*user.values(), *role.values()):
        if statement["Resource"] == ["*"]:
            assert not any(a.startswith("secretsmanager:") for a in statement["Action"])


def test_ssh_reaches_only_apps_the_caller_owns() -> None:
    user = {s["Sid"]: s for s in iam.user_policy(SCOPE, TYPES)["Statement"]}
    own = user["SshIntoOwnApps"]
    assert own["Condition"] == {
        "StringEquals": {"ssm:resourceTag/SSHOwner": "${aws:PrincipalTag/studiouserid}"}
    }
    assert own["Resource"] == ["arn:aws:ssm:eu-west-1:111122223333:managed-instance/*"]
    docs = user["SshDocuments"]["Resource"]
    assert all(":document/AWS-" in arn for arn in docs)
    role = {s["Sid"]: s for s in iam.execution_role_policy(SCOPE, "b")["Statement"]}
    assert role["PassTheManagedInstanceRole"]["Resource"] == [
        "arn:aws:iam::111122223333:role/smstudio-ssm-instance"
    ]
    for statement in (*user.values(), *role.values()):
        if statement["Resource"] == ["*"]:
            assert "ssm:StartSession" not in statement["Action"]
            assert "ssm:SendCommand" not in statement["Action"]


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
