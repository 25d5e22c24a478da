"""`smstudio plan` / `smstudio apply`: make a team file real in a SageMaker domain.

Order: IAM roles (execution role, the role images are created with, the SSM instance
role; names carry the team's namespace) -> push images -> images -> image versions (only
when the pushed digest changed; wait for CREATED) -> app image configs -> lifecycle
configs -> the domain (found or created) -> the execution role's policy (scoped to the
domain, now that its id is known) -> domain defaults (merged, never dropping others'
entries) -> per-user identities (a role tagged studiouserid, or the team file's IAM
principal) with their policies -> user profiles with a `studiouserid` tag -> declared
spaces. Every step reads first and changes only what differs, so a second apply makes no
mutating call. With `dry_run` nothing is changed or pushed: the steps report what they
would do.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from rich.console import Console

from smstudio.core import aws, facts, project
from smstudio.core.config import Team, User
from smstudio.core.errors import SmstudioError
from smstudio.images import kernels, push
from smstudio.register import desired, iam, lcc

MANAGED = [{"Key": "managed-by", "Value": "smstudio"}]
# Apps' sessions carry their user as aws:SourceIdentity (IAM confines git tokens with it).
IDENTITY = {"ExecutionRoleIdentityConfig": "USER_PROFILE_NAME"}
# Calls that change nothing; every other call counts as a change (an allow-list of reads,
# so a new kind of write is never missed).
READS = ("Describe", "Get", "List", "Head", "BatchGet", "Search", "Query", "Scan", "Select",
         "Lookup", "Filter", "Simulate", "Validate", "AssumeRole")  # fmt: skip


@dataclass
class Change:
    step: str
    target: str
    action: str
    detail: str = ""


@dataclass
class Registrar:
    team: Team
    base_dir: Path
    clients: aws.Aws
    console: Console
    tag: str = "dev"
    dry_run: bool = False
    version_timeout: float = 900
    replace_spaces: bool = False
    changes: list[Change] = field(default_factory=list)
    _arns: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> iam.Names:
        return iam.Names(self.team.namespace)

    def _change(self, step: str, target: str, action: str, detail: str = "") -> bool:
        """Record a change; True when it should be carried out now."""
        self.changes.append(Change(step, target, action, detail))
        verb = "would " + action if self.dry_run else action
        self.console.print(f"  {step:<18} {verb:<22} {target} {detail}".rstrip())
        return not self.dry_run

    def _note(self, step: str, target: str, text: str) -> None:
        """Something only `apply` can decide (e.g. whether a push changes the digest)."""
        self.console.print(f"  {step:<18} {text:<22} {target}")

    # --- IAM -------------------------------------------------------------------------

    def _role(
        self,
        name: str,
        policy: dict[str, Any] | None,
        trust_policy: dict[str, Any],
        tags: list[dict[str, str]] | None = None,
        max_session: int | None = None,
    ) -> str:
        """The role, created or brought to its trust (and, when given, its one inline
        policy); its ARN."""
        client = self.clients.client("iam")
        wanted_tags = MANAGED + (tags or [])
        try:
            role = client.get_role(RoleName=name)["Role"]
        except client.exceptions.NoSuchEntityException:
            arn = f"arn:aws:iam::{self.account}:role/{name}"
            if self._change("iam role", name, "create"):
                extra = {"MaxSessionDuration": max_session} if max_session else {}
                made = client.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(trust_policy),
                    Tags=wanted_tags,
                    **extra,
                )
                arn = made["Role"]["Arn"]
                if policy is not None:  # part of the role's creation
                    text = json.dumps(policy)
                    client.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=text)
            return arn
        arn = str(role["Arn"])
        current_trust = _document(role.get("AssumeRolePolicyDocument"))
        if current_trust != trust_policy and self._change("iam role trust", name, "update"):
            client.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy))
        if (
            max_session
            and role.get("MaxSessionDuration") != max_session
            and self._change(
                "iam role", name, "update", f"(sessions up to {max_session // 3600} h)"
            )
        ):
            client.update_role(RoleName=name, MaxSessionDuration=max_session)
        have = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        stale = [t for t in wanted_tags if have.get(t["Key"]) != t["Value"]]
        if stale and self._change("iam role", name, "tag", ", ".join(t["Key"] for t in stale)):
            client.tag_role(RoleName=name, Tags=stale)
        if policy is not None:
            self._role_policy(name, policy)
        return arn

    def _role_policy(self, name: str, policy: dict[str, Any]) -> None:
        client = self.clients.client("iam")
        try:
            current = client.get_role_policy(RoleName=name, PolicyName=name)["PolicyDocument"]
        except client.exceptions.NoSuchEntityException:
            current = None
        if _document(current) != policy and self._change("iam role policy", name, "put"):
            client.put_role_policy(
                RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy)
            )

    @property
    def account(self) -> str:
        if "account" not in self._arns:
            self._arns["account"] = self.clients.client("sts").get_caller_identity()["Account"]
        return self._arns["account"]

    def _managed_policy(self, name: str, document: dict[str, Any]) -> str:
        """A customer-managed policy, created or given a new default version; its ARN."""
        client = self.clients.client("iam")
        arn = f"arn:aws:iam::{self.account}:policy/{name}"
        try:
            policy = client.get_policy(PolicyArn=arn)["Policy"]
        except client.exceptions.NoSuchEntityException:
            if self._change("iam user policy", name, "create"):
                client.create_policy(
                    PolicyName=name, PolicyDocument=json.dumps(document), Tags=MANAGED
                )
            return arn
        version = client.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        current = _document(version["PolicyVersion"]["Document"])
        if current != document and self._change("iam user policy", name, "new version"):
            versions = client.list_policy_versions(PolicyArn=arn)["Versions"]
            # IAM keeps at most 5 versions: drop the oldest non-default ones first.
            for old in [v for v in versions if not v["IsDefaultVersion"]][:-3]:
                client.delete_policy_version(PolicyArn=arn, VersionId=old["VersionId"])
            client.create_policy_version(
                PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True
            )
        return arn

    def _identity(self, user: User, policy_arn: str) -> None:
        """The IAM identity the user acts with: their role (trusted as the team file
        says, tagged studiouserid) or the team file's existing user or role, given the
        tag; with the user's policy attached."""
        client = self.clients.client("iam")
        tag = [{"Key": facts.STUDIO_USER_TAG, "Value": user.name}]
        if user.iam_principal:
            kind, _, name = user.iam_principal.split(":", 5)[5].partition("/")
            name = name.rsplit("/", 1)[-1]
            if kind == "user":
                listed = client.list_user_tags(UserName=name)["Tags"]
                attached = client.list_attached_user_policies(UserName=name)["AttachedPolicies"]
                tag_it, attach = client.tag_user, client.attach_user_policy
                key = {"UserName": name}
            else:
                listed = client.get_role(RoleName=name)["Role"].get("Tags", [])
                attached = client.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
                tag_it, attach = client.tag_role, client.attach_role_policy
                key = {"RoleName": name}
            if {t["Key"]: t["Value"] for t in listed}.get(
                facts.STUDIO_USER_TAG
            ) != user.name and self._change(
                f"iam {kind}", name, "tag", f"({facts.STUDIO_USER_TAG}={user.name})"
            ):
                tag_it(**key, Tags=tag)
        else:
            name = self.names.user_role(user.name)
            saml = self.team.identity.saml_provider
            hours = self.team.identity.session_hours
            self._role(name, None, iam.user_trust_policy(self.account, saml), tag, hours * 3600)
            attached = []
            with contextlib.suppress(client.exceptions.NoSuchEntityException):
                attached = client.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            attach, key = client.attach_role_policy, {"RoleName": name}
        if policy_arn not in {a["PolicyArn"] for a in attached} and self._change(
            "iam user policy", policy_arn.rsplit("/", 1)[-1], "attach", f"(to {name})"
        ):
            attach(**key, PolicyArn=policy_arn)

    # --- images ----------------------------------------------------------------------

    def _image(self, name: str, target: str, role_arn: str) -> None:
        """Push, register the image, add a version when the digest changed and wait for
        it to be CREATED (a failure stops the run)."""
        sm = self.clients.client("sagemaker")
        try:
            sm.describe_image(ImageName=name)
        except sm.exceptions.ResourceNotFound:
            if self._change("image", name, "create", f"(role {role_arn.rsplit('/', 1)[-1]})"):
                sm.create_image(ImageName=name, RoleArn=role_arn, Tags=MANAGED)
        if self.dry_run:
            self._change(
                "image version",
                name,
                "push + new version if changed",
                f"smstudio/{target}:{self.tag}",
            )
            return
        pushed = push.push(
            f"smstudio/{target}:{self.tag}", target, self.tag, self.clients, self.console
        )
        latest = None
        with contextlib.suppress(sm.exceptions.ResourceNotFound):
            latest = sm.describe_image_version(ImageName=name)
        if latest and latest.get("ImageVersionStatus") == "CREATING":
            # an earlier run made it and stopped before it was CREATED: see it through
            self._wait_version(sm, name, int(latest["Version"]))
            latest = sm.describe_image_version(ImageName=name)
        if latest and latest.get("ImageVersionStatus") == "CREATED":
            current = latest.get("ContainerImage", "")
            same = current.endswith(pushed.digest) or (
                bool(pushed.config) and push.config_digest(current, self.clients) == pushed.config
            )
            if same:  # the same image (its config digest), whatever the manifest's
                return
        self._change("image version", name, "create", f"{pushed.uri} ({pushed.digest[:19]})")
        arn = sm.create_image_version(
            ImageName=name, BaseImage=pushed.uri, ClientToken=str(uuid.uuid4())
        )["ImageVersionArn"]
        self._wait_version(sm, name, int(arn.rsplit("/", 1)[-1]))

    def _wait_version(self, sm: Any, name: str, version: int) -> None:
        deadline = time.monotonic() + self.version_timeout
        with self.console.status(f"waiting for {name} version {version}", spinner="dots"):
            while True:
                found = sm.describe_image_version(ImageName=name, Version=version)
                status = found["ImageVersionStatus"]
                if status == "CREATED":
                    return
                if status.endswith("FAILED"):
                    reason = found.get("FailureReason", "?")
                    raise SmstudioError(
                        f"image {name} version {version} is {status}: {reason}",
                        "check the image was pushed to the BaseImage URI and the image role can "
                        "pull it; the domain was not changed",
                    )
                if time.monotonic() > deadline:
                    raise SmstudioError(
                        f"image {name} version {version} still {status}", "apply again later"
                    )
                time.sleep(2)

    def _app_image_config(self, name: str, config: dict[str, Any]) -> None:
        sm = self.clients.client("sagemaker")
        try:
            current = sm.describe_app_image_config(AppImageConfigName=name)
        except sm.exceptions.ResourceNotFound:
            if self._change("app image config", name, "create"):
                sm.create_app_image_config(AppImageConfigName=name, **config)
            return
        mine = {k: current[k] for k in facts.APP_IMAGE_CONFIG_KEYS if k in current}
        if mine != config and self._change("app image config", name, "update"):
            sm.update_app_image_config(AppImageConfigName=name, **config)

    def _lifecycle(self, app_type: str, script: Path) -> str:
        rendered = lcc.package(script, lcc.settings(self.team, app_type))
        content = desired.lcc_content(rendered, str(script))
        name = desired.lcc_name(app_type, content)
        sm = self.clients.client("sagemaker")
        try:
            return str(
                sm.describe_studio_lifecycle_config(StudioLifecycleConfigName=name)[
                    "StudioLifecycleConfigArn"
                ]
            )
        except sm.exceptions.ResourceNotFound:
            region = self.clients.session.region_name
            arn = f"arn:aws:sagemaker:{region}:{self.account}:studio-lifecycle-config/{name}"
            if self._change("lifecycle config", name, "create", f"({app_type}, {script.name})"):
                arn = sm.create_studio_lifecycle_config(
                    StudioLifecycleConfigName=name,
                    StudioLifecycleConfigContent=content,
                    StudioLifecycleConfigAppType=app_type,
                    Tags=MANAGED,
                )["StudioLifecycleConfigArn"]
            return arn

    # --- domain and users ----------------------------------------------------------

    def _domain(self, execution_role: str) -> str | None:
        sm = self.clients.client("sagemaker")
        spec = self.team.domain
        if spec.id:
            sm.describe_domain(DomainId=spec.id)
            return spec.id
        for page in sm.get_paginator("list_domains").paginate():
            for found in page["Domains"]:
                if found["DomainName"] == spec.name:
                    return str(found["DomainId"])
        if not self._change("domain", str(spec.name), "create"):
            return None
        extra: dict[str, Any] = {}
        if spec.vpc_id:
            extra = {"VpcId": spec.vpc_id, "SubnetIds": spec.subnet_ids}
        made = sm.create_domain(
            DomainName=spec.name,
            AuthMode="IAM",
            DefaultUserSettings={"ExecutionRole": execution_role},
            DomainSettings=IDENTITY,
            Tags=MANAGED,
            **extra,
        )
        return str(made["DomainId"])

    def _domain_defaults(
        self,
        domain_id: str | None,
        lccs: dict[str, str],
        execution_role: str,
    ) -> None:
        sm = self.clients.client("sagemaker")
        described = sm.describe_domain(DomainId=domain_id) if domain_id else {}
        current = described.get("DefaultUserSettings", {})
        identity = described.get("DomainSettings", {}).get("ExecutionRoleIdentityConfig")
        wrong = bool(domain_id) and identity != IDENTITY["ExecutionRoleIdentityConfig"]
        if wrong and self._change("domain settings", str(domain_id), "update", "identity"):
            sm.update_domain(DomainId=domain_id, DomainSettingsForUpdate=IDENTITY)
        update: dict[str, Any] = {}
        if current.get("ExecutionRole") != execution_role:
            update["ExecutionRole"] = execution_role
        for app_type, key in facts.SETTINGS_KEY.items():
            ours = [
                {"ImageName": name, "AppImageConfigName": name}
                for name, image in self.team.images.items()
                if app_type in image.app_types
            ]
            if app_type in facts.NO_CUSTOM_IMAGES:
                ours = []
            arns = [lccs[app_type]] if app_type in lccs else []
            extra = desired.jupyterlab_settings(self.team) if app_type == "JupyterLab" else {}
            if not ours and not arns and not extra:
                continue
            settings = desired.app_settings_update(
                current.get(key, {}), ours, arns, arns[0] if arns else None, extra
            )
            if settings is not None:
                update[key] = settings
        if update and self._change(
            "domain defaults",
            str(domain_id or self.team.domain.name),
            "update",
            ", ".join(sorted(update)),
        ):
            sm.update_domain(DomainId=domain_id, DefaultUserSettings=update)

    def _users(self, domain_id: str | None) -> None:
        sm = self.clients.client("sagemaker")
        region = self.clients.session.region_name
        for user in self.team.users:
            scope = iam.Scope(self.account, region, domain_id or "*")
            document = iam.user_policy(scope, self.team.allowed_for(user))
            policy_arn = self._managed_policy(self.names.user_policy(user.name), document)
            self._identity(user, policy_arn)
            tags = desired.profile_tags(user)
            if domain_id is not None:
                try:
                    arn = sm.describe_user_profile(DomainId=domain_id, UserProfileName=user.name)[
                        "UserProfileArn"
                    ]
                except sm.exceptions.ResourceNotFound:
                    pass
                else:
                    self._profile_tags(user.name, arn, tags)
                    continue
            if self._change("user profile", user.name, "create", f"(studiouserid={user.name})"):
                sm.create_user_profile(DomainId=domain_id, UserProfileName=user.name, Tags=tags)

    def _spaces(self, domain_id: str | None) -> None:
        """Declared spaces: created with their owner and sharing type, which SageMaker
        cannot change afterwards: a change is a replacement (the space's home is lost),
        made only with `replace_spaces`."""
        sm = self.clients.client("sagemaker")
        for space in self.team.spaces:
            wanted = desired.space_request(space, self.team, domain_id or "")
            current = None
            if domain_id is not None:
                with contextlib.suppress(sm.exceptions.ResourceNotFound):
                    current = sm.describe_space(DomainId=domain_id, SpaceName=space.name)
            detail = f"(owner {space.owner}, {space.sharing})"
            if current is None:
                if self._change("space", space.name, "create", detail):
                    sm.create_space(**wanted)
                continue
            owner = (current.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
            sharing = (current.get("SpaceSharingSettings") or {}).get("SharingType")
            if (owner, sharing) == (space.owner, space.sharing):
                continue
            was = f"(was owner {owner}, {sharing}; its home is deleted)"
            self._change("space", space.name, "replace", f"{detail} {was}")
            if self.dry_run:
                continue
            if not self.replace_spaces:
                raise SmstudioError(
                    f"space {space.name}: owner or sharing type changed {was}; SageMaker can "
                    "only delete and create it again",
                    "check the plan, then apply with --replace-spaces",
                )
            self._replace_space(sm, domain_id or "", space.name, wanted)

    def _replace_space(self, sm: Any, domain_id: str, name: str, wanted: dict[str, Any]) -> None:
        for page in sm.get_paginator("list_apps").paginate(
            DomainIdEquals=domain_id, SpaceNameEquals=name
        ):
            for app in page["Apps"]:
                if app["Status"] in ("Pending", "InService"):
                    ident = {k: app[k] for k in ("DomainId", "SpaceName", "AppType", "AppName")}
                    sm.delete_app(**ident)
                    self._wait_gone(lambda ident=ident: sm.describe_app(**ident)["Status"])
        sm.delete_space(DomainId=domain_id, SpaceName=name)
        self._wait_gone(lambda: sm.describe_space(DomainId=domain_id, SpaceName=name)["Status"], sm)
        sm.create_space(**wanted)

    def _wait_gone(self, status: Any, sm: Any = None, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if status() in ("Deleted", "Failed"):
                    return
            except Exception as exc:  # the resource is gone
                if "NotFound" in type(exc).__name__ or "ResourceNotFound" in str(exc):
                    return
                raise
            time.sleep(1)
        raise SmstudioError("a space or app was not deleted in time", "apply again later")

    def _profile_tags(self, user: str, arn: str, tags: list[dict[str, str]]) -> None:
        """Tags apply owns (studiouserid, git identity) are set; others are left alone."""
        sm = self.clients.client("sagemaker")
        current = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        stale = [t for t in tags if current.get(t["Key"]) != t["Value"]]
        keys = ", ".join(t["Key"] for t in stale)
        if stale and self._change("user profile", user, "tag", keys):
            sm.add_tags(ResourceArn=arn, Tags=stale)

    # --- the whole run ---------------------------------------------------------------

    def run(self) -> list[Change]:
        region = self.clients.session.region_name
        bucket = f"sagemaker-{region}-{self.account}"
        names = self.names
        execution_role = self._role(names.execution_role, None, iam.sagemaker_trust_policy())
        image_role = self._role(names.image_role, None, iam.sagemaker_trust_policy())
        self._role(names.ssm_instance_role, iam.ssm_instance_policy(), iam.ssm_trust_policy())
        declared = kernels.declared_kernelspecs(project.project_root())
        for name, image in self.team.images.items():
            self._image(name, image.target, image_role)
            config: dict[str, Any] = {}
            if "KernelGateway" in image.app_types:
                config["KernelGatewayImageConfig"] = desired.kernel_gateway_config(image, declared)
            if "JupyterLab" in image.app_types:
                config["JupyterLabAppImageConfig"] = desired.jupyterlab_config(image)
            self._app_image_config(name, config)
        lccs: dict[str, str] = {
            t: self._lifecycle(t, self.base_dir / p) for t, p in self.team.lifecycle.items()
        }
        domain_id = self._domain(execution_role)
        if domain_id is None:
            self._note("iam role policy", names.execution_role, "scoped to the new domain")
        else:
            scope = iam.Scope(self.account, region, domain_id)
            policy = iam.execution_role_policy(scope, bucket, names.ssm_instance_role)
            self._role_policy(names.execution_role, policy)
        self._domain_defaults(domain_id, lccs, execution_role)
        self._users(domain_id)
        self._spaces(domain_id)
        return self.changes


def _document(value: Any) -> Any:
    """A policy document as IAM returns it (a dict, or JSON text, URL-encoded or not)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return json.loads(unquote(value))
    return value


def count_mutations(clients: aws.Aws) -> list[str]:
    """Register a hook on every client `clients` makes that records each call that is not
    a read."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        if not model.name.startswith(READS):
            seen.append(f"{model.service_model.service_name}:{model.name}")

    clients.event_hooks.append(("before-call.*.*", record))
    return seen
