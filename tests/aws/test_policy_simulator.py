"""The decision table against AWS itself: iam:SimulateCustomPolicy with each row's context
entries must give the decision the local Studio's evaluator gives. Opt-in: it needs an AWS
account (SMSTUDIO_AWS_TESTS=1 and credentials allowed iam:SimulateCustomPolicy)."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.decisions import POLICIES, ROWS, Row

LISTS = {"aws:tagkeys", "sagemaker:instancetypes"}


def _credentials_reason() -> str | None:
    if os.environ.get("SMSTUDIO_AWS_TESTS") != "1":
        return "real-AWS tier: set SMSTUDIO_AWS_TESTS=1 with AWS credentials to run it"
    try:
        boto3.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        return f"real-AWS tier: no usable AWS credentials ({exc})"
    return None


REASON = _credentials_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def context_entries(row: Row) -> list[dict[str, object]]:
    entries = []
    for key, value in row.context.items():
        values = value if isinstance(value, list) else [value]
        kind = "stringList" if key.lower() in LISTS else "string"
        entries.append({"ContextKeyName": key, "ContextKeyValues": values, "ContextKeyType": kind})
    return entries


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_aws_agrees(row: Row) -> None:
    iam = boto3.client("iam")
    answer = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps(p) for p in POLICIES[row.policy]],
        ActionNames=[row.action],
        ResourceArns=[row.resource],
        ContextEntries=context_entries(row),
    )
    (result,) = answer["EvaluationResults"]
    assert (result["EvalDecision"] == "allowed") == row.allowed, result
