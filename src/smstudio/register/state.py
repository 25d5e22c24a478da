"""What the account holds, read once for a plan: IAM (one paginated listing of roles,
users and policies), the images and their latest versions, app image configs, lifecycle
configs, the domain, its profiles (with their tags), spaces, and what offboarding would
delete. Listings are preferred over per-item describes; the per-item reads that remain
(tags, image versions) run in parallel, a few at a time, under botocore's standard
retries.

The state is plain data (JSON), so a plan file carries it and `apply plan.json` can tell
whether the account changed since the plan was made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

from botocore.exceptions import ClientError

from smstudio.core import aws, awserrors, facts
from smstudio.core.config import Team
from smstudio.images import push
from smstudio.register import gittoken, iam, reminders

T = TypeVar("T")
WORKERS = 8  # reads in flight at once: quick, and gentle on AWS's rate limits
PAGE = {"PageSize": 100}


@dataclass
class State:
    account: str
    region: str
    # IAM: the team's roles (names smstudio-<team>-...), by name:
    # {arn, trust, max_session, tags {k: v}, inline {name: document}, attached [arn]}
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    # IAM users and roles outside the team's names that matter (the team file's
    # iam_principal ones, and any holding one of the team's user policies), by ARN:
    # {kind, name, tags, attached}
    principals: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the team's managed policies, by name: {arn, document, default, versions [ids]}
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # SageMaker images by name: {arn, tags, latest: {version, status, image, config}|None}
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    app_image_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # {config}
    lifecycle_configs: list[str] = field(default_factory=list)  # names (smstudio-…)
    # the team's domain: {id, name, arn, settings (DefaultUserSettings), identity, efs}
    domain: dict[str, Any] | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # {arn, tags, home}
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # {owner, sharing, tags}
    # for what offboarding deletes (departed users, removed spaces): their live apps,
    # git-token and remote-access-key secrets and SSM registrations
    apps: list[dict[str, str]] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # user -> secret ARN
    # user -> the ARN of their remote-access public keys' secret (smstudio.ssh.remote)
    access_keys: dict[str, str] = field(default_factory=dict)
    registrations: dict[str, list[str]] = field(default_factory=dict)  # user -> instances
    # the team file's [reminders] (smstudio.register.reminders): {function {config, code},
    # permission (the rule ARN it lets invoke), rule {schedule, state}, targets [{Id, Arn}],
    # identity (SES verification status), templates {name: {Subject, Text}}}; {} without it
    reminders: dict[str, Any] = field(default_factory=dict)
    # the account's IAM OIDC providers' ARNs (the CI role trusts GitHub's or GitLab's)
    oidc_providers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        return cls(**data)

    def fingerprint(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """Where two states differ, as paths (`profiles.bob.tags.studiouserid`)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                found.append(f"{where}: added")
            elif key not in new:
                found.append(f"{where}: removed")
            else:
                found += differences(old[key], new[key], where)
        return found
    return [] if old == new else [f"{path}: changed"]


