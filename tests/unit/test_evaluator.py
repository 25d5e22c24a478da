"""The local Studio's IAM evaluator on its own decision table: AWS's evaluation logic,
operator by operator, each on both sides."""

from __future__ import annotations

from typing import Any

import pytest

from smstudio.local.gateway.evaluator import (
    Decision,
    Principal,
    Request,
    evaluate,
    principal_allowed,
)

ARN = "arn:aws:sagemaker:us-east-1:111122223333:app/d-1/alice-space/jupyterlab/default"


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def cond(operator: str, key: str, value: Any) -> dict[str, Any]:
    return {"Condition": {operator: {key: value}}}


CASES: list[tuple[str, dict[str, Any], Request, Decision]] = [
    ("allow matches", policy(allow()), Request("sagemaker:CreateApp", ARN), Decision.ALLOW),
    ("nothing matches: implicit deny", policy(allow("ssm:*")), Request("sagemaker:CreateApp", ARN),
     Decision.IMPLICIT_DENY),
    ("explicit deny beats allow",
     policy(allow(), {"Effect": "Deny", "Action": "sagemaker:CreateApp", "Resource": "*"}),
     Request("sagemaker:CreateApp", ARN), Decision.EXPLICIT_DENY),
    ("actions ignore case", policy(allow("SageMaker:createapp")), Request("sagemaker:CreateApp", ARN),
     Decision.ALLOW),
    ("action wildcard", policy(allow("sagemaker:Describe*")), Request("sagemaker:DescribeApp", ARN),
     Decision.ALLOW),
    ("action wildcard, other verb", policy(allow("sagemaker:Describe*")),
     Request("sagemaker:DeleteApp", ARN), Decision.IMPLICIT_DENY),
    ("a service's actions only", policy(allow("sagemaker:*")), Request("ssm:SendCommand", "*"),
     Decision.IMPLICIT_DENY),
    ("NotAction allows the rest", policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
     Request("sagemaker:DeleteApp", ARN), Decision.ALLOW),
    ("NotAction excludes", policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
     Request("iam:PassRole", "arn:aws:iam::1:role/x"), Decision.IMPLICIT_DENY),
    ("resource wildcard", policy(allow(resource="arn:aws:sagemaker:*:*:app/d-1/*")),
     Request("sagemaker:DeleteApp", ARN), Decision.ALLOW),
    ("resources are case-sensitive", policy(allow(resource=ARN.upper())),
     Request("sagemaker:DeleteApp", ARN), Decision.IMPLICIT_DENY),
    ("? matches one character", policy(allow(resource=ARN[:-1] + "?")),
     Request("sagemaker:DeleteApp", ARN), Decision.ALLOW),
    ("NotResource", policy({"Effect": "Allow", "Action": "*", "NotResource": ARN}),
     Request("sagemaker:DeleteApp", ARN), Decision.IMPLICIT_DENY),
    ("variable in resource",
     policy(allow(resource="arn:aws:sagemaker:*:*:app/d-1/${aws:PrincipalTag/u}-space/*")),
     Request("sagemaker:DeleteApp", ARN, {"aws:PrincipalTag/u": "alice"}), Decision.ALLOW),
    ("variable in resource, other value",
     policy(allow(resource="arn:aws:sagemaker:*:*:app/d-1/${aws:PrincipalTag/u}-space/*")),
     Request("sagemaker:DeleteApp", ARN, {"aws:PrincipalTag/u": "bob"}), Decision.IMPLICIT_DENY),
    ("variable in resource, key absent",
     policy(allow(resource="arn:aws:sagemaker:*:*:app/d-1/${aws:PrincipalTag/u}-space/*")),
     Request("sagemaker:DeleteApp", ARN), Decision.IMPLICIT_DENY),
    ("variable default", policy(allow(resource="arn:aws:sagemaker:*:*:app/d-1/${aws:PrincipalTag/u, 'alice'}-space/*")),
     Request("sagemaker:DeleteApp", ARN), Decision.ALLOW),
    ("${*} is a literal star", policy(allow(resource="arn:aws:s3:::b/${*}")),
     Request("s3:GetObject", "arn:aws:s3:::b/anything"), Decision.IMPLICIT_DENY),
    ("${*} matches a star", policy(allow(resource="arn:aws:s3:::b/${*}")),
     Request("s3:GetObject", "arn:aws:s3:::b/*"), Decision.ALLOW),
    ("StringEquals with a variable", policy(allow(**cond("StringEquals", "aws:ResourceTag/u", "${aws:PrincipalTag/u}"))),
     Request("sagemaker:DeleteApp", ARN, {"aws:ResourceTag/u": "alice", "aws:PrincipalTag/u": "alice"}),
     Decision.ALLOW),
    ("StringEquals with a variable, no match", policy(allow(**cond("StringEquals", "aws:ResourceTag/u", "${aws:PrincipalTag/u}"))),
     Request("sagemaker:DeleteApp", ARN, {"aws:ResourceTag/u": "bob", "aws:PrincipalTag/u": "alice"}),
     Decision.IMPLICIT_DENY),
    ("StringEquals, key absent", policy(allow(**cond("StringEquals", "aws:ResourceTag/u", "alice"))),
     Request("sagemaker:DeleteApp", ARN), Decision.IMPLICIT_DENY),
    ("condition keys ignore case", policy(allow(**cond("StringEquals", "AWS:RESOURCETAG/U", "alice"))),
     Request("sagemaker:DeleteApp", ARN, {"aws:ResourceTag/u": "alice"}), Decision.ALLOW),
    ("condition values do not", policy(allow(**cond("StringEquals", "aws:ResourceTag/u", "Alice"))),
     Request("sagemaker:DeleteApp", ARN, {"aws:ResourceTag/u": "alice"}), Decision.IMPLICIT_DENY),
    ("StringEqualsIgnoreCase", policy(allow(**cond("StringEqualsIgnoreCase", "aws:ResourceTag/u", "Alice"))),
     Request("sagemaker:DeleteApp", ARN, {"aws:ResourceTag/u": "alice"}), Decision.ALLOW),
    ("StringNotEquals, key absent passes", policy(allow(**cond("StringNotEquals", "aws:ResourceTag/u", "bob"))),
     Request("sagemaker:DeleteApp", ARN), Decision.ALLOW),
    ("StringNotEquals, equal fails", policy(allow(**cond("StringNotEquals", "aws:ResourceTag/u", "bob"))),
     Request("sagemaker:DeleteApp", ARN, {"aws:ResourceTag/u": "bob"}), Decision.IMPLICIT_DENY),
    ("StringLike", policy(allow(**cond("StringLike", "s:k", "team-*"))),
     Request("sagemaker:DeleteApp", ARN, {"s:k": "team-a"}), Decision.ALLOW),
    ("StringNotLike", policy(allow(**cond("StringNotLike", "s:k", "team-*"))),
     Request("sagemaker:DeleteApp", ARN, {"s:k": "team-a"}), Decision.IMPLICIT_DENY),
    ("StringLike with IfExists, key absent", policy(allow(**cond("StringLikeIfExists", "s:k", "team-*"))),
     Request("sagemaker:DeleteApp", ARN), Decision.ALLOW),
    ("StringLike with IfExists, other value", policy(allow(**cond("StringLikeIfExists", "s:k", "team-*"))),
     Request("sagemaker:DeleteApp", ARN, {"s:k": "x"}), Decision.IMPLICIT_DENY),
    ("ArnLike", policy(allow(**cond("ArnLike", "sagemaker:OwnerUserProfileArn", "arn:aws:sagemaker:*:*:user-profile/d-1/alice"))),
     Request("sagemaker:DeleteApp", ARN, {"sagemaker:OwnerUserProfileArn": "arn:aws:sagemaker:us-east-1:1:user-profile/d-1/alice"}),
     Decision.ALLOW),
    ("ArnLike, other owner", policy(allow(**cond("ArnLike", "sagemaker:OwnerUserProfileArn", "arn:aws:sagemaker:*:*:user-profile/d-1/alice"))),
     Request("sagemaker:DeleteApp", ARN, {"sagemaker:OwnerUserProfileArn": "arn:aws:sagemaker:us-east-1:1:user-profile/d-1/bob"}),
     Decision.IMPLICIT_DENY),
    ("ForAllValues, all listed", policy(allow(**cond("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"]))),
     Request("sagemaker:AddTags", ARN, {"aws:TagKeys": ["a", "b"]}), Decision.ALLOW),
    ("ForAllValues, one not listed", policy(allow(**cond("ForAllValues:StringEquals", "aws:TagKeys", ["a"]))),
     Request("sagemaker:AddTags", ARN, {"aws:TagKeys": ["a", "c"]}), Decision.IMPLICIT_DENY),
    ("ForAllValues passes when the key is absent", policy(allow(**cond("ForAllValues:StringEquals", "aws:TagKeys", ["a"]))),
     Request("sagemaker:AddTags", ARN), Decision.ALLOW),
    ("Null false guards ForAllValues", policy(allow(Condition={"Null": {"aws:TagKeys": "false"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}})),
     Request("sagemaker:AddTags", ARN), Decision.IMPLICIT_DENY),
    ("ForAnyValue, one listed", policy(allow(**cond("ForAnyValue:StringEquals", "aws:TagKeys", ["a"]))),
     Request("sagemaker:AddTags", ARN, {"aws:TagKeys": ["a", "c"]}), Decision.ALLOW),
    ("ForAnyValue fails when the key is absent", policy(allow(**cond("ForAnyValue:StringEquals", "aws:TagKeys", ["a"]))),
     Request("sagemaker:AddTags", ARN), Decision.IMPLICIT_DENY),
    ("ForAnyValue:StringNotLike", policy(allow(**cond("ForAnyValue:StringNotLike", "sagemaker:InstanceTypes", ["ml.t3.*"]))),
     Request("sagemaker:CreateApp", ARN, {"sagemaker:InstanceTypes": ["ml.t3.medium", "ml.p4d.24xlarge"]}),
     Decision.ALLOW),
    ("Null true: key absent", policy(allow(**cond("Null", "sagemaker:OwnerUserProfileArn", "true"))),
     Request("sagemaker:CreateApp", ARN), Decision.ALLOW),
    ("Null true: key present", policy(allow(**cond("Null", "sagemaker:OwnerUserProfileArn", "true"))),
     Request("sagemaker:CreateApp", ARN, {"sagemaker:OwnerUserProfileArn": "x"}), Decision.IMPLICIT_DENY),
    ("Bool", policy(allow(**cond("Bool", "aws:SecureTransport", "true"))),
     Request("sagemaker:CreateApp", ARN, {"aws:SecureTransport": "true"}), Decision.ALLOW),
    ("Bool false", policy(allow(**cond("Bool", "aws:SecureTransport", "true"))),
     Request("sagemaker:CreateApp", ARN, {"aws:SecureTransport": "false"}), Decision.IMPLICIT_DENY),
    ("NumericLessThanEquals", policy(allow(**cond("NumericLessThanEquals", "s:n", "10"))),
     Request("s:Do", "*", {"s:n": "10"}), Decision.ALLOW),
    ("NumericLessThan", policy(allow(**cond("NumericLessThan", "s:n", "10"))),
     Request("s:Do", "*", {"s:n": "10"}), Decision.IMPLICIT_DENY),
    ("DateGreaterThan", policy(allow(**cond("DateGreaterThan", "aws:CurrentTime", "2026-01-01T00:00:00Z"))),
     Request("s:Do", "*", {"aws:CurrentTime": "2026-11-30T00:00:00Z"}), Decision.ALLOW),
    ("DateLessThan", policy(allow(**cond("DateLessThan", "aws:CurrentTime", "2026-01-01T00:00:00Z"))),
     Request("s:Do", "*", {"aws:CurrentTime": "2026-11-30T00:00:00Z"}), Decision.IMPLICIT_DENY),
    ("IpAddress", policy(allow(**cond("IpAddress", "aws:SourceIp", "10.0.0.0/8"))),
     Request("s:Do", "*", {"aws:SourceIp": "10.1.2.3"}), Decision.ALLOW),
    ("NotIpAddress", policy(allow(**cond("NotIpAddress", "aws:SourceIp", "10.0.0.0/8"))),
     Request("s:Do", "*", {"aws:SourceIp": "10.1.2.3"}), Decision.IMPLICIT_DENY),
    ("values are ORed", policy(allow(**cond("StringEquals", "s:k", ["a", "b"]))),
     Request("s:Do", "*", {"s:k": "b"}), Decision.ALLOW),
    ("operators and keys are ANDed", policy(allow(Condition={"StringEquals": {"s:a": "1", "s:b": "2"}})),
     Request("s:Do", "*", {"s:a": "1", "s:b": "3"}), Decision.IMPLICIT_DENY),
    ("deny with a condition that holds", policy(allow(), {"Effect": "Deny", "Action": "*", "Resource": "*", **cond("StringEquals", "s:k", "x")}),
     Request("s:Do", "*", {"s:k": "x"}), Decision.EXPLICIT_DENY),
    ("deny with a condition that fails", policy(allow("*"), {"Effect": "Deny", "Action": "*", "Resource": "*", **cond("StringEquals", "s:k", "x")}),
     Request("s:Do", "*", {"s:k": "y"}), Decision.ALLOW),
]  # fmt: skip


