"""The gateway's pure parts: SigV4 verification against what botocore signs, reading
requests of every protocol, and the request context IAM sees for smstudio's calls."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import botocore.config
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from smstudio.local.gateway import authz, protocol, sigv4
from smstudio.local.gateway.principal import Caller
from smstudio.local.gateway.protocol import RawRequest

KEY, SECRET = "AKIAEXAMPLEEXAMPLE01", "secret/with+chars"


def signed_request(service: str, operation: str, params: dict[str, Any]) -> RawRequest:
    """The request botocore would send (signed with KEY/SECRET), as the gateway receives it."""
    session = botocore.session.get_session()
    session.set_credentials(KEY, SECRET)
    client = session.create_client(
        service, region_name="us-east-1", endpoint_url="http://127.0.0.1:4566",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip
    captured: list[RawRequest] = []

    def capture(request: AWSPreparedRequest, **_: Any) -> Any:
        url = urlsplit(request.url)
        headers: dict[str, list[str]] = {"host": [url.netloc]}  # added on the wire
        for key, value in request.headers.items():
            text = value.decode() if isinstance(value, bytes) else value
            headers.setdefault(key.lower(), []).append(text)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        captured.append(RawRequest(request.method, url.path, url.query, headers,
                                   body.encode() if isinstance(body, str) else body))  # fmt: skip
        return AWSResponse(request.url, 599, {}, None)

    client.meta.events.register("before-send", capture)
    try:
        getattr(client, operation)(**params)
    except Exception as exc:  # the stubbed 599 answer does not parse
        if not captured:
            raise AssertionError(f"nothing was sent: {exc!r}") from exc
    return captured[0]


def verify(raw: RawRequest, secret: str = SECRET) -> bool:
    signed = sigv4.parse(raw.header("authorization") or "")
    canonical = sigv4.canonical_request(
        raw.method, raw.path, raw.query, raw.headers, signed, raw.body
    )
    return sigv4.matches(secret, signed, raw.header("x-amz-date") or "", canonical)


CALLS = [
    ("sagemaker", "list_domains", {}),
    ("sagemaker", "create_app", {"DomainId": "d-abcdefabcdef", "SpaceName": "s", "AppType": "JupyterLab",
                                  "AppName": "default", "ResourceSpec": {"InstanceType": "ml.t3.medium"}}),
    ("sts", "assume_role", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "alice",
                            "Tags": [{"Key": "a b", "Value": "ü/=+"}]}),
    ("iam", "list_roles", {"PathPrefix": "/x y/"}),
    ("s3", "put_object", {"Bucket": "bucket", "Key": "dir/a b+c%.txt", "Body": b"data"}),
    ("s3", "list_objects_v2", {"Bucket": "bucket", "Prefix": "a b/", "Delimiter": "/"}),
    ("logs", "put_log_events", {"logGroupName": "/g", "logStreamName": "d/alice", "logEvents": [{"timestamp": 1, "message": "m"}]}),
    ("secretsmanager", "get_secret_value", {"SecretId": "smstudio/d/alice/git-token"}),
    ("ssm", "send_command", {"InstanceIds": ["mi-0123456789abcdef0"], "DocumentName": "AWS-RunShellScript"}),
]  # fmt: skip


@pytest.mark.parametrize("service,operation,params", CALLS, ids=[c[1] for c in CALLS])
def test_botocore_signatures_verify(service: str, operation: str, params: dict[str, Any]) -> None:
    raw = signed_request(service, operation, params)
    assert verify(raw)
    assert not verify(raw, "another secret")
    tampered = RawRequest(raw.method, raw.path, raw.query, raw.headers, raw.body + b" ")
    assert not verify(tampered)


@pytest.mark.parametrize("service,operation,params", CALLS, ids=[c[1] for c in CALLS])
def test_requests_are_read_as_their_operation(
    service: str, operation: str, params: dict[str, Any]
) -> None:
    raw = signed_request(service, operation, params)
    call = protocol.read(service, raw)
    assert protocol.model(service).operation_model(call.operation).name == "".join(
        part.capitalize() for part in operation.split("_")
    ).replace("V2", "V2")
    if service == "s3":
        assert call.params["Bucket"] == "bucket"
    if operation == "put_object":
        assert call.params["Key"] == "dir/a b+c%.txt"
    if operation == "assume_role":
        assert call.params["Tags"] == [{"Key": "a b", "Value": "ü/=+"}]


def test_malformed_authorization() -> None:
    with pytest.raises(sigv4.Malformed):
        sigv4.parse("AWS AKIA:signature")


class Facts:
    account = "123456789012"

    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {}
        self.spaces: dict[str, dict[str, Any]] = {}

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        return self.tags.get(arn)

    def space(self, domain_id: str, name: str) -> dict[str, Any] | None:
        return self.spaces.get(f"{domain_id}/{name}")

    def secret_arn(self, secret_id: str, region: str) -> str | None:
        return None


ALICE = Caller("session", "123456789012", "arn:aws:sts::123456789012:assumed-role/r/alice",
               "AROAX:alice", "arn:aws:iam::123456789012:role/r", {"studiouserid": "alice"})  # fmt: skip


def test_context_of_create_app_in_a_space() -> None:
    facts = Facts()
    facts.spaces["d-1/team"] = {"OwnershipSettings": {"OwnerUserProfileName": "bob"},
                                "SpaceSharingSettings": {"SharingType": "Shared"}}  # fmt: skip
    call = protocol.Call("sagemaker", "CreateApp", {
        "DomainId": "d-1", "SpaceName": "team", "AppType": "JupyterLab", "AppName": "default",
        "ResourceSpec": {"InstanceType": "ml.t3.medium"}, "Tags": [{"Key": "k", "Value": "v"}]})  # fmt: skip
    first, tagging = authz.requests_for(call, ALICE, "us-east-1", facts)
    assert first.action == "sagemaker:CreateApp"
    assert (
        first.resource == "arn:aws:sagemaker:us-east-1:123456789012:app/d-1/team/jupyterlab/default"
    )
    assert first.get("sagemaker:InstanceTypes") == ("ml.t3.medium",)
    assert first.get("sagemaker:SpaceSharingType") == ("Shared",)
    assert first.get("sagemaker:OwnerUserProfileArn") == (
        "arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-1/bob",
    )
    assert first.get("aws:PrincipalTag/studiouserid") == ("alice",)
    assert first.get("aws:RequestTag/k") == ("v",)
    assert (tagging.action, tagging.get("sagemaker:TaggingAction")) == (
        "sagemaker:AddTags",
        ("CreateApp",),
    )


def test_context_keys_only_where_the_action_has_them() -> None:
    """ListApps has no resource and none of CreateApp's keys; DescribeUserProfile has its
    profile's tags."""
    facts = Facts()
    profile = "arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-1/bob"
    facts.tags[profile] = {"studiouserid": "bob"}
    (listing,) = authz.requests_for(protocol.Call("sagemaker", "ListApps", {"DomainIdEquals": "d-1"}),
                                    ALICE, "us-east-1", facts)  # fmt: skip
    assert listing.resource == "*" and listing.get("sagemaker:InstanceTypes") is None
    (describe,) = authz.requests_for(
        protocol.Call("sagemaker", "DescribeUserProfile", {"DomainId": "d-1", "UserProfileName": "bob"}),
        ALICE, "us-east-1", facts)  # fmt: skip
    assert describe.resource == profile
    assert describe.get("sagemaker:ResourceTag/studiouserid") == ("bob",)
    assert describe.get("aws:ResourceTag/studiouserid") == ("bob",)


