"""What IAM evaluates for one API call: the action (with AWS's names where they differ
from the operation's), each resource's ARN from the Service Authorization Reference's
templates filled from the request, and the condition keys AWS puts in the request
context: the global ones from the caller, the request's tags, the service's own keys the
action supports (sagemaker:InstanceTypes, sagemaker:OwnerUserProfileArn, ...) and each
resource's tags (sagemaker:ResourceTag/..., ssm:resourceTag/..., ...). Also the checks a
call implies: `sagemaker:AddTags` when a Create* carries tags, `iam:PassRole` for a role
handed to a service, `secretsmanager:TagResource` for a secret created with tags.

Pure apart from `Facts`, the read-only view of the Studio's state it is given."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from smstudio.local.gateway import sar
from smstudio.local.gateway.evaluator import Request
from smstudio.local.gateway.principal import TYPES, Caller
from smstudio.local.gateway.protocol import Call, iam_prefix, operation_model

# IAM action names that are not the operation's name.
ACTIONS = {
    ("s3", "ListObjectsV2"): "ListBucket", ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadObject"): "GetObject", ("s3", "HeadBucket"): "ListBucket",
    ("s3", "CreateMultipartUpload"): "PutObject", ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject", ("s3", "CopyObject"): "PutObject",
    ("s3", "DeleteObjects"): "DeleteObject", ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("lambda", "Invoke"): "InvokeFunction",
}  # fmt: skip
# Services that take a role (iam:PassRole) and the parameters that carry it.
PASSED_ROLES = {"sagemaker": ("ExecutionRole", "RoleArn"), "ssm": ("IamRole",),
                "lambda": ("Role",), "events": ("RoleArn",)}  # fmt: skip
AWS_OWNED_DOCUMENT = re.compile(r"^(AWS|Amazon)-")
SPACE_TARGET = re.compile(r":(app|space)/(?P<domain>[^/]+)/(?P<space>[^/]+)(/|$)")


class Facts(Protocol):
    """Read-only state the context needs."""

    account: str

    def resource_tags(self, arn: str) -> dict[str, str] | None: ...
    def space(self, domain_id: str, name: str) -> dict[str, Any] | None: ...
    def secret_arn(self, secret_id: str, region: str) -> str | None: ...


def action_name(call: Call) -> str:
    name = ACTIONS.get((call.service, call.operation), call.operation)
    return f"{iam_prefix(call.service)}:{name}"


def global_context(caller: Caller, region: str, now: datetime | None = None) -> dict[str, Any]:
    moment = now or datetime.now(UTC)
    context: dict[str, Any] = {
        "aws:PrincipalArn": caller.principal_arn,
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalType": TYPES[caller.kind],
        "aws:userid": caller.userid,
        "aws:RequestedRegion": region,
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(moment.timestamp())),
        "aws:SecureTransport": "true",  # AWS's endpoints are https
        "aws:ViaAWSService": "false",
    }
    if caller.username:
        context["aws:username"] = caller.username
    if caller.source_identity:
        context["aws:SourceIdentity"] = caller.source_identity
    if caller.issued is not None:
        issued = datetime.fromtimestamp(caller.issued, UTC)
        context["aws:TokenIssueTime"] = issued.strftime("%Y-%m-%dT%H:%M:%SZ")
    for key, value in caller.tags.items():
        context[f"aws:PrincipalTag/{key}"] = value
    return context


def request_tags(params: dict[str, Any]) -> dict[str, str] | None:
    """The tags a request carries (Tags/tags/TagList, as a list of Key/Value or a map)."""
    for name in ("Tags", "tags", "TagList"):
        found = params.get(name)
        if isinstance(found, dict):
            return {str(k): str(v) for k, v in found.items()}
        if isinstance(found, list) and found:
            pairs = [(t.get("Key", t.get("key")), t.get("Value", t.get("value", ""))) for t in found
                     if isinstance(t, dict)]  # fmt: skip
            return {str(k): str(v) for k, v in pairs if k is not None}
    return None


def _all_values(value: Any, key: str) -> Iterator[Any]:
    if isinstance(value, dict):
        for name, inner in value.items():
            if name == key and not isinstance(inner, dict | list):
                yield inner
            else:
                yield from _all_values(inner, key)
    elif isinstance(value, list):
        for inner in value:
            yield from _all_values(inner, key)


def _tag_context(tags: dict[str, str] | None) -> dict[str, Any]:
    if not tags:
        return {}
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    context["aws:TagKeys"] = sorted(tags)
    return context


def _profile_arn(facts: Facts, region: str, domain_id: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{facts.account}:user-profile/{domain_id}/{name}"


def _sagemaker_keys(call: Call, region: str, facts: Facts) -> dict[str, Any]:
    params = call.params
    context: dict[str, Any] = {}
    types = sorted({str(v) for v in _all_values(params, "InstanceType")})
    if types:
        context["sagemaker:InstanceTypes"] = types
    domain, space_name = params.get("DomainId"), params.get("SpaceName")
    if call.operation == "CreateSpace":
        owner = (params.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
        sharing = (params.get("SpaceSharingSettings") or {}).get("SharingType")
    elif domain and space_name:
        space = facts.space(str(domain), str(space_name)) or {}
        owner = (space.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
        sharing = (space.get("SpaceSharingSettings") or {}).get("SharingType")
    else:
        owner = sharing = None
    if owner and domain:
        context["sagemaker:OwnerUserProfileArn"] = _profile_arn(facts, region, domain, owner)
    if sharing:
        context["sagemaker:SpaceSharingType"] = sharing
    remote = (params.get("SpaceSettings") or {}).get("RemoteAccess")
    if remote:
        context["sagemaker:RemoteAccess"] = str(remote)
    return context


def _service_keys(call: Call, region: str, facts: Facts) -> dict[str, Any]:
    params = call.params
    if call.service == "sagemaker":
        return _sagemaker_keys(call, region, facts)
    if call.service == "secretsmanager":
        keys = {"secretsmanager:Name": params.get("Name"),
                "secretsmanager:SecretId": params.get("SecretId"),
                "secretsmanager:Description": params.get("Description")}  # fmt: skip
        return {k: v for k, v in keys.items() if v is not None}
    if call.service == "ses" and params.get("Source"):
        to = (params.get("Destination") or {}).values()
        recipients = sorted({_address(a) for group in to for a in group})
        return {"ses:FromAddress": _address(params["Source"]), "ses:Recipients": recipients}
    return {}


# --- resources ----------------------------------------------------------------------


def _fill(template: str, values: dict[str, str]) -> str | None:
    missing = False

    def one(found: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(found.group(1))
        if value is None:
            missing = True
            return ""
        return value

    filled = re.sub(r"\$\{(\w+)\}", one, template)
    return None if missing else filled


def _template_values(call: Call, region: str, facts: Facts) -> dict[str, str]:
    params = call.params
    values = {k: str(v) for k, v in params.items() if isinstance(v, str | int)}
    values.update(Partition="aws", Region=region, Account=facts.account)
    if call.service == "sagemaker":
        if "SpaceName" in params and "UserProfileName" not in params:
            values["UserProfileName"] = str(params["SpaceName"])
        if "AppType" in params:
            values["AppType"] = str(params["AppType"]).lower()
        target = SPACE_TARGET.search(str(params.get("ResourceIdentifier", "")))
        if target:  # StartSession: the space of the app (or the space) it names
            values.update(DomainId=target["domain"], SpaceName=target["space"])
    elif call.service == "iam":
        for name in ("Role", "User", "Group", "InstanceProfile"):
            if f"{name}Name" in params:
                path = str(params.get("Path") or "/").strip("/")
                full = f"{path}/{params[name + 'Name']}" if path else str(params[name + "Name"])
                values[f"{name}NameWithPath"] = full
        if "PolicyArn" in params:
            values["PolicyNameWithPath"] = str(params["PolicyArn"]).split(":policy/", 1)[-1]
    elif call.service == "s3":
        values.update(
            {k: str(params[p]) for k, p in (("BucketName", "Bucket"), ("ObjectName", "Key"))
             if p in params}
        )  # fmt: skip
    elif call.service == "ses":
        source = str(params.get("SourceArn") or "").rpartition("identity/")[2]
        values["IdentityName"] = source or _address(params.get("Source"))
        if "Template" in params:
            values["TemplateName"] = str(params["Template"])
    elif call.service in ("logs", "ecr"):
        for name in ("logGroupName", "logStreamName", "repositoryName"):
            if name in params:
                values[name[0].upper() + name[1:]] = str(params[name])
    return values


def _address(value: Any) -> str:
    """The address of an email source (`Name <a@b.c>` or `a@b.c`)."""
    text = str(value or "")
    return text.rpartition("<")[2].rstrip(">").strip() if "<" in text else text.strip()


def _new_secret_suffix() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(6))


def resources(call: Call, action: sar.Action | None, region: str, facts: Facts) -> list[str]:
    """The ARNs IAM authorizes the call on (each one separately); ["*"] when none."""
    params = call.params
    shape = operation_model(call).input_shape
    if isinstance(params.get("ResourceArn"), str) and shape and "ResourceArn" in shape.members:
        return [params["ResourceArn"]]
    prefix = f"arn:aws:{iam_prefix(call.service)}:{region}:{facts.account}"
    if call.service == "ssm":
        kinds = {r.name for r in action.resources} if action else set()
        found = []
        instances = params.get("InstanceIds") or [params.get("InstanceId") or params.get("Target")]
        if params.get("ResourceType") == "ManagedInstance":
            instances = [params.get("ResourceId")]
        if "managed-instance" in kinds:
            found += [f"{prefix}:managed-instance/{i}" for i in instances
                      if str(i).startswith("mi-")]  # fmt: skip
        document = params.get("DocumentName")
        if call.operation == "StartSession":
            document = document or "SSM-SessionManagerRunShell"
        if params.get("ResourceType") == "Document":
            document = params.get("ResourceId")
        if document and "document" in kinds:
            owner = "" if AWS_OWNED_DOCUMENT.match(str(document)) else facts.account
            found.insert(0, f"arn:aws:ssm:{region}:{owner}:document/{document}")
        if params.get("SessionId") and "session" in kinds:
            found.append(f"{prefix}:session/{params['SessionId']}")
        if isinstance(params.get("Name"), str) and "parameter" in kinds:
            found.append(f"{prefix}:parameter/{params['Name'].lstrip('/')}")
        return found or ["*"]
    if call.service == "secretsmanager":
        wanted = params.get("SecretId") or params.get("Name")
        if not wanted:
            return ["*"]
        known = facts.secret_arn(str(wanted), region)
        if known:
            return [known]
        if str(wanted).startswith("arn:"):
            return [str(wanted)]
        suffix = f"-{_new_secret_suffix()}" if call.operation == "CreateSecret" else ""
        return [f"{prefix}:secret:{wanted}{suffix}"]
    if call.service == "sts" and "RoleArn" in params:
        return [str(params["RoleArn"])]
    if call.service == "ecr" and params.get("repositoryNames"):
        # DescribeRepositories naming repositories: each one is authorized
        return [f"{prefix}:repository/{name}" for name in params["repositoryNames"]]
    values = _template_values(call, region, facts)
    found = []
    for kind in action.resources if action else ():
        arn = _fill(kind.arn, values)
        if arn is not None and arn not in found:
            found.append(arn)
    return found or ["*"]


def _resource_context(service: str, arn: str, facts: Facts) -> dict[str, Any]:
    if arn == "*":
        return {}
    tags = facts.resource_tags(arn)
    if not tags:
        return {}
    own = "resourceTag" if service == "ssm" else "ResourceTag"
    context: dict[str, Any] = {}
    for key, value in tags.items():
        context[f"aws:ResourceTag/{key}"] = value
        context[f"{iam_prefix(service)}:{own}/{key}"] = value
    return context


# --- the requests ------------------------------------------------------------------------


def _passed_roles(call: Call, account: str) -> list[str]:
    names = PASSED_ROLES.get(call.service, ())
    found: list[str] = []
    for name in names:
        for value in _all_values(call.params, name):
            text = str(value)
            arn = text if text.startswith("arn:") else f"arn:aws:iam::{account}:role/{text}"
            if ":role/" in arn and arn not in found:
                found.append(arn)
    return found


def requests_for(call: Call, caller: Caller, region: str, facts: Facts) -> list[Request]:
    """Every (action, resource, context) IAM must allow for the call to go ahead."""
    full = action_name(call)
    prefix, _, name = full.partition(":")
    action = sar.action(prefix, name)
    base = global_context(caller, region)
    tags = request_tags(call.params)
    if sar.supports(action, None, "aws:TagKeys") or sar.supports(action, None, "aws:RequestTag/x"):
        base.update(_tag_context(tags))
    for key, value in _service_keys(call, region, facts).items():
        if sar.supports(action, None, key):
            base[key] = value
    arns = resources(call, action, region, facts)
    out = [Request(full, arn, {**base, **_resource_context(call.service, arn, facts)})
           for arn in arns]  # fmt: skip
    if call.service == "sagemaker" and call.operation.startswith("Create") and tags:
        tagging = {**base, **_tag_context(tags), "sagemaker:TaggingAction": call.operation}
        out.append(Request("sagemaker:AddTags", arns[0], tagging))
    if call.service == "secretsmanager" and call.operation == "CreateSecret" and tags:
        out.append(Request("secretsmanager:TagResource", arns[0], {**base, **_tag_context(tags)}))
    service_principal = f"{call.service}.amazonaws.com"
    for role in _passed_roles(call, facts.account):
        context = {**global_context(caller, region), "iam:PassedToService": service_principal}
        context.update(_resource_context("iam", role, facts))
        out.append(Request("iam:PassRole", role, context))
    return out


def denial(caller: Caller, request: Request, explicit: bool) -> str:
    """AccessDenied's message, worded as AWS words it."""
    on = f" on resource: {request.resource}" if request.resource != "*" else ""
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {request.action} action"
    )
    return f"User: {caller.arn} is not authorized to perform: {request.action}{on} {why}"
