"""`smstudio plan` / `smstudio apply`: make a team file real in a SageMaker domain.

Order: IAM roles (execution role, the role images are created with) -> push images ->
images -> image versions (only when the pushed digest changed; wait for CREATED) -> app
image configs -> lifecycle configs -> the domain (found or created) -> domain defaults
(merged, never dropping others' entries) -> per-user IAM policies -> user profiles with a
`studiouserid` tag. Every step reads first and changes only what differs, so a second
apply makes no mutating call. With `dry_run` nothing is changed or pushed: the steps
report what they would do.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio import aws, desired, iam, kernels, lcc, project, push
from smstudio.config import Team
from smstudio.errors import SmstudioError

EXECUTION_ROLE = "smstudio-execution"
IMAGE_ROLE = "smstudio-image"
SETTINGS_KEY = {
    "JupyterLab": "JupyterLabAppSettings",
    "KernelGateway": "KernelGatewayAppSettings",
    "CodeEditor": "CodeEditorAppSettings",
    "JupyterServer": "JupyterServerAppSettings",
}
NO_CUSTOM_IMAGES = {"JupyterServer"}
AIC_KEYS = ("KernelGatewayImageConfig", "JupyterLabAppImageConfig", "CodeEditorAppImageConfig")
MANAGED = [{"Key": "managed-by", "Value": "smstudio"}]
# Apps' sessions carry their user as aws:SourceIdentity (IAM confines git tokens with it).
IDENTITY = {"ExecutionRoleIdentityConfig": "USER_PROFILE_NAME"}
MUTATING = ("Create", "Update", "Put", "Delete", "Add", "Attach", "Tag", "Untag")


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
    changes: list[Change] = field(default_factory=list)
    _arns: dict[str, str] = field(default_factory=dict)

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
        self, name: str, policy: dict[str, Any] | None, trust_policy: dict[str, Any] | None = None
    ) -> str:
        client = self.clients.client("iam")
        trust = json.dumps(trust_policy or iam.sagemaker_trust_policy())
        try:
            arn = str(client.get_role(RoleName=name)["Role"]["Arn"])
        except client.exceptions.NoSuchEntityException:
            arn = f"arn:aws:iam::{self.account}:role/{name}"
            if self._change("iam role", name, "create"):
                made = client.create_role(
                    RoleName=name, AssumeRolePolicyDocument=trust, Tags=MANAGED
                )
                arn = made["Role"]["Arn"]
            else:
                return arn
        if policy is not None:
            try:
                current = client.get_role_policy(RoleName=name, PolicyName=name)["PolicyDocument"]
                if isinstance(current, str):
                    current = json.loads(current)
            except client.exceptions.NoSuchEntityException:
                current = None
            if current != policy and self._change("iam role policy", name, "put"):
                client.put_role_policy(
                    RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy)
                )
        return arn

    @property
    def account(self) -> str:
        if "account" not in self._arns:
            self._arns["account"] = self.clients.client("sts").get_caller_identity()["Account"]
        return self._arns["account"]

    def _user_policy(self, user: str, document: dict[str, Any]) -> None:
        client = self.clients.client("iam")
        name = f"smstudio-user-{user}"
        arn = f"arn:aws:iam::{self.account}:policy/{name}"
        try:
            policy = client.get_policy(PolicyArn=arn)["Policy"]
        except client.exceptions.NoSuchEntityException:
            if self._change("iam user policy", name, "create"):
                client.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))
            return
        version = client.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        current = version["PolicyVersion"]["Document"]
        if isinstance(current, str):
            current = json.loads(current)
        if current != document and self._change("iam user policy", name, "new version"):
            versions = client.list_policy_versions(PolicyArn=arn)["Versions"]
            # IAM keeps at most 5 versions: drop the oldest non-default ones first.
            for old in [v for v in versions if not v["IsDefaultVersion"]][:-3]:
                client.delete_policy_version(PolicyArn=arn, VersionId=old["VersionId"])
            client.create_policy_version(
                PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True
            )

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
        if (
            latest
            and latest.get("ImageVersionStatus") == "CREATED"
            and latest.get("ContainerImage", "").endswith(pushed.digest)
        ):
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
        mine = {k: current[k] for k in AIC_KEYS if k in current}
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
        for app_type, key in SETTINGS_KEY.items():
            ours = [
                {"ImageName": name, "AppImageConfigName": name}
                for name, image in self.team.images.items()
                if app_type in image.app_types
            ]
            if app_type in NO_CUSTOM_IMAGES:
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
            self._user_policy(user.name, iam.user_policy(scope, self.team.allowed_for(user)))
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
        scope = iam.Scope(self.account, region, self.team.domain.id or "*")
        bucket = f"sagemaker-{region}-{self.account}"
        execution_role = self._role(EXECUTION_ROLE, iam.execution_role_policy(scope, bucket))
        image_role = self._role(IMAGE_ROLE, None)
        self._role(iam.SSM_INSTANCE_ROLE, iam.ssm_instance_policy(), iam.ssm_trust_policy())
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
        self._domain_defaults(domain_id, lccs, execution_role)
        self._users(domain_id)
        return self.changes


def count_mutations(clients: aws.Aws) -> list[str]:
    """Register a hook on every client `clients` makes that records mutating calls."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        if model.name.startswith(MUTATING):
            seen.append(f"{model.service_model.service_name}:{model.name}")

    clients.event_hooks.append(("before-call.*.*", record))
    return seen