def test_ssm_calls_name_each_instance_and_the_document() -> None:
    facts = Facts()
    instance = "arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-0123456789abcdef0"
    facts.tags[instance] = {"SSHOwner": "bob"}
    call = protocol.Call("ssm", "SendCommand", {"InstanceIds": ["mi-0123456789abcdef0"],
                                                "DocumentName": "AWS-RunShellScript"})  # fmt: skip
    document, target = authz.requests_for(call, ALICE, "us-east-1", facts)
    assert document.resource == "arn:aws:ssm:us-east-1::document/AWS-RunShellScript"
    assert target.resource == instance and target.get("ssm:resourceTag/SSHOwner") == ("bob",)
    activation = protocol.Call("ssm", "CreateActivation", {"IamRole": "smstudio-x-ssm-instance",
                                                           "Tags": [{"Key": "SSHOwner", "Value": "alice"}]})  # fmt: skip
    create, passed = authz.requests_for(activation, ALICE, "us-east-1", facts)
    assert create.resource == "*" and create.get("aws:TagKeys") == ("SSHOwner",)
    assert passed.action == "iam:PassRole"
    assert passed.resource == "arn:aws:iam::123456789012:role/smstudio-x-ssm-instance"
    assert passed.get("iam:PassedToService") == ("ssm.amazonaws.com",)


def test_start_session_is_authorized_on_the_space_of_the_app_it_names() -> None:
    """parliament's data predates remote access: StartSession (on a space) and the
    sagemaker:RemoteAccess key come from sar's additions."""
    facts = Facts()
    space = "arn:aws:sagemaker:us-east-1:123456789012:space/d-1/alice-dev"
    facts.tags[space] = {"studiouserid": "alice"}
    app = "arn:aws:sagemaker:us-east-1:123456789012:app/d-1/alice-dev/codeeditor/default"
    for target in (app, space):
        (start,) = authz.requests_for(protocol.Call("sagemaker", "StartSession",
                                                    {"ResourceIdentifier": target}),
                                      ALICE, "us-east-1", facts)  # fmt: skip
        assert (start.action, start.resource) == ("sagemaker:StartSession", space)
        assert start.get("sagemaker:ResourceTag/studiouserid") == ("alice",)
    update = protocol.Call("sagemaker", "UpdateSpace", {
        "DomainId": "d-1", "SpaceName": "alice-dev", "SpaceSettings": {"RemoteAccess": "ENABLED"}})  # fmt: skip
    (request,) = authz.requests_for(update, ALICE, "us-east-1", facts)
    assert request.get("sagemaker:RemoteAccess") == ("ENABLED",)
    listing = protocol.Call("sagemaker", "DescribeSpace", {"DomainId": "d-1", "SpaceName": "x"})
    (described,) = authz.requests_for(listing, ALICE, "us-east-1", facts)
    assert described.get("sagemaker:RemoteAccess") is None


def test_denial_is_worded_as_aws_words_it() -> None:
    request = authz.Request(
        "sagemaker:CreateApp", "arn:aws:sagemaker:us-east-1:1:app/d/x/jupyterlab/default"
    )
    assert authz.denial(ALICE, request, explicit=False) == (
        "User: arn:aws:sts::123456789012:assumed-role/r/alice is not authorized to perform: "
        "sagemaker:CreateApp on resource: arn:aws:sagemaker:us-east-1:1:app/d/x/jupyterlab/default "
        "because no identity-based policy allows the sagemaker:CreateApp action"
    )
    assert authz.denial(ALICE, request, explicit=True).endswith(
        "with an explicit deny in an identity-based policy"
    )
