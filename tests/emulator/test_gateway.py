"""The local Studio's front door: every request authenticated (SigV4 against the secret
it issued) and authorized (the caller's policies) before it is served, refused with AWS's
own codes and words in each protocol; STS's AssumeRole under the roles' trust; apps'
credentials only for their token."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest
import requests

from tests.emulator.conftest import ACCOUNT, LocalAws

BAD_SIGNATURE = "The request signature we calculated does not match the signature you provided"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


CALLS = {
    "sagemaker": ("list_domains", {}),  # JSON protocol
    "sts": ("get_caller_identity", {}),  # query protocol
    "iam": ("list_roles", {}),
    "s3": ("list_buckets", {}),  # REST-XML
    "secretsmanager": ("list_secrets", {}),
}
UNKNOWN = {"sagemaker": "UnrecognizedClientException", "sts": "InvalidClientTokenId",
           "iam": "InvalidClientTokenId", "s3": "InvalidAccessKeyId",
           "secretsmanager": "UnrecognizedClientException"}  # fmt: skip
SIGNATURE = {"sagemaker": "InvalidSignatureException", "sts": "SignatureDoesNotMatch",
             "iam": "SignatureDoesNotMatch", "s3": "SignatureDoesNotMatch",
             "secretsmanager": "InvalidSignatureException"}  # fmt: skip
EXPIRED = {"sagemaker": "ExpiredTokenException", "sts": "ExpiredToken", "iam": "ExpiredToken",
           "s3": "ExpiredToken", "secretsmanager": "ExpiredTokenException"}  # fmt: skip


@pytest.mark.parametrize("service", list(CALLS))
def test_authentication_failures_get_aws_errors(local: LocalAws, service: str) -> None:
    operation, params = CALLS[service]

    def call(keys: dict[str, str]) -> tuple[str, str]:
        return error_of(getattr(local.client(service, keys), operation), **params)

    code, message = call({"AccessKeyId": "AKIAUNKNOWNUNKNOWN00", "SecretAccessKey": "x"})
    assert code == UNKNOWN[service]
    assert "security token included in the request is invalid" in message or (
        "does not exist in our records" in message
    )
    code, message = call({**local.root, "SecretAccessKey": "not-the-secret"})
    assert code == SIGNATURE[service] and BAD_SIGNATURE in message
    alice = local.user("alice", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert call({**alice, "SessionToken": "forged"})[0] == UNKNOWN[service]
    local.server.gateway.identities.expire(alice["AccessKeyId"])
    code, message = call(alice)
    assert code == EXPIRED[service] and "expired" in message


def test_unsigned_requests_are_refused(local: LocalAws) -> None:
    answer = requests.post(local.url, headers={"X-Amz-Target": "SageMaker.ListDomains",
                                               "Content-Type": "application/x-amz-json-1.1"},
                           data="{}", timeout=5)  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["__type"] == "MissingAuthenticationTokenException"
    assert requests.get(f"{local.url}/_local/identity", timeout=5).status_code != 200


def test_a_users_calls_are_authorized_as_iam_would(local: LocalAws) -> None:
    """Allowed where the policy allows; AccessDenied naming the action and resource
    otherwise, also for moto's services; an explicit deny wins."""
    alice = local.user(
        "alice",
        {"Effect": "Allow", "Action": ["sagemaker:ListDomains", "s3:ListAllMyBuckets"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:*",
         "Resource": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:mine-*"},
        {"Effect": "Deny", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
    )  # fmt: skip
    assert local.client("sagemaker", alice).list_domains()["Domains"] == []
    code, message = error_of(local.client("sagemaker", alice).list_apps)
    assert code == "AccessDeniedException"
    assert message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/user-alice/alice is not authorized to "
        "perform: sagemaker:ListApps because no identity-based policy allows the "
        "sagemaker:ListApps action"
    )
    code, message = error_of(local.client("s3", alice).list_buckets)
    assert code == "AccessDenied" and "with an explicit deny in an identity-based policy" in message
    code, message = error_of(local.client("iam", alice).list_roles)
    assert code == "AccessDenied" and "iam:ListRoles" in message
    secrets = local.client("secretsmanager", alice)
    secrets.create_secret(Name="mine", SecretString="s")
    assert secrets.get_secret_value(SecretId="mine")["SecretString"] == "s"
    local.client("secretsmanager").create_secret(Name="theirs", SecretString="t")
    code, message = error_of(secrets.get_secret_value, SecretId="theirs")
    assert code == "AccessDeniedException"
    assert "secret:theirs-" in message  # the secret's real ARN, suffix included
    caller = local.client("sts", alice).get_caller_identity()
    assert caller["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/user-alice/alice"
    assert caller["UserId"].endswith(":alice")


def test_assume_role_follows_trust_and_identity_policies(local: LocalAws) -> None:
    """The admin may assume a role that trusts the account; a user only where their own
    policy allows it too; nobody one that trusts only a service; the trust must also allow
    setting a SourceIdentity; sessions last no longer than the role allows."""
    iam = local.client("iam")
    service_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    iam.create_role(RoleName="svc", AssumeRolePolicyDocument=json.dumps(service_only))
    code, message = error_of(local.client("sts").assume_role,
                             RoleArn=f"arn:aws:iam::{ACCOUNT}:role/svc", RoleSessionName="xx")  # fmt: skip
    assert code == "AccessDenied" and "sts:AssumeRole on resource" in message
    alice = local.user(
        "alice", {"Effect": "Allow", "Action": "sagemaker:ListDomains", "Resource": "*"}
    )
    bob = local.user("bob", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    code, _ = error_of(local.client("sts", alice).assume_role,
                       RoleArn=f"arn:aws:iam::{ACCOUNT}:role/user-bob", RoleSessionName="xx")  # fmt: skip
    assert code == "AccessDenied"
    made = local.client("sts", bob).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/user-alice", RoleSessionName="via-bob"
    )["Credentials"]
    keys = {"AccessKeyId": made["AccessKeyId"], "SecretAccessKey": made["SecretAccessKey"],
            "SessionToken": made["SessionToken"]}  # fmt: skip
    me = local.client("sts", keys).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/user-alice/via-bob"
    assert local.client("sagemaker", keys).list_domains()["Domains"] == []  # alice's policy
    code, message = error_of(local.client("sts", bob).assume_role,
                             RoleArn=f"arn:aws:iam::{ACCOUNT}:role/user-alice",
                             RoleSessionName="xx", SourceIdentity="bob")  # fmt: skip
    assert code == "AccessDenied" and "sts:SetSourceIdentity" in message
    code, _ = error_of(local.client("sts").assume_role, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/user-alice",
                       RoleSessionName="xx", DurationSeconds=7200)  # fmt: skip
    assert code == "ValidationError"


def test_container_credentials_only_for_the_apps_token(local: LocalAws) -> None:
    iam = local.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"Service": "sagemaker.amazonaws.com"},
             "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}]}  # fmt: skip
    iam.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="exec", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity",
                                                  "Resource": "*"}]}))  # fmt: skip
    gateway = local.server.gateway
    arn = f"arn:aws:iam::{ACCOUNT}:role/exec"
    gateway.register_app("arn:app", "token-1", arn, "alice")
    url = f"{local.url}/_local/credentials"
    assert requests.get(url, timeout=5).status_code == 403
    assert requests.get(url, headers={"Authorization": "token-2"}, timeout=5).status_code == 403
    found = requests.get(url, headers={"Authorization": "token-1"}, timeout=5).json()
    keys = {"AccessKeyId": found["AccessKeyId"], "SecretAccessKey": found["SecretAccessKey"],
            "SessionToken": found["Token"]}  # fmt: skip
    me = local.client("sts", keys).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/exec/SageMaker"
    # a role SageMaker may not assume with a SourceIdentity fails the app
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))  # fmt: skip
    with pytest.raises(Exception, match="sts:SetSourceIdentity"):
        gateway.register_app("arn:app2", "token-3", f"arn:aws:iam::{ACCOUNT}:role/plain", "bob")
    gateway.forget_app("arn:app")
    assert requests.get(url, headers={"Authorization": "token-1"}, timeout=5).status_code == 403