@pytest.mark.parametrize("name,document,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_decision(
    name: str, document: dict[str, Any], request_: Request, expected: Decision
) -> None:
    assert evaluate([document], request_).decision is expected


def test_unknown_operator_is_refused_loudly() -> None:
    with pytest.raises(ValueError, match="StringFuzzy"):
        evaluate(
            [policy(allow(**cond("StringFuzzy", "s:k", "x")))], Request("s:Do", "*", {"s:k": "x"})
        )


ROLE = "arn:aws:iam::111122223333:role/r"
ACCOUNT_TRUST = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                        "Action": "sts:AssumeRole"})  # fmt: skip
SERVICE_TRUST = policy({"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]})  # fmt: skip


def test_trust_policies() -> None:
    alice = Principal("arn:aws:iam::111122223333:role/alice", "111122223333")
    stranger = Principal("arn:aws:iam::999999999999:role/x", "999999999999")
    sagemaker = Principal(ROLE, "111122223333", service="sagemaker.amazonaws.com")
    assume = Request("sts:AssumeRole", ROLE)
    # the account: the caller's own policy decides (None)
    assert principal_allowed(ACCOUNT_TRUST, alice, assume) is None
    outcome = principal_allowed(ACCOUNT_TRUST, stranger, assume)
    assert outcome is not None and outcome.decision is Decision.IMPLICIT_DENY
    direct = principal_allowed(SERVICE_TRUST, sagemaker, assume)
    assert direct is not None and direct.allowed
    other_service = Principal(ROLE, "111122223333", service="ec2.amazonaws.com")
    refused = principal_allowed(SERVICE_TRUST, other_service, assume)
    assert refused is not None and refused.decision is Decision.IMPLICIT_DENY
    tag = principal_allowed(SERVICE_TRUST, sagemaker, Request("sts:TagSession", ROLE))
    assert tag is not None and tag.decision is Decision.IMPLICIT_DENY


def test_arns_match_part_by_part_and_principals_take_no_wildcards() -> None:
    arn_like = policy(allow(**cond("ArnLike", "s:arn", "arn:aws:*:x")))
    assert not evaluate([arn_like], Request("s:Do", "*", {"s:arn": "arn:aws:sagemaker:us-east-1:1:x"})).allowed
    per_part = policy(allow(**cond("ArnLike", "s:arn", "arn:aws:s3:::bucket*")))
    assert evaluate([per_part], Request("s:Do", "*", {"s:arn": "arn:aws:s3:::bucket-x/a:b"})).allowed
    wildcard = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/*"},
                       "Action": "sts:AssumeRole"})  # fmt: skip
    alice = Principal("arn:aws:iam::111122223333:role/alice", "111122223333")
    outcome = principal_allowed(wildcard, alice, Request("sts:AssumeRole", ROLE))
    assert outcome is not None and outcome.decision is Decision.IMPLICIT_DENY