def document(value: Any) -> Any:
    """A policy document as IAM returns it (a dict, or JSON text, URL-encoded or not)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return json.loads(unquote(value))
    return value


def tags_of(listed: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in listed or []}


class Reader:
    """Reads with one client per service, shared by the reading threads."""

    def __init__(self, clients: aws.Aws, workers: int = WORKERS) -> None:
        self.clients = clients
        self.workers = workers
        self._made: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self.clients.client(service, self.workers * 2)
        return self._made[service]

    def each(self, items: Iterable[T], read: Callable[[T], Any]) -> list[Any]:
        """read(item) for every item, a few at a time; results in the items' order."""
        listed = list(items)
        if len(listed) <= 1:
            return [read(i) for i in listed]
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(read, listed))

    def pages(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        paginator = self.client(service).get_paginator(operation)
        found: list[Any] = []
        for page in paginator.paginate(**params):
            found += page.get(key, [])
        return found


def read(team: Team, clients: aws.Aws, workers: int = WORKERS, only_images: bool = False) -> State:
    """The account as the plan for `team` needs it; with only_images, just the team's
    images and their app image configs (what `apply --only images` plans from, and all
    the CI role may read)."""
    reader = Reader(clients, workers)
    account = str(reader.client("sts").get_caller_identity()["Account"])
    state = State(account=account, region=str(clients.session.region_name))
    if only_images:
        _images(reader, state, set(team.images))
        _app_image_configs(reader, state)
        state.app_image_configs = {
            k: v for k, v in state.app_image_configs.items() if k in team.images
        }
        return state
    with ThreadPoolExecutor(4) as pool:
        jobs = [
            pool.submit(_iam, reader, team, state),
            pool.submit(_images, reader, state),
            pool.submit(_sagemaker_lists, reader, state),
            pool.submit(_domain, reader, team, state),
            pool.submit(_reminders, reader, team, state),
        ]
        for job in jobs:
            job.result()
    if state.domain is not None:
        _people(reader, team, state)
    return state


def _iam(reader: Reader, team: Team, state: State) -> None:
    prefix = f"smstudio-{team.namespace}-"
    wanted_principals = {u.iam_principal for u in team.users if u.iam_principal}
    details: dict[str, list[Any]] = {"RoleDetailList": [], "UserDetailList": [], "Policies": []}
    paginator = reader.client("iam").get_paginator("get_account_authorization_details")
    for page in paginator.paginate(Filter=["Role", "User", "LocalManagedPolicy"]):
        for key in details:
            details[key] += page.get(key, [])
    ours = {  # (the name from the ARN: moto's listing has no PolicyName)
        str(p["Arn"]).rsplit("/", 1)[-1]: p
        for p in details["Policies"]
        if str(p["Arn"]).endswith(f":policy/{str(p['Arn']).rsplit('/', 1)[-1]}")
        and str(p["Arn"]).rsplit("/", 1)[-1].startswith(prefix)
    }
    for name, policy in sorted(ours.items()):
        versions = policy.get("PolicyVersionList", [])
        default = next((v for v in versions if v.get("IsDefaultVersion")), None)
        state.policies[name] = {
            "arn": policy["Arn"],
            "document": document(default["Document"]) if default else None,
            "default": policy.get("DefaultVersionId"),
            "versions": sorted(v["VersionId"] for v in versions if not v.get("IsDefaultVersion")),
        }
    our_arns = {p["arn"] for p in state.policies.values()}
    sessions = {  # MaxSessionDuration is not in the authorization details
        r["RoleName"]: r.get("MaxSessionDuration")
        for r in reader.pages("iam", "list_roles", "Roles")
        if r["RoleName"].startswith(prefix)
    }
    for role in details["RoleDetailList"]:
        attached = sorted(a["PolicyArn"] for a in role.get("AttachedManagedPolicies", []))
        if role["RoleName"].startswith(prefix):
            state.roles[role["RoleName"]] = {
                "arn": role["Arn"],
                "trust": document(role.get("AssumeRolePolicyDocument")),
                "max_session": sessions.get(role["RoleName"]),
                "tags": tags_of(role.get("Tags")),
                "inline": {
                    p["PolicyName"]: document(p["PolicyDocument"])
                    for p in role.get("RolePolicyList", [])
                },
                "attached": attached,
            }
        elif role["Arn"] in wanted_principals or our_arns & set(attached):
            state.principals[role["Arn"]] = _principal("role", role, attached)
    if team.ci is not None and team.ci.provider != "codebuild":
        listed = reader.client("iam").list_open_id_connect_providers()
        state.oidc_providers = sorted(str(p["Arn"]) for p in listed["OpenIDConnectProviderList"])
    for user in details["UserDetailList"]:
        attached = sorted(a["PolicyArn"] for a in user.get("AttachedManagedPolicies", []))
        if user["Arn"] in wanted_principals or our_arns & set(attached):
            state.principals[user["Arn"]] = _principal("user", user, attached)


def _missing(exc: ClientError) -> bool:
    """A read of something that is not there (awserrors' one list of such codes)."""
    return str(exc.response.get("Error", {}).get("Code", "")) in awserrors.NOT_FOUND


def _reminders(reader: Reader, team: Team, state: State) -> None:
    """The reminders' function, its permission, rule and targets, SES identity and
    templates (only for a team file with [reminders])."""
    if team.reminders is None:
        return
    names = reminders.Names.of(team)
    found: dict[str, Any] = {"function": None, "permission": None, "rule": None,
                             "targets": [], "identity": None, "templates": {}}  # fmt: skip
    lam, events, ses = reader.client("lambda"), reader.client("events"), reader.client("ses")
    try:
        config = lam.get_function_configuration(FunctionName=names.function)
    except ClientError as exc:
        if not _missing(exc):
            raise
    else:
        keys = ("Role", "Handler", "Runtime", "Timeout", "MemorySize", "Description")
        wanted = {k: config.get(k) for k in keys}
        variables = (config.get("Environment") or {}).get("Variables") or {}
        wanted["Environment"] = {"Variables": dict(variables)}
        found["function"] = {"config": wanted, "code": config.get("CodeSha256")}
        try:
            policy = json.loads(lam.get_policy(FunctionName=names.function)["Policy"])
        except ClientError as exc:
            if not _missing(exc):
                raise
        else:
            for statement in policy.get("Statement", []):
                if statement.get("Sid") == reminders.PERMISSION_ID:
                    condition = statement.get("Condition", {}).get("ArnLike", {})
                    found["permission"] = condition.get("AWS:SourceArn", "")
    try:
        rule = events.describe_rule(Name=names.rule)
    except ClientError as exc:
        if not _missing(exc):
            raise
    else:
        found["rule"] = {"schedule": rule.get("ScheduleExpression"), "state": rule.get("State")}
        listed = events.list_targets_by_rule(Rule=names.rule).get("Targets", [])
        found["targets"] = sorted(({"Id": t["Id"], "Arn": t["Arn"]} for t in listed),
                                  key=lambda t: str(t["Id"]))  # fmt: skip
    sender = team.reminders.sender
    attributes = ses.get_identity_verification_attributes(Identities=[sender])
    status = (attributes.get("VerificationAttributes") or {}).get(sender)
    found["identity"] = status.get("VerificationStatus") if status else None
    for name in sorted(names.templates.values()):
        try:
            template = ses.get_template(TemplateName=name)["Template"]
        except ClientError as exc:
            if not _missing(exc):
                raise
            continue
        found["templates"][name] = {k: template.get(k) for k in ("SubjectPart", "TextPart")}
    state.reminders = found


def _principal(kind: str, found: dict[str, Any], attached: list[str]) -> dict[str, Any]:
    name = found["RoleName" if kind == "role" else "UserName"]
    return {"kind": kind, "name": name, "tags": tags_of(found.get("Tags")), "attached": attached}


def _images(reader: Reader, state: State, only: set[str] | None = None) -> None:
    sm = reader.client("sagemaker")
    listed = reader.pages("sagemaker", "list_images", "Images", PaginationConfig=PAGE)
    listed = [i for i in listed if i.get("ImageStatus") not in ("DELETING", "DELETE_FAILED")]
    if only is not None:
        listed = [i for i in listed if i["ImageName"] in only]

    def one(image: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = image["ImageName"]
        tags = tags_of(sm.list_tags(ResourceArn=image["ImageArn"]).get("Tags"))
        latest = None
        # the latest by number, then described by number: IAM authorizes a version's ARN
        # (image-version/NAME/N), which a request for "the latest" does not name
        versions = reader.pages("sagemaker", "list_image_versions", "ImageVersions",
                                ImageName=name, PaginationConfig=PAGE)  # fmt: skip
        found = None
        if versions:
            newest = max(int(v["Version"]) for v in versions)
            found = sm.describe_image_version(ImageName=name, Version=newest)
        if found is not None:
            container = found.get("ContainerImage", "")
            latest = {
                "version": found["Version"],
                "status": found["ImageVersionStatus"],
                "image": container,
                "config": push.config_digest(container, reader.clients),
            }
        return name, {"arn": image["ImageArn"], "tags": tags, "latest": latest}

    state.images = dict(sorted(reader.each(listed, one)))


def _sagemaker_lists(reader: Reader, state: State) -> None:
    _app_image_configs(reader, state)
    lccs = reader.pages(
        "sagemaker",
        "list_studio_lifecycle_configs",
        "StudioLifecycleConfigs",
        NameContains="smstudio",
        PaginationConfig=PAGE,
    )
    state.lifecycle_configs = sorted(str(c["StudioLifecycleConfigName"]) for c in lccs)


def _app_image_configs(reader: Reader, state: State) -> None:
    configs = reader.pages(
        "sagemaker", "list_app_image_configs", "AppImageConfigs", PaginationConfig=PAGE
    )
    state.app_image_configs = {
        c["AppImageConfigName"]: {
            "arn": c.get("AppImageConfigArn"),
            "config": {k: c[k] for k in facts.APP_IMAGE_CONFIG_KEYS if k in c},
        }
        for c in sorted(configs, key=lambda c: str(c["AppImageConfigName"]))
    }


def _domain(reader: Reader, team: Team, state: State) -> None:
    sm = reader.client("sagemaker")
    domain_id = team.domain.id
    if domain_id is None:
        for found in reader.pages("sagemaker", "list_domains", "Domains", PaginationConfig=PAGE):
            if found["DomainName"] == team.domain.name and found.get("Status") != "Deleting":
                domain_id = str(found["DomainId"])
                break
    if domain_id is None:
        return
    described = sm.describe_domain(DomainId=domain_id)
    state.domain = {
        "id": domain_id,
        "name": described.get("DomainName"),
        "arn": described.get("DomainArn"),
        "settings": described.get("DefaultUserSettings", {}),
        "identity": (described.get("DomainSettings") or {}).get("ExecutionRoleIdentityConfig"),
        "docker": (described.get("DomainSettings") or {}).get("DockerSettings") or {},
        "network": described.get("AppNetworkAccessType", "PublicInternetOnly"),
        "efs": described.get("HomeEfsFileSystemId"),
    }


def _people(reader: Reader, team: Team, state: State) -> None:
    """Profiles (with tags), spaces, and for those leaving: apps, secrets, registrations."""
    assert state.domain is not None
    domain_id = state.domain["id"]
    sm = reader.client("sagemaker")
    profiles = reader.pages(
        "sagemaker", "list_user_profiles", "UserProfiles",
        DomainIdEquals=domain_id, PaginationConfig=PAGE,
    )  # fmt: skip
    profiles = [p for p in profiles if p.get("Status") not in ("Deleting", "Delete_Failed")]
    region = state.region

    def profile(found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = found["UserProfileName"]
        arn = f"arn:aws:sagemaker:{region}:{state.account}:user-profile/{domain_id}/{name}"
        tags = tags_of(sm.list_tags(ResourceArn=arn).get("Tags"))
        return name, {"arn": arn, "tags": tags}

    state.profiles = dict(sorted(reader.each(profiles, profile)))
    spaces = reader.pages(
        "sagemaker", "list_spaces", "Spaces", DomainIdEquals=domain_id, PaginationConfig=PAGE
    )
    for found in sorted(spaces, key=lambda s: str(s["SpaceName"])):
        if found.get("Status") in ("Deleting", "Delete_Failed"):
            continue
        state.spaces[found["SpaceName"]] = {
            "owner": (found.get("OwnershipSettingsSummary") or {}).get("OwnerUserProfileName"),
            "sharing": (found.get("SpaceSharingSettingsSummary") or {}).get("SharingType"),
            "remote_access": (found.get("SpaceSettingsSummary") or {}).get("RemoteAccess")
            or "DISABLED",
        }
    leaving = sorted(leavers(team, state))
    # whose a space is, beyond its owner, only its tags say (a declared space is tagged
    # smstudio:managed-by); a user's own workspace space needs no such reading
    tagged = [n for n, s in state.spaces.items() if n != f"{s['owner']}-space"]

    def space_tags(name: str) -> tuple[str, dict[str, str]]:
        arn = f"arn:aws:sagemaker:{region}:{state.account}:space/{domain_id}/{name}"
        return name, tags_of(sm.list_tags(ResourceArn=arn).get("Tags"))

    for name, tags in reader.each(tagged, space_tags):
        state.spaces[name]["tags"] = tags
    going_spaces = {n for n, s in state.spaces.items() if s["owner"] in leaving} | {
        n for n in state.spaces if removed_space(team, state, n)
    }
    if leaving or going_spaces:
        for app in reader.pages(
            "sagemaker", "list_apps", "Apps", DomainIdEquals=domain_id, PaginationConfig=PAGE
        ):
            if app.get("Status") in ("Deleted", "Failed"):
                continue
            owner = app.get("UserProfileName") or ""
            if owner in leaving or app.get("SpaceName") in going_spaces:
                keys = ("SpaceName", "UserProfileName", "AppType", "AppName")
                state.apps.append({k: str(app[k]) for k in keys if app.get(k)})
        state.apps.sort(key=lambda a: json.dumps(a, sort_keys=True))
    secrets = reader.client("secretsmanager")
    ssm = reader.client("ssm")

    def described(name: str) -> str | None:
        try:
            found = secrets.describe_secret(SecretId=name)
        except secrets.exceptions.ResourceNotFoundException:
            return None
        return None if found.get("DeletedDate") else str(found["ARN"])

    def secret(user: str) -> tuple[str, str | None]:
        return user, described(gittoken.secret_name(domain_id, user))

    def access_keys(user: str) -> tuple[str, str | None]:
        return user, described(facts.user_secret_name(domain_id, user, facts.ACCESS_KEYS))

    def registrations(user: str) -> tuple[str, list[str]]:
        found = []
        pages = ssm.get_paginator("describe_instance_information").paginate(
            Filters=[{"Key": "tag:SSHOwner", "Values": [user]}]
        )
        for page in pages:
            for instance in page["InstanceInformationList"]:
                listed = ssm.list_tags_for_resource(
                    ResourceType="ManagedInstance", ResourceId=instance["InstanceId"]
                )["TagList"]
                app_arn = tags_of(listed).get("SSHResourceArn", "")
                if f"/{domain_id}/" in app_arn:  # this domain's: not another team's
                    found.append(str(instance["InstanceId"]))
        return user, sorted(found)

    for user, arn in reader.each(leaving, secret):
        if arn:
            state.secrets[user] = arn
    for user, arn in reader.each(leaving, access_keys):
        if arn:
            state.access_keys[user] = arn
    for user, instances in reader.each(leaving, registrations):
        if instances:
            state.registrations[user] = instances


def leavers(team: Team, state: State) -> dict[str, dict[str, Any]]:
    """Users the team file no longer has, of whom something smstudio made for this team
    is left: {user: {profile: bool, role: name|None, policies: [name, ...]}}. A profile
    counts when tagged smstudio:managed-by=<team>; IAM names carry the team's namespace."""
    users = {u.name for u in team.users}
    names = iam.Names(team.namespace)
    current = {names.user_role(u) for u in users}
    current |= {p for u in users for p in names.user_policies(u)}
    prefix = names.user_policy("")
    policy_prefixes = names.user_policies("")
    found: dict[str, dict[str, Any]] = {}

    def entry(user: str) -> dict[str, Any]:
        return found.setdefault(user, {"profile": False, "role": None, "policies": []})

    for name, profile in state.profiles.items():
        if name not in users and profile["tags"].get(facts.MANAGED_BY_TAG) == team.namespace:
            entry(name)["profile"] = True
    role_users: dict[str, str] = {}  # policy ARN -> the user whose role holds it
    for name, role in state.roles.items():
        if not name.startswith(prefix) or name in current:
            continue
        user = role["tags"].get(facts.STUDIO_USER_TAG) or name[len(prefix) :]
        entry(user)["role"] = name
        for arn in role["attached"]:
            role_users[arn] = user
    for name, policy in sorted(state.policies.items()):
        start = next((p for p in policy_prefixes if name.startswith(p)), None)
        if start is not None and name not in current:
            entry(role_users.get(policy["arn"]) or name[len(start) :])["policies"].append(name)
    return {u: found[u] for u in sorted(found) if u and u not in users}


def removed_space(team: Team, state: State, name: str) -> bool:
    """A space smstudio made for this team (tagged) that the team file no longer has."""
    space = state.spaces.get(name) or {}
    tags = space.get("tags") or {}
    return team.space(name) is None and tags.get(facts.MANAGED_BY_TAG) == team.namespace