def test_moto_services_are_served_through_the_door(local: LocalAws) -> None:
    """S3 (REST-XML, path keys with spaces and slashes, HEAD's length), IAM (query) and
    CloudWatch Logs (JSON) behind the same checks, as the admin."""
    s3 = local.client("s3")
    s3.create_bucket(Bucket="team-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="team-bucket", Key="data/a b+c.csv", Body=b"12345")
    assert s3.head_object(Bucket="team-bucket", Key="data/a b+c.csv")["ContentLength"] == 5
    assert s3.get_object(Bucket="team-bucket", Key="data/a b+c.csv")["Body"].read() == b"12345"
    listed = s3.list_objects_v2(Bucket="team-bucket", Prefix="data/")["Contents"]
    assert [o["Key"] for o in listed] == ["data/a b+c.csv"]
    local.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}", Path="/teams/")
    assert local.client("iam").get_role(RoleName="r")["Role"]["Path"] == "/teams/"
    logs = local.client("logs")
    logs.create_log_group(logGroupName="/aws/sagemaker/studio")
    assert logs.describe_log_groups()["logGroups"][0]["logGroupName"] == "/aws/sagemaker/studio"


def test_what_is_served_is_what_was_authorized(local: LocalAws) -> None:
    """A request another service could read differently is refused before anything is
    served: moto's own API, a query string on a JSON call, parameters the operation does
    not take, a ResourceArn where the operation has none; an S3 Host naming another
    bucket does not move the write."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    alice = local.user("alice", {"Effect": "Allow", "Action": "secretsmanager:*",
                                 "Resource": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:mine-*"})  # fmt: skip
    local.client("secretsmanager", alice).create_secret(Name="mine", SecretString="m")
    local.client("secretsmanager").create_secret(Name="theirs", SecretString="secret!")
    credentials = Credentials(alice["AccessKeyId"], alice["SecretAccessKey"], alice["SessionToken"])

    def send(method: str, path: str, body: dict[str, Any] | str, target: str,
             service: str = "secretsmanager", host: str | None = None) -> requests.Response:  # fmt: skip
        data = body if isinstance(body, str) else json.dumps(body)
        request = AWSRequest(method=method, url=f"{local.url}{path}", data=data, headers={
            "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})  # fmt: skip
        if host:
            request.headers["Host"] = host
        botocore.auth.SigV4Auth(credentials, service, "eu-west-1").add_auth(request)
        prepared = request.prepare()
        return requests.request(method, prepared.url, headers=dict(prepared.headers),
                                data=prepared.body, timeout=10)  # fmt: skip

    own = {"SecretId": "mine", "SecretString": "x"}
    assert send("POST", "/", own, "secretsmanager.PutSecretValue").status_code == 200
    for path in ("/moto-api/data.json", "/moto-api/reset"):
        answer = send("POST", path, own, "secretsmanager.PutSecretValue")
        assert answer.status_code == 400 and "secret!" not in answer.text, answer.text
    sneaky = send("POST", "/?Action=GetSecretValue&SecretId=theirs", own, "secretsmanager.PutSecretValue")
    assert sneaky.status_code == 400 and "secret!" not in sneaky.text
    extra = send("POST", "/", {**own, "ResourceArn": "x", "secretId": "theirs"},
                 "secretsmanager.PutSecretValue")  # fmt: skip
    assert extra.status_code == 400 and "takes no parameter" in extra.text
    # an app's session of alice cannot borrow a ResourceArn either: GetSecretValue has none
    read = send("POST", "/", {"SecretId": "theirs", "ResourceArn": "arn:mine"},
                "secretsmanager.GetSecretValue")  # fmt: skip
    assert read.status_code == 400 and "secret!" not in read.text
    assert local.client("secretsmanager").get_secret_value(SecretId="theirs")["SecretString"] == "secret!"
    # S3: the bucket is the one in the path, whatever the Host says
    s3 = local.client("s3")
    for bucket in ("team-bucket", "other-team"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    request = AWSRequest(method="PUT", url=f"{local.url}/team-bucket/k", data=b"x",
                         headers={"Host": "other-team.s3.amazonaws.com"})  # fmt: skip
    root = local.root
    botocore.auth.S3SigV4Auth(Credentials(root["AccessKeyId"], root["SecretAccessKey"]), "s3",
                              "eu-west-1").add_auth(request)  # fmt: skip
    prepared = request.prepare()
    put = requests.put(prepared.url, headers=dict(prepared.headers), data=b"x", timeout=10)
    assert put.status_code == 200, put.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="team-bucket")["Contents"]] == ["k"]
    assert "Contents" not in s3.list_objects_v2(Bucket="other-team")


def test_session_tags_never_name_a_studio_user(local: LocalAws) -> None:
    """smstudio's user roles trust the account for AssumeRole only: a session tag that
    would override the role's studiouserid is refused."""
    from smstudio.register import iam as policies

    local.client("iam").create_role(RoleName="smstudio-t-user-bob",
                                    AssumeRolePolicyDocument=json.dumps(policies.user_trust_policy(ACCOUNT)),
                                    Tags=[{"Key": "studiouserid", "Value": "bob"}])  # fmt: skip
    sts = local.client("sts")
    arn = f"arn:aws:iam::{ACCOUNT}:role/smstudio-t-user-bob"
    assert sts.assume_role(RoleArn=arn, RoleSessionName="bob")["Credentials"]
    code, message = error_of(sts.assume_role, RoleArn=arn, RoleSessionName="bob",
                             Tags=[{"Key": "studiouserid", "Value": "alice"}])  # fmt: skip
    assert code == "AccessDenied" and "sts:TagSession" in message
