"""The one translation of AWS's failures (botocore's exceptions) into problem-and-fix
errors: no credentials, an expired session, an endpoint that does not answer, a refusal
(naming the action, the resource and the identity, as AWS's message does), throttling
that outlasted the retries, a resource that is not there, a request AWS found invalid."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import botocore.exceptions

from smstudio.core import aws
from smstudio.core.errors import BadInput, SmstudioError

THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException",
             "RequestLimitExceeded", "SlowDown"}  # fmt: skip
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
UNKNOWN_KEY = {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId",
               "SignatureDoesNotMatch", "InvalidSignatureException"}  # fmt: skip
NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "NoSuchEntity", "NoSuchBucket",
             "NoSuchKey", "RepositoryNotFoundException", "InvalidInstanceId",
             "TemplateDoesNotExist"}  # fmt: skip
INVALID = {"ValidationException", "ValidationError", "InvalidParameterValue",
           "InvalidParameterException", "InvalidInput"}  # fmt: skip
# A CI job's sign-in: its OIDC token for the team's CI role (AssumeRoleWithWebIdentity).
WEB_IDENTITY = (
    "the CI role trusts only a push to the team file's [ci] repository and branch, "
    "with the job's OIDC token in AWS_WEB_IDENTITY_TOKEN_FILE: check both, and that "
    "the admin's `smstudio apply` made the role (locally: smstudio local ci-token)"
)
SIGN_IN = 'sign in again (`aws sso login --profile NAME`), or locally: eval "$(smstudio local env)"'


def _local(endpoint: str | None) -> bool:
    return bool(endpoint) and urlparse(endpoint).hostname in ("127.0.0.1", "localhost")


def translate(exc: Exception) -> SmstudioError | None:
    """The error to show for a botocore exception; None when it is not one."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return _client_error(exc)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return SmstudioError(
            "no AWS credentials found",
            "sign in (aws sso login / --profile NAME), or for the local Studio: "
            'eval "$(smstudio local env)"',
        )
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return BadInput(f"AWS profile not found: {exc}", "check `--profile` / AWS_PROFILE "
                        "against ~/.aws/config")  # fmt: skip
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return BadInput("no AWS region", "set the team file's domain.region, or AWS_REGION")
    if isinstance(exc, botocore.exceptions.TokenRetrievalError | botocore.exceptions.SSOError):
        return SmstudioError(f"your AWS sign-in has expired: {exc}", SIGN_IN)
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return BadInput(f"AWS would not take the request: {exc}", "correct the values named")
    if isinstance(
        exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
    ):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or aws.env_endpoint("sts")
        if _local(endpoint):
            return SmstudioError(
                f"the local Studio is not running (nothing answers at {endpoint})",
                "start it: smstudio local up",
            )
        fix = "check your network and region; for the local Studio run `smstudio local up`"
        return SmstudioError(f"cannot reach the AWS endpoint: {exc}", fix)
    if isinstance(exc, botocore.exceptions.ReadTimeoutError):
        return SmstudioError(f"AWS did not answer in time: {exc}", "try again")
    token_file = os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if isinstance(exc, FileNotFoundError) and token_file and exc.filename == token_file:
        return SmstudioError(f"the web identity token file {token_file} does not exist",
                             WEB_IDENTITY)  # fmt: skip
    return None


def _client_error(exc: botocore.exceptions.ClientError) -> SmstudioError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "?"))
    message = str(error.get("Message", ""))
    said = f"AWS refused {exc.operation_name}: {code}: {message}"
    if exc.operation_name == "AssumeRoleWithWebIdentity":
        return SmstudioError(said, WEB_IDENTITY)
    if code in DENIED:
        return SmstudioError(
            said,
            "your identity may not do this (see `smstudio whoami`): act on your own "
            "profile, spaces and apps, or ask the platform team for the permission named",
        )
    if code in EXPIRED:
        return SmstudioError(f"your AWS session has expired ({exc.operation_name}: {message})",
                             SIGN_IN)  # fmt: skip
    if code in UNKNOWN_KEY:
        fix = "the credentials are not valid here: check your profile, or `smstudio local env`"
        return SmstudioError(said, fix)
    if code in THROTTLED:
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        return SmstudioError(f"AWS throttled {exc.operation_name} after {attempts} retries: "
                             f"{message}", "wait a minute and run it again")  # fmt: skip
    if code in NOT_FOUND:
        return SmstudioError(said, "check the name you gave; `smstudio status` lists what exists")
    if code in INVALID:
        return BadInput(said, "correct the value AWS names")
    return SmstudioError(said, "see AWS's message; run again with the same command once fixed")
