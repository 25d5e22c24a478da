"""The plan, pure: what the team file wants (with what only this machine knows: its built
images and rendered lifecycle scripts) against what the account holds (`state.State`),
as a list of changes in a fixed order, each with its action, target, reason, the calls
that carry it out and the changes it depends on. No AWS, no Docker: unit-tested on
plain data.

Order: IAM roles -> images, image versions, app image configs -> lifecycle configs ->
the domain -> the execution role's policy (scoped to the domain) -> domain defaults
(merged, never dropping others' entries) -> per user: policy, identity, profile ->
declared spaces -> with --prune, what the team file no longer has: spaces, profiles,
IAM identities and policies, git-token secrets, SSM registrations, images. Without
--prune those are listed as kept. smstudio deletes only what it tagged
`smstudio:managed-by=<team>` (IAM names carry the team's namespace).

A domain the plan creates has no id yet: calls name it `${domain_id}`, which the
executor fills in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from smstudio.core import facts
from smstudio.core.config import Team, User
from smstudio.core.errors import BadInput
from smstudio.register import desired, iam, reminders
from smstudio.register.state import State, leavers, removed_space, tags_of

DOMAIN_ID = "${domain_id}"
IDENTITY = {"ExecutionRoleIdentityConfig": "USER_PROFILE_NAME"}


@dataclass
class ImageInput:
    local_ref: str  # the built image, smstudio/<target>:<tag>
    image_id: str  # its config digest: the same image, the same value
    config: dict[str, Any]  # its AppImageConfig (KernelGateway/JupyterLab parts)


@dataclass
class LifecycleInput:
    name: str  # smstudio-<app type>-<content hash>
    content: str  # base64
    script: str  # the source script's file name


@dataclass
class Inputs:
    images: dict[str, ImageInput] = field(default_factory=dict)
    lifecycle: dict[str, LifecycleInput] = field(default_factory=dict)  # by app type


@dataclass
class Options:
    prune: bool = False  # delete what the team file no longer has
    delete_home: bool = False  # ... and the homes of users it no longer has
    replace_spaces: bool = False  # replace spaces whose owner or sharing type changed
    # `apply --only images`: only new image versions and their app image configs (what
    # the CI role may do), for these of the team's images (all when empty)
    only_images: bool = False
    images: list[str] = field(default_factory=list)


@dataclass
class Call:
    service: str  # a boto3 service name, or "smstudio" for a step of its own
    op: str  # the client method (or the step's name)
    params: dict[str, Any]
    save: dict[str, str] = field(default_factory=dict)  # name -> key of the response


@dataclass
class Change:
    id: str
    step: str
    action: str
    target: str
    detail: str = ""
    reason: str = ""
    depends_on: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        calls = [Call(**c) for c in data.get("calls", [])]
        return cls(**{**data, "calls": calls})


@dataclass
class Plan:
    namespace: str
    changes: list[Change] = field(default_factory=list)
    kept: list[Change] = field(default_factory=list)  # listed, not carried out

    @property
    def replacing(self) -> list[Change]:
        return [c for c in self.changes if c.action == "replace"]


def plan(team: Team, inputs: Inputs, state: State, options: Options | None = None) -> Plan:
    """The changes that bring the account to the team file, in order."""
    return _Planner(team, inputs, state, options or Options()).run()


def client_token(*parts: object) -> str:
    """An idempotency token that the same change always gets."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:32]


def _json(document: Any) -> str:
    return json.dumps(document)


