"""AWS's failures said in words: each kind of botocore error becomes a problem with a fix,
exit 1 for a failure and 2 for bad input."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from smstudio.core import awserrors
from smstudio.core.errors import BadInput


def client_error(code: str, message: str = "m", retries: int = 0) -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": message},
                     "ResponseMetadata": {"RetryAttempts": retries}}  # fmt: skip
    return botocore.exceptions.ClientError(response, "CreateApp")


CASES = [
    (client_error("AccessDeniedException", "User: arn:aws:sts::1:assumed-role/r/bob is not authorized "
                  "to perform: sagemaker:CreateApp on resource: arn:x"),
     ["AWS refused CreateApp", "sagemaker:CreateApp", "arn:x", "assumed-role/r/bob"], "whoami", 1),
    (client_error("ExpiredTokenException"), ["session has expired"], "aws sso login", 1),
    (client_error("ThrottlingException", "Rate exceeded", retries=8),
     ["throttled CreateApp after 8 retries"], "wait", 1),
    (client_error("ResourceNotFound", "Space bob-x does not exist."), ["bob-x does not exist"],
     "check the name", 1),
    (client_error("ValidationException", "1 validation error: InstanceType"), ["InstanceType"],
     "correct the value", 2),
    (client_error("UnrecognizedClientException"), ["UnrecognizedClientException"], "credentials", 1),
    (botocore.exceptions.NoCredentialsError(), ["no AWS credentials found"], "sso login", 1),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"),
     ["the local Studio is not running"], "smstudio local up", 1),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="https://sagemaker.eu-west-1.amazonaws.com/"),
     ["cannot reach the AWS endpoint"], "network", 1),
    (botocore.exceptions.ProfileNotFound(profile="team"), ["profile not found"], "AWS_PROFILE", 2),
    (botocore.exceptions.TokenRetrievalError(provider="sso", error_msg="expired"),
     ["sign-in has expired"], "aws sso login", 1),
]  # fmt: skip


@pytest.mark.parametrize("error,words,fix,code", CASES, ids=[type(c[0]).__name__ + str(i) for i, c in enumerate(CASES)])
def test_each_failure_is_said_with_a_fix(error: Exception, words: list[str], fix: str, code: int) -> None:
    said = awserrors.translate(error)
    assert said is not None
    for word in words:
        assert word in said.problem, said.problem
    assert fix in said.fix and said.exit_code == code
    assert isinstance(said, BadInput) == (code == 2)


def test_other_errors_are_not_taken() -> None:
    assert awserrors.translate(ValueError("x")) is None