class _Planner:
    def __init__(self, team: Team, inputs: Inputs, state: State, options: Options) -> None:
        self.team, self.inputs, self.state, self.options = team, inputs, state, options
        self.names = iam.Names(team.namespace)
        self.result = Plan(team.namespace)
        self.managed = [{"Key": facts.MANAGED_BY_TAG, "Value": team.namespace}]
        self.domain_ref = state.domain["id"] if state.domain else DOMAIN_ID
        self.scope = iam.Scope(state.account, state.region, self.domain_ref)

    # --- recording -------------------------------------------------------------------

    def add(
        self,
        step: str,
        action: str,
        target: str,
        calls: list[Call],
        detail: str = "",
        reason: str = "",
        needs: list[str | None] | None = None,
    ) -> str:
        change_id = f"{step}:{target}:{action}"
        made = {c.id for c in self.result.changes}
        depends = [n for n in dict.fromkeys(needs or []) if n and n in made]
        self.result.changes.append(
            Change(change_id, step, action, target, detail, reason, depends, calls)
        )
        return change_id

    def keep(self, step: str, target: str, detail: str, reason: str) -> None:
        self.result.kept.append(
            Change(f"{step}:{target}:keep", step, "keep", target, detail, reason)
        )

    def arn(self, kind: str, name: str) -> str:
        if kind in ("role", "policy"):
            return f"arn:aws:iam::{self.state.account}:{kind}/{name}"
        return f"arn:aws:sagemaker:{self.state.region}:{self.state.account}:{kind}/{name}"

    # --- IAM roles -------------------------------------------------------------------

    def role(
        self,
        name: str,
        trust: dict[str, Any],
        inline: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
        max_session: int | None = None,
    ) -> str | None:
        """The role made or brought to its trust, tags, session length and inline policy;
        the id of its creation when the plan creates it."""
        have = self.state.roles.get(name)
        wanted_tags = self.managed + (tags or [])
        if have is None:
            extra = {"MaxSessionDuration": max_session} if max_session else {}
            calls = [
                Call(
                    "iam",
                    "create_role",
                    {
                        "RoleName": name,
                        "AssumeRolePolicyDocument": _json(trust),
                        "Tags": wanted_tags,
                        **extra,
                    },
                )
            ]
            if inline is not None:
                calls.append(
                    Call(
                        "iam",
                        "put_role_policy",
                        {"RoleName": name, "PolicyName": name, "PolicyDocument": _json(inline)},
                    )
                )
            return self.add("iam role", "create", name, calls, reason="missing")
        if have["trust"] != trust:
            self.add(
                "iam role trust",
                "update",
                name,
                [
                    Call(
                        "iam",
                        "update_assume_role_policy",
                        {"RoleName": name, "PolicyDocument": _json(trust)},
                    )
                ],
                reason="drift: its trust policy is not smstudio's",
            )
        if max_session and have.get("max_session") != max_session:
            self.add(
                "iam role",
                "update",
                name,
                [Call("iam", "update_role", {"RoleName": name, "MaxSessionDuration": max_session})],
                f"(sessions up to {max_session // 3600} h)",
                "session length differs",
            )
        stale = [t for t in wanted_tags if have["tags"].get(t["Key"]) != t["Value"]]
        if stale:
            unmarked = have["tags"].get(facts.MANAGED_BY_TAG) != self.team.namespace
            why = (
                (
                    f"drift: not tagged {facts.MANAGED_BY_TAG}={self.team.namespace} (made "
                    "outside smstudio, or by an older one)"
                )
                if unmarked
                else "tags differ"
            )
            self.add(
                "iam role",
                "tag",
                name,
                [Call("iam", "tag_role", {"RoleName": name, "Tags": stale})],
                ", ".join(t["Key"] for t in stale),
                why,
            )
        if inline is not None:
            self.role_policy(name, inline)
        return None

    # --- images --------------------------------------------------------------------

    def images(
        self, image_role: str | None, only: list[str] | None = None
    ) -> dict[str, str | None]:
        made: dict[str, str | None] = {}
        role_arn = self.arn("role", self.names.image_role)
        for name, image in self.team.images.items():
            if only and name not in only:
                continue
            wanted = self.inputs.images[name]
            have = self.state.images.get(name)
            image_id = None
            if have is None:
                image_id = self.add(
                    "image",
                    "create",
                    name,
                    [
                        Call(
                            "sagemaker",
                            "create_image",
                            {"ImageName": name, "RoleArn": role_arn, "Tags": self.managed},
                        )
                    ],
                    f"(role {self.names.image_role})",
                    "missing",
                    [image_role],
                )
            latest: dict[str, Any] = (have or {}).get("latest") or {}
            version_id = None
            if latest.get("status") == "CREATING":
                version_id = self.add(
                    "image version",
                    "wait",
                    name,
                    [
                        Call(
                            "smstudio",
                            "wait_image_version",
                            {"ImageName": name, "Version": latest["version"]},
                        )
                    ],
                    f"version {latest['version']}",
                    "an earlier apply stopped before it was CREATED",
                )
            current = latest.get("status") in ("CREATED", "CREATING")
            if not latest or not current or latest["config"] != wanted.image_id:
                if not latest:
                    why = "no version yet"
                elif not current:
                    why = f"the latest version is {latest['status']}"
                else:
                    why = (
                        f"the latest version is another image (config {str(latest['config'])[:19]})"
                    )
                number = latest["version"] if latest else 0
                version_id = self.add(
                    "image version",
                    "create",
                    name,
                    [
                        Call(
                            "smstudio",
                            "push_image_version",
                            {
                                "ImageName": name,
                                "LocalRef": wanted.local_ref,
                                "Target": image.target,
                                "Repository": facts.ecr_repository(
                                    image.target, self.team.namespace
                                ),
                                "ImageId": wanted.image_id,
                                "ClientToken": client_token(name, wanted.image_id, number),
                            },
                        )
                    ],
                    f"{wanted.local_ref} ({wanted.image_id[:19]})",
                    why,
                    [image_id],
                )
            config_id = self.app_image_config(name, wanted.config)
            made[name] = config_id or version_id or image_id
        return made

    def app_image_config(self, name: str, config: dict[str, Any]) -> str | None:
        have = self.state.app_image_configs.get(name)
        if have is None:
            return self.add(
                "app image config",
                "create",
                name,
                [
                    Call(
                        "sagemaker",
                        "create_app_image_config",
                        {"AppImageConfigName": name, "Tags": self.managed, **config},
                    )
                ],
                reason="missing",
            )
        if have["config"] != config:
            return self.add(
                "app image config",
                "update",
                name,
                [
                    Call(
                        "sagemaker",
                        "update_app_image_config",
                        {"AppImageConfigName": name, **config},
                    )
                ],
                reason="differs",
            )
        return None

    def lifecycle(self) -> tuple[dict[str, str], list[str | None]]:
        arns: dict[str, str] = {}
        made: list[str | None] = []
        for app_type, script in self.inputs.lifecycle.items():
            arns[app_type] = self.arn("studio-lifecycle-config", script.name)
            if script.name in self.state.lifecycle_configs:
                continue
            made.append(
                self.add(
                    "lifecycle config",
                    "create",
                    script.name,
                    [
                        Call(
                            "sagemaker",
                            "create_studio_lifecycle_config",
                            {
                                "StudioLifecycleConfigName": script.name,
                                "StudioLifecycleConfigContent": script.content,
                                "StudioLifecycleConfigAppType": app_type,
                                "Tags": self.managed,
                            },
                        )
                    ],
                    f"({app_type}, {script.script})",
                    "missing",
                )
            )
        return arns, made

    # --- the domain ------------------------------------------------------------------

    def domain(self, execution_role: str, needs: list[str | None]) -> str | None:
        spec = self.team.domain
        if self.state.domain is not None:
            self.domain_settings()
            return None
        if spec.id:
            raise BadInput(
                f"domain {spec.id} (the team file's domain.id) does not exist in "
                f"{self.state.region}",
                "check domain.id and domain.region, or give domain.name to create one",
            )
        extra: dict[str, Any] = {}
        if spec.vpc_id:
            extra = {"VpcId": spec.vpc_id, "SubnetIds": spec.subnet_ids}
        return self.add(
            "domain",
            "create",
            str(spec.name),
            [
                Call(
                    "sagemaker",
                    "create_domain",
                    {
                        "DomainName": spec.name,
                        "AuthMode": "IAM",
                        "DefaultUserSettings": {"ExecutionRole": execution_role},
                        "DomainSettings": {**IDENTITY, **self.docker_create()},
                        "Tags": self.managed,
                        **extra,
                    },
                    save={"domain_id": "DomainId"},
                ),
                Call("smstudio", "wait_domain", {"DomainId": DOMAIN_ID}),
            ],
            reason="missing",
            needs=needs,
        )

    def domain_settings(self) -> None:
        """The settings of an existing domain smstudio needs: apps' sessions carry their
        user, and Docker as the team file says (merged with the domain's own)."""
        assert self.state.domain is not None
        update: dict[str, Any] = {}
        reasons = []
        if self.state.domain["identity"] != IDENTITY["ExecutionRoleIdentityConfig"]:
            update.update(IDENTITY)
            reasons.append("apps' sessions must carry their user (SourceIdentity)")
        have = self.state.domain.get("docker") or {}
        wanted = desired.docker_settings(self.team.docker, have)
        if wanted != have:
            update["DockerSettings"] = wanted
            reasons.append(self.docker_reason(have, wanted))
        if update:
            names = {"ExecutionRoleIdentityConfig": "identity", "DockerSettings": "docker"}
            detail = ", ".join(names[k] for k in update)
            self.add(
                "domain settings",
                "update",
                self.domain_ref,
                [
                    Call(
                        "sagemaker",
                        "update_domain",
                        {"DomainId": self.domain_ref, "DomainSettingsForUpdate": update},
                    )
                ],
                detail,
                "; ".join(reasons),
            )

    def docker_create(self) -> dict[str, Any]:
        wanted = desired.docker_settings(self.team.docker, {})
        return {"DockerSettings": wanted} if wanted else {}

    @staticmethod
    def docker_reason(have: dict[str, Any], wanted: dict[str, Any]) -> str:
        access = wanted.get("EnableDockerAccess")
        if access == "ENABLED" and have.get("EnableDockerAccess") != "ENABLED":
            return (
                "Docker access turned on: only apps created from now on get Docker; "
                "restart running JupyterLab and Code Editor apps"
            )
        if access == "DISABLED" and have.get("EnableDockerAccess") == "ENABLED":
            return "Docker access turned off: running apps keep theirs until restarted"
        return "Docker settings differ (apps created from now on get them)"

    def role_policy(
        self,
        name: str,
        policy: dict[str, Any],
        detail: str = "",
        needs: list[str | None] | None = None,
    ) -> None:
        """The role's one inline policy (named as the role), put when it differs."""
        have = (self.state.roles.get(name) or {}).get("inline", {}).get(name)
        if have != policy:
            call = Call(
                "iam",
                "put_role_policy",
                {"RoleName": name, "PolicyName": name, "PolicyDocument": _json(policy)},
            )
            self.add(
                "iam role policy",
                "put",
                name,
                [call],
                detail,
                "missing" if have is None else "differs",
                needs,
            )

    def execution_policy(self, needs: list[str | None]) -> None:
        name = self.names.execution_role
        bucket = f"sagemaker-{self.state.region}-{self.state.account}"
        policy = iam.execution_role_policy(
            self.scope,
            bucket,
            self.names.ssm_instance_role,
            bool(self.team.docker.remote_host),
            self.team.starter.s3,
        )
        self.role_policy(name, policy, "(scoped to the domain)", needs)

    def domain_defaults(
        self, execution_role: str, lccs: dict[str, str], dropped: set[str], needs: list[str | None]
    ) -> None:
        current = (self.state.domain or {}).get("settings", {})
        update: dict[str, Any] = {}
        if current.get("ExecutionRole") != execution_role:
            update["ExecutionRole"] = execution_role
        for app_type, key in facts.SETTINGS_KEY.items():
            ours = [
                {"ImageName": name, "AppImageConfigName": name}
                for name, image in self.team.images.items()
                if app_type in image.app_types and app_type not in facts.NO_CUSTOM_IMAGES
            ]
            arns = [lccs[app_type]] if app_type in lccs else []
            extra = (
                desired.jupyterlab_settings(self.team)
                if app_type == "JupyterLab"
                else desired.codeeditor_settings(self.team)
                if app_type == "CodeEditor"
                else {}
            )
            now = current.get(key, {})
            kept = dict(now)
            if dropped and "CustomImages" in now:  # --prune: images the team file dropped
                kept["CustomImages"] = [
                    e for e in now["CustomImages"] if e["ImageName"] not in dropped
                ]
            if not ours and not arns and not extra:
                if kept != now:
                    update[key] = kept
                continue
            settings = desired.app_settings_update(
                kept, ours, arns, arns[0] if arns else None, extra
            )
            if settings is None and kept != now:
                settings = kept
            if settings is not None:
                update[key] = settings
        if update:
            self.add(
                "domain defaults",
                "update",
                str(self.team.domain.name or self.domain_ref),
                [
                    Call(
                        "sagemaker",
                        "update_domain",
                        {"DomainId": self.domain_ref, "DefaultUserSettings": update},
                    )
                ],
                ", ".join(sorted(update)),
                "differ",
                needs,
            )

    # --- users and spaces ------------------------------------------------------------

    def managed_policy(self, policy_name: str, document: Any, domain: str | None) -> str | None:
        """Create the managed policy, or give it a new default version when it differs."""
        have = self.state.policies.get(policy_name)
        if have is None:
            return self.add(
                "iam user policy",
                "create",
                policy_name,
                [
                    Call(
                        "iam",
                        "create_policy",
                        {
                            "PolicyName": policy_name,
                            "PolicyDocument": _json(document),
                            "Tags": self.managed,
                        },
                    )
                ],
                reason="missing",
                needs=[domain],
            )
        if have["document"] == document:
            return None
        arn = have["arn"]
        # IAM keeps at most 5 versions: drop the oldest non-default ones first.
        old = sorted(have["versions"], key=lambda v: int(str(v).lstrip("v") or 0))[:-3]
        calls = [
            Call("iam", "delete_policy_version", {"PolicyArn": arn, "VersionId": v}) for v in old
        ]
        calls.append(
            Call(
                "iam",
                "create_policy_version",
                {"PolicyArn": arn, "PolicyDocument": _json(document), "SetAsDefault": True},
            )
        )
        return self.add(
            "iam user policy", "new version", policy_name, calls, reason="differs", needs=[domain]
        )

    def user(self, user: User, domain: str | None) -> str | None:
        documents = {
            self.names.user_policy(user.name): iam.user_policy(
                self.scope, self.team.allowed_for(user)
            ),
            self.names.user_access_policy(user.name): iam.user_access_policy(self.scope),
        }
        policy_ids = {
            name: self.managed_policy(name, document, domain)
            for name, document in documents.items()
        }
        tag = [{"Key": facts.STUDIO_USER_TAG, "Value": user.name}]
        if user.iam_principal:
            principal = self.state.principals.get(user.iam_principal)
            if principal is None:
                raise BadInput(
                    f"user {user.name}: iam_principal {user.iam_principal} does not exist",
                    "create it first, or remove iam_principal to have smstudio make a role",
                )
            kind, name = principal["kind"], principal["name"]
            key = {"UserName": name} if kind == "user" else {"RoleName": name}
            if principal["tags"].get(facts.STUDIO_USER_TAG) != user.name:
                self.add(
                    f"iam {kind}",
                    "tag",
                    name,
                    [Call("iam", f"tag_{kind}", {**key, "Tags": tag})],
                    f"({facts.STUDIO_USER_TAG}={user.name})",
                    "its Studio user",
                )
            attached, role_id = principal["attached"], None
        else:
            name = self.names.user_role(user.name)
            key = {"RoleName": name}
            kind = "role"
            hours = self.team.identity.session_hours
            trust = iam.user_trust_policy(self.state.account, self.team.identity.saml_provider)
            role_id = self.role(name, trust, None, tag, hours * 3600)
            attached = (self.state.roles.get(name) or {}).get("attached", [])
        for policy_name, policy_id in policy_ids.items():
            policy_arn = self.arn("policy", policy_name)
            if policy_arn not in attached:
                self.add(
                    "iam user policy",
                    "attach",
                    policy_name,
                    [Call("iam", f"attach_{kind}_policy", {**key, "PolicyArn": policy_arn})],
                    f"(to {name})",
                    "not attached",
                    [policy_id, role_id],
                )
        tags = desired.profile_tags(user) + self.managed
        profile = self.state.profiles.get(user.name)
        if profile is None:
            return self.add(
                "user profile",
                "create",
                user.name,
                [
                    Call(
                        "sagemaker",
                        "create_user_profile",
                        {"DomainId": self.domain_ref, "UserProfileName": user.name, "Tags": tags},
                    )
                ],
                f"({facts.STUDIO_USER_TAG}={user.name})",
                "missing",
                [domain],
            )
        stale = [t for t in tags if profile["tags"].get(t["Key"]) != t["Value"]]
        if stale:
            self.add(
                "user profile",
                "tag",
                user.name,
                [Call("sagemaker", "add_tags", {"ResourceArn": profile["arn"], "Tags": stale})],
                ", ".join(t["Key"] for t in stale),
                "tags differ",
            )
        return None

    def spaces(self, domain: str | None, profiles: dict[str, str | None]) -> None:
        for space in self.team.spaces:
            wanted = desired.space_request(space, self.team, self.domain_ref)
            wanted["Tags"] = wanted["Tags"] + self.managed
            have = self.state.spaces.get(space.name)
            detail = f"(owner {space.owner}, {space.sharing})"
            needs = [domain, profiles.get(space.owner)]
            if have is None:
                self.add(
                    "space",
                    "create",
                    space.name,
                    [Call("sagemaker", "create_space", wanted)],
                    detail,
                    "missing",
                    needs,
                )
                continue
            if (have["owner"], have["sharing"]) != (space.owner, space.sharing):
                ident = {"DomainId": self.domain_ref, "SpaceName": space.name}
                was = f"(was owner {have['owner']}, {have['sharing']}; its home is deleted)"
                self.add(
                    "space",
                    "replace",
                    space.name,
                    [
                        Call("smstudio", "delete_space", ident),
                        Call("sagemaker", "create_space", wanted),
                    ],
                    f"{detail} {was}",
                    "SageMaker cannot change a space's owner or sharing type",
                    needs,
                )
                continue
            remote = "ENABLED" if space.remote_access else "DISABLED"
            if have.get("remote_access", "DISABLED") != remote:
                self.add(
                    "space",
                    "update",
                    space.name,
                    [
                        Call(
                            "sagemaker",
                            "update_space",
                            {
                                "DomainId": self.domain_ref,
                                "SpaceName": space.name,
                                "SpaceSettings": {"RemoteAccess": remote},
                            },
                        )
                    ],
                    f"(remote access {remote.lower()})",
                    f"drift: remote access is {have.get('remote_access', 'DISABLED').lower()}",
                )
            tags = have.get("tags") or {}
            if tags.get(facts.MANAGED_BY_TAG) != self.team.namespace:
                self.add(
                    "space",
                    "tag",
                    space.name,
                    [
                        Call(
                            "sagemaker",
                            "add_tags",
                            {"ResourceArn": self.space_arn(space.name), "Tags": self.managed},
                        )
                    ],
                    facts.MANAGED_BY_TAG,
                    "drift: made before smstudio tagged what it makes",
                )

    # --- reminders ------------------------------------------------------------------

    def reminders(self, domain: str | None) -> None:
        """The team file's [reminders]: the Lambda role, the SES identity and templates,
        the function (its code and configuration), the schedule's rule, its target and
        its permission to invoke the function."""
        spec = self.team.reminders
        if spec is None:
            return
        names = reminders.Names.of(self.team)
        have = self.state.reminders
        account, region = self.state.account, self.state.region
        role_id = self.role(
            names.role,
            iam.service_trust_policy("lambda.amazonaws.com"),
            reminders.policy(self.team, self.scope),
        )
        if have.get("identity") is None:
            self.add("ses identity", "create", spec.sender,
                     [Call("ses", "verify_email_identity", {"EmailAddress": spec.sender})],
                     "(SES emails it a link to verify)", "missing")  # fmt: skip
        elif have["identity"] != "Success":
            self.keep("ses identity", spec.sender, f"({have['identity']})",
                      "not verified yet: open the link SES emailed to it")  # fmt: skip
        for template in reminders.templates(self.team):
            name = template["TemplateName"]
            found = have.get("templates", {}).get(name)
            if found is None or found != {k: template[k] for k in found}:
                action = "create" if found is None else "update"
                call = Call("ses", f"{action}_template", {"Template": template})
                self.add("ses template", action, name, [call],
                         reason="missing" if found is None else "differs")  # fmt: skip
        config = reminders.function_config(self.team, self.domain_ref, account, region)
        sha = reminders.code_sha256()
        function = have.get("function")
        wanted = {k: v for k, v in config.items() if k != "FunctionName"}
        differs = [] if function is None else sorted(
            k for k in wanted if function["config"].get(k) != wanted[k])  # fmt: skip
        code = function is not None and function["code"] != sha
        function_id = None
        if function is None or code or differs:
            parts = (["code"] if code else []) + differs
            deploy = {"Configuration": config, "CodeSha256": sha, "Create": function is None,
                      "Code": code, "Config": bool(differs),
                      "Tags": tags_of(self.managed)}  # fmt: skip
            function_id = self.add(
                "reminders function",
                "create" if function is None else "update",
                names.function,
                [Call("smstudio", "deploy_reminders", deploy)],
                f"({', '.join(parts)})" if parts else f"({reminders.RUNTIME}, {sha[:12]})",
                "missing" if function is None else "differs",
                [role_id, domain],
            )
        function_arn = f"arn:aws:lambda:{region}:{account}:function:{names.function}"
        rule_arn = f"arn:aws:events:{region}:{account}:rule/{names.rule}"
        rule = have.get("rule")
        rule_id = None
        if rule is None or rule != {"schedule": spec.schedule, "state": "ENABLED"}:
            put = {"Name": names.rule, "ScheduleExpression": spec.schedule, "State": "ENABLED",
                   "Description": f"smstudio reminders for {self.team.namespace}",
                   "Tags": self.managed}  # fmt: skip
            rule_id = self.add(
                "reminders schedule",
                "create" if rule is None else "update",
                names.rule,
                [Call("events", "put_rule", put)],
                f"({spec.schedule})",
                "missing" if rule is None else f"drift: {rule['schedule']}, {rule['state']}",
            )
        if have.get("permission") != rule_arn:
            calls = []
            if have.get("permission") is not None:
                statement = {"FunctionName": names.function, "StatementId": reminders.PERMISSION_ID}
                calls.append(Call("lambda", "remove_permission", statement))
            calls.append(Call("lambda", "add_permission", {
                "FunctionName": names.function, "StatementId": reminders.PERMISSION_ID,
                "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com",
                "SourceArn": rule_arn}))  # fmt: skip
            self.add("reminders schedule", "allow", names.function, calls,
                     "(the schedule may invoke the function)",
                     "missing" if have.get("permission") is None else "differs",
                     [function_id, rule_id])  # fmt: skip
        target = {"Id": reminders.TARGET_ID, "Arn": function_arn}
        if target not in have.get("targets", []):
            self.add("reminders schedule", "target", names.rule,
                     [Call("events", "put_targets", {"Rule": names.rule, "Targets": [target]})],
                     f"(-> {names.function})", "missing", [function_id, rule_id])  # fmt: skip

    def space_arn(self, name: str) -> str:
        return self.arn("space", f"{self.domain_ref}/{name}")

    # --- what the team file no longer has ----------------------------------------------

    def departures(self) -> None:
        state, team = self.state, self.team
        leaving = leavers(team, state)
        for user, what in leaving.items():
            self.offboard(user, what)
        for name in state.spaces:
            if state.spaces[name]["owner"] in leaving or not removed_space(team, state, name):
                continue
            apps = [a for a in state.apps if a.get("SpaceName") == name]
            detail = f"({len(apps)} app(s); its home goes with it)"
            if self.options.prune:
                self.add(
                    "space",
                    "delete",
                    name,
                    [
                        Call(
                            "smstudio",
                            "delete_space",
                            {"DomainId": self.domain_ref, "SpaceName": name},
                        )
                    ],
                    detail,
                    "not in the team file",
                )
            else:
                self.keep("space", name, detail, "not in the team file; kept (--prune deletes it)")
        self.dropped_ci_role()
        for name in self.dropped_images():
            parts = ["its versions"]
            calls = []
            if name in state.app_image_configs:
                parts.append("its app image config")
                calls.append(
                    Call("sagemaker", "delete_app_image_config", {"AppImageConfigName": name})
                )
            calls.append(Call("sagemaker", "delete_image", {"ImageName": name}))
            detail = f"({', '.join(parts)}, the domain's entries for it)"
            if self.options.prune:
                self.add(
                    "image",
                    "delete",
                    name,
                    calls,
                    detail,
                    "not in the team file",
                    [f"domain defaults:{team.domain.name or self.domain_ref}:update"],
                )
            else:
                self.keep("image", name, detail, "not in the team file; kept (--prune deletes it)")

    def dropped_ci_role(self) -> None:
        """The image pipeline's role, when the team file no longer has [ci] (the OIDC
        provider stays: other roles may trust it)."""
        name = self.names.ci_role
        have = self.state.roles.get(name)
        ours = have is not None and have["tags"].get(facts.MANAGED_BY_TAG) == self.team.namespace
        if self.team.ci is not None or have is None or not ours:
            return
        calls = [Call("iam", "delete_role_policy", {"RoleName": name, "PolicyName": policy})
                 for policy in sorted(have["inline"])]  # fmt: skip
        calls += [Call("iam", "detach_role_policy", {"RoleName": name, "PolicyArn": arn})
                  for arn in have["attached"]]  # fmt: skip
        calls.append(Call("iam", "delete_role", {"RoleName": name}))
        detail = "(the image pipeline's role; the OIDC provider stays)"
        if self.options.prune:
            self.add("iam role", "delete", name, calls, detail, "[ci] is not in the team file")
        else:
            self.keep("iam role", name, detail, "[ci] is not in the team file; kept (--prune "
                      "deletes it)")  # fmt: skip

    def dropped_images(self) -> list[str]:
        return [
            name
            for name, image in self.state.images.items()
            if name not in self.team.images
            and image["tags"].get(facts.MANAGED_BY_TAG) == self.team.namespace
        ]

    def offboard(self, user: str, what: dict[str, Any]) -> None:
        state, domain_id = self.state, self.domain_ref
        owned = sorted(n for n, s in state.spaces.items() if s["owner"] == user)
        apps = [
            a for a in state.apps if a.get("UserProfileName") == user or a.get("SpaceName") in owned
        ]
        planned: list[tuple[str, str, list[Call], str]] = []
        for space in owned:
            planned.append(
                (
                    "space",
                    space,
                    [Call("smstudio", "delete_space", {"DomainId": domain_id, "SpaceName": space})],
                    f"({user}'s; its apps and storage go with it)",
                )
            )
        if what["profile"]:
            ident = {"DomainId": domain_id, "UserProfileName": user}
            home = "the home on the domain's EFS stays"
            calls = [Call("smstudio", "delete_user_profile", ident)]
            if self.options.delete_home:
                planned.append(
                    (
                        "home",
                        user,
                        [Call("smstudio", "delete_home", {**ident, **self.home_app()})],
                        "(emptied by a short-lived KernelGateway app of theirs)",
                    )
                )
                home = "its home emptied before"
                calls.append(Call("smstudio", "delete_home_config", ident))
            planned.append(("user profile", user, calls, f"(its Classic apps too; {home})"))
        policy_arns = [self.arn("policy", p) for p in what["policies"]]
        for principal in (state.principals[a] for a in sorted(state.principals)):
            theirs = [a for a in policy_arns if a in principal["attached"]]
            if not theirs:
                continue
            kind, name = principal["kind"], principal["name"]
            key = {"UserName": name} if kind == "user" else {"RoleName": name}
            calls = [Call("iam", f"detach_{kind}_policy", {**key, "PolicyArn": a}) for a in theirs]
            if principal["tags"].get(facts.STUDIO_USER_TAG) == user:
                calls.append(
                    Call("iam", f"untag_{kind}", {**key, "TagKeys": [facts.STUDIO_USER_TAG]})
                )
            lost = " and ".join(a.rsplit("/", 1)[-1] for a in theirs)
            planned.append(
                (
                    f"iam {kind}",
                    name,
                    calls,
                    f"(keeps the {kind}; loses {lost} and its {facts.STUDIO_USER_TAG} tag)",
                )
            )
        if what["role"]:
            role = state.roles[what["role"]]
            calls = [
                Call("iam", "detach_role_policy", {"RoleName": what["role"], "PolicyArn": a})
                for a in role["attached"]
            ]
            calls += [
                Call("iam", "delete_role_policy", {"RoleName": what["role"], "PolicyName": p})
                for p in sorted(role["inline"])
            ]
            calls.append(Call("iam", "delete_role", {"RoleName": what["role"]}))
            planned.append(("iam role", what["role"], calls, f"({user}'s identity)"))
        for policy_name in what["policies"]:
            policy = state.policies[policy_name]
            calls = [
                Call("iam", "delete_policy_version", {"PolicyArn": policy["arn"], "VersionId": v})
                for v in policy["versions"]
            ]
            calls.append(Call("iam", "delete_policy", {"PolicyArn": policy["arn"]}))
            planned.append(("iam user policy", policy_name, calls, f"({user}'s)"))
        for what_secret, arns in (("git token", state.secrets),
                                  ("remote-access keys", state.access_keys)):  # fmt: skip
            if user in arns:
                delete = {"SecretId": arns[user], "ForceDeleteWithoutRecovery": True}
                planned.append(
                    (
                        what_secret,
                        user,
                        [Call("secretsmanager", "delete_secret", delete)],
                        "(its secret)",
                    )
                )
        for instance in state.registrations.get(user, []):
            planned.append(
                (
                    "ssm registration",
                    instance,
                    [Call("ssm", "deregister_managed_instance", {"InstanceId": instance})],
                    f"({user}'s app)",
                )
            )
        summary = ", ".join(
            [f"{len(apps)} app(s)"] * bool(apps) + [f"{s} {t}" for s, t, _, _ in planned]
        )
        if not self.options.prune:
            self.keep(
                "user",
                user,
                f"(--prune deletes: {summary or 'nothing left'})",
                "not in the team file; kept",
            )
            return
        before: list[str | None] = []
        for step, target, calls, detail in planned:
            before.append(
                self.add(
                    step,
                    "delete",
                    target,
                    calls,
                    detail,
                    f"{user} is not in the team file",
                    list(before),
                )
            )
        if what["profile"] and not self.options.delete_home:
            self.keep(
                "home",
                user,
                f"({user}'s home on the domain's EFS)",
                "homes are kept; --delete-home empties it before the profile goes",
            )

    def home_app(self) -> dict[str, str]:
        """What empties a leaving user's home: a KernelGateway app of theirs (it mounts
        their EFS home) running one lifecycle script."""
        image = next(
            (n for n, i in self.team.images.items() if "KernelGateway" in i.app_types), None
        )
        if image is None:
            raise BadInput(
                "--delete-home needs a KernelGateway image in the team file: a short-lived "
                "KernelGateway app of the user's empties their home",
                "add one (see bootstrap/team.example.toml), or offboard without --delete-home",
            )
        return {
            "ImageArn": self.arn("image", image),
            "InstanceType": self.team.defaults.instance_type,
        }

    # --- the whole plan --------------------------------------------------------------

    def only_images(self) -> Plan:
        """New versions of the team's images (or those named) and their app image
        configs; nothing else is read or planned."""
        unknown = [n for n in self.options.images if n not in self.team.images]
        if unknown:
            raise BadInput(
                f"image(s) {', '.join(unknown)} are not in the team file",
                f"name one of: {', '.join(self.team.images) or '(none declared)'}",
            )
        wanted = self.options.images or list(self.team.images)
        missing = [
            n for n in wanted
            if n not in self.state.images or n not in self.state.app_image_configs
        ]  # fmt: skip
        if missing:
            raise BadInput(
                f"image(s) {', '.join(missing)} are not in the account yet: `apply --only "
                "images` adds versions to images a full apply made",
                "run a full `smstudio apply` as the admin once, then the pipeline again",
            )
        self.images(None, wanted)
        return self.result

    def ci_identity(self) -> None:
        """The image pipeline's role (with, for GitHub and GitLab, the account's OIDC
        provider for their tokens, made when missing and never deleted: other teams'
        roles may trust it too)."""
        ci = self.team.ci
        if ci is None:
            return
        account, region = self.state.account, self.state.region
        if ci.provider != "codebuild":
            issuer, audience = facts.ci_issuer(ci.provider, ci.gitlab_host)
            provider_arn = iam.oidc_provider_arn(account, issuer)
            if provider_arn not in self.state.oidc_providers:
                self.add(
                    "oidc provider",
                    "create",
                    issuer,
                    [
                        Call(
                            "iam",
                            "create_open_id_connect_provider",
                            {"Url": f"https://{issuer}", "ClientIDList": [audience],
                             "Tags": self.managed},
                        )
                    ],
                    f"(audience {audience})",
                    "missing: the CI role trusts its tokens",
                )  # fmt: skip
        trust = iam.ci_trust_policy(
            account, region, ci.provider, ci.repository, ci.branch, ci.gitlab_host
        )
        policy = iam.ci_policy(
            self.scope,
            self.team.namespace,
            list(self.team.images),
            [
                facts.ecr_repository(i.target, self.team.namespace)
                for i in self.team.images.values()
            ],
            ci.repository if ci.provider == "codebuild" else None,
        )
        self.role(self.names.ci_role, trust, policy)

    def run(self) -> Plan:
        if self.options.only_images:
            return self.only_images()
        names = self.names
        sagemaker_trust = iam.sagemaker_trust_policy()
        execution_id = self.role(names.execution_role, sagemaker_trust)
        image_role_id = self.role(names.image_role, sagemaker_trust)
        self.role(names.ssm_instance_role, iam.ssm_trust_policy(), iam.ssm_instance_policy())
        self.ci_identity()
        images = self.images(image_role_id)
        lccs, lcc_ids = self.lifecycle()
        execution_role = self.arn("role", names.execution_role)
        domain = self.domain(execution_role, [execution_id, *images.values(), *lcc_ids])
        self.execution_policy([domain, execution_id])
        dropped = set(self.dropped_images()) if self.options.prune else set()
        self.domain_defaults(execution_role, lccs, dropped, [domain, *images.values(), *lcc_ids])
        profiles = {u.name: self.user(u, domain) for u in self.team.users}
        self.spaces(domain, profiles)
        self.reminders(domain)
        self.departures()
        return self.result
