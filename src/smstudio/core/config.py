"""The team spec: one TOML file, loaded into pydantic models. Every mistake is reported
with the file, the field and the fix."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from smstudio.core.errors import BadInput
from smstudio.core.facts import AppType

# Shapes SageMaker enforces on names (botocore's model: UserProfileName, ImageName, ...).
PROFILE_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# What smstudio takes: lower case (ssh host names are case-insensitive, so `Alice` would not
# find its app) and short enough that `<user>-space` is still a SageMaker name (63).
USER_NAME = r"^[a-z0-9](-*[a-z0-9]){0,56}$"
SPACE_NAME = r"^[a-z0-9](-*[a-z0-9]){0,62}$"
SPACE_SUFFIX = "-space"
IMAGE_NAME = r"^[a-zA-Z0-9]([-.]?[a-zA-Z0-9]){0,62}$"
DOMAIN_ID = r"^d-[a-z0-9]{12}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
INSTANCE_TYPE = r"^(system|ml\.[a-z0-9]+\.[a-z0-9]+)$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"
IAM_PRINCIPAL = r"^arn:aws:iam::\d{12}:(user|role)/[A-Za-z0-9_+=,.@/-]+$"
SAML_PROVIDER = r"^arn:aws:iam::\d{12}:saml-provider/[\w.-]{1,128}$"

InstanceType = Annotated[str, Field(pattern=INSTANCE_TYPE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Domain(_Model):
    id: Annotated[str | None, Field(pattern=DOMAIN_ID)] = None
    name: Annotated[str | None, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")] = None
    region: Annotated[str, Field(pattern=REGION)] = "us-east-1"
    vpc_id: str | None = None
    subnet_ids: list[str] = []

    @model_validator(mode="after")
    def one_of_id_or_name(self) -> Domain:
        if (self.id is None) == (self.name is None):
            raise ValueError(
                "give exactly one of `id` (an existing domain) or `name` (a domain to create)"
            )
        return self


class Defaults(_Model):
    instance_type: InstanceType = "ml.t3.medium"
    allowed_instance_types: list[InstanceType] = ["ml.t3.medium"]
    idle_timeout_minutes: Annotated[int, Field(ge=60, le=525600)] | None = None
    # the range a space's own idle timeout may take (Studio's Min/MaxIdleTimeoutInMinutes)
    min_idle_timeout_minutes: Annotated[int, Field(ge=60, le=525600)] | None = None
    max_idle_timeout_minutes: Annotated[int, Field(ge=60, le=525600)] | None = None
    kernel_gateway_idle_minutes: Annotated[float, Field(gt=0, le=525600)] | None = None

    @model_validator(mode="after")
    def default_is_allowed(self) -> Defaults:
        if self.instance_type not in self.allowed_instance_types:
            raise ValueError(
                f"instance_type {self.instance_type!r} is not in allowed_instance_types"
            )
        low, high = self.min_idle_timeout_minutes, self.max_idle_timeout_minutes
        if (low is not None or high is not None) and self.idle_timeout_minutes is None:
            raise ValueError("min/max_idle_timeout_minutes need idle_timeout_minutes")
        if self.idle_timeout_minutes is not None and not (
            (low or 60) <= self.idle_timeout_minutes <= (high or 525600)
        ):
            raise ValueError(
                "idle_timeout_minutes must lie within min_idle_timeout_minutes and "
                "max_idle_timeout_minutes"
            )
        return self

    def idle_allows(self, minutes: int) -> bool:
        return (
            (self.min_idle_timeout_minutes or 60)
            <= minutes
            <= (self.max_idle_timeout_minutes or 525600)
        )


class Startup(_Model):
    budget_seconds: Annotated[int, Field(ge=10, le=240)] = 120
    apt_budget_seconds: Annotated[int, Field(ge=1, le=240)] = 90
    hook_budget_seconds: Annotated[int, Field(ge=1, le=240)] = 30
    # long-lived apps report their home's usage this often, besides at every start
    home_usage_every_hours: Annotated[float, Field(gt=0, le=168)] = 24


S3_URI = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$"


class Starter(_Model):
    """Starter content copied once into each new home (a marker file records it; nothing
    already there is overwritten): a git repository's files or an S3 prefix's objects."""

    git: Annotated[str, Field(pattern=r"^https://[^\s]+$")] | None = None
    s3: (
        Annotated[str, Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$")] | None
    ) = None
    # seconds the copy may take at start; a larger one goes on in the background
    budget_seconds: Annotated[int, Field(ge=1, le=240)] = 30

    @model_validator(mode="after")
    def one_source(self) -> Starter:
        if self.git and self.s3:
            raise ValueError("starter: give git or s3, not both")
        return self

    @property
    def source(self) -> str | None:
        return self.git or self.s3


DURATION = r"^(\d+d(\d+h)?(\d+m)?|\d+h(\d+m)?|\d+m)$"
SCHEDULE = r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$"
TYPE_GLOB = r"^(default|system|ml\.[a-z0-9*?]+(\.[a-z0-9*?]+)?)$"


class Reminders(_Model):
    """Reminders ("police"): an EventBridge schedule runs a Lambda function that emails
    each user whose apps have run longer than their instance type's threshold, and sends
    the admins a summary. Deployed by apply when `sender` is given."""

    sender: Annotated[str, Field(pattern=EMAIL)]
    admins: list[Annotated[str, Field(pattern=EMAIL)]] = []
    # an EventBridge schedule expression: rate(1 day), cron(0 8 ? * MON-FRI *)
    schedule: Annotated[str, Field(pattern=SCHEDULE)] = "rate(1 day)"
    # per instance type or family glob ("ml.t3.*"), and `default`: 30m, 12h, 5d, 1d12h
    thresholds: dict[
        Annotated[str, Field(pattern=TYPE_GLOB)], Annotated[str, Field(pattern=DURATION)]
    ] = {"default": "1d"}
    # hourly prices (USD) that override or extend the package's table
    prices: dict[InstanceType, Annotated[float, Field(ge=0)]] = {}
    # the scheduled run lists what it would send in its log and sends nothing
    dry_run: StrictBool = False

    @model_validator(mode="after")
    def has_default(self) -> Reminders:
        if "default" not in self.thresholds:
            raise ValueError(
                'reminders.thresholds needs a `default` (e.g. default = "1d") for instance '
                "types no other entry matches"
            )
        return self


class Git(_Model):
    host: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+(:\d+)?$")] | None = None
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]+$")] = "x-access-token"
    repositories: list[Annotated[str, Field(pattern=r"^https://[^\s]+$")]] = []


class Kernel(_Model):
    """A kernelspec a KernelGateway image ships, as its AppImageConfig lists it."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,255}$")]
    display_name: Annotated[str, Field(min_length=1, max_length=1024)]


class Image(_Model):
    target: str
    app_types: Annotated[list[AppType], Field(min_length=1)]
    # KernelGateway: the image's kernelspecs (1 to 5); default: smstudio's own declaration
    # (images/kernelgateway/kernelspecs.json), for images built on our kernelgateway image
    kernels: Annotated[list[Kernel], Field(min_length=1, max_length=5)] | None = None
    uid: Literal[0, 1000] = 1000
    gid: Literal[0, 100] = 100
    mount_path: Annotated[str, Field(pattern=r"^/home/sagemaker-user(/.*)?$")] = (
        "/home/sagemaker-user"
    )

    @model_validator(mode="after")
    def kernels_for_kernel_gateway(self) -> Image:
        if self.kernels is not None and "KernelGateway" not in self.app_types:
            raise ValueError("kernels are for KernelGateway images: add it to app_types, or "
                             "leave kernels out")  # fmt: skip
        return self


class Identity(_Model):
    """Who may assume the users' roles: anyone in the account whose own policy allows it
    (`account`), or the users an IAM Identity Center/SAML provider signs in (`saml`)."""

    trust: Literal["account", "saml"] = "account"
    saml_provider: Annotated[str, Field(pattern=SAML_PROVIDER)] | None = None
    session_hours: Annotated[int, Field(ge=1, le=12)] = 12

    @model_validator(mode="after")
    def provider_for_saml(self) -> Identity:
        if (self.trust == "saml") != (self.saml_provider is not None):
            raise ValueError('give saml_provider exactly when trust = "saml"')
        return self


class User(_Model):
    name: Annotated[str, Field(pattern=USER_NAME)]
    email: Annotated[str, Field(pattern=EMAIL)]
    git_name: Annotated[str, Field(pattern=r"^[\w .'@-]{1,100}$")] | None = None
    allowed_instance_types: list[InstanceType] | None = None
    default_instance_type: InstanceType | None = None
    # An existing IAM user or role to give the user's policy (and studiouserid tag) to,
    # instead of the role smstudio makes.
    iam_principal: Annotated[str, Field(pattern=IAM_PRINCIPAL)] | None = None


class Space(_Model):
    """A space the team file declares (apply creates it): Private to its owner, or
    Shared with every member of the domain."""

    name: Annotated[str, Field(pattern=SPACE_NAME)]
    owner: Annotated[str, Field(pattern=USER_NAME)]
    sharing: Literal["Private", "Shared"] = "Shared"
    app_type: Literal["JupyterLab", "CodeEditor"] = "JupyterLab"
    instance_type: InstanceType | None = None
    # its own idle timeout, within the team's min/max (SpaceSettings ... IdleSettings)
    idle_timeout_minutes: Annotated[int, Field(ge=60, le=525600)] | None = None
    # a local IDE may connect by SageMaker's remote access (SpaceSettings.RemoteAccess,
    # StartSession); only a Private space, as it acts for its owner alone
    remote_access: bool = False


ACCOUNT_ID = r"^\d{12}$"
MANAGED_INSTANCE = r"^(mi-[0-9a-f]{17}|i-[0-9a-f]{8,17})$"


class Docker(_Model):
    """Docker from Studio. New Studio spaces get the domain's native Docker access
    (DomainSettings.DockerSettings: only apps created after it is enabled get it); Studio
    Classic apps use a remote engine on `remote_host`, one per user. A field left out
    leaves the domain's own value as it is."""

    access: StrictBool | None = None
    rootless: StrictBool | None = None
    # accounts whose ECR images a VpcOnly domain's apps may pull and push (with the
    # domain's own account, which is always trusted)
    trusted_accounts: Annotated[list[Annotated[str, Field(pattern=ACCOUNT_ID)]], Field(
        max_length=20)] | None = None  # fmt: skip
    remote_host: Annotated[str, Field(pattern=MANAGED_INSTANCE)] | None = None


class Ci(_Model):
    """The image repository's pipeline (`smstudio ci init`) and the identity apply makes
    for it: a role that GitHub's or GitLab's OIDC tokens for pushes to `branch` of
    `repository` may assume (CodeBuild: the project's service role). It may push only to
    the team's image repositories and add versions only to the team's images."""

    provider: Literal["github", "gitlab", "codebuild"]
    # github: owner/repo; gitlab: the project's path (group/subgroup/project);
    # codebuild: the CodeBuild project's name
    repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")]
    branch: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,100}$")] = "main"
    gitlab_host: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")] = "gitlab.com"

    @model_validator(mode="after")
    def repository_shape(self) -> Ci:
        parts = self.repository.split("/")
        if self.provider == "github" and len(parts) != 2:
            raise ValueError("ci.repository: a GitHub repository is owner/name")
        if self.provider == "gitlab" and len(parts) < 2:
            raise ValueError("ci.repository: a GitLab project is group/project")
        if self.provider == "codebuild" and len(parts) != 1:
            raise ValueError("ci.repository: a CodeBuild project is named without '/'")
        return self


class Team(_Model):
    domain: Domain
    defaults: Defaults = Defaults()
    images: dict[Annotated[str, Field(pattern=IMAGE_NAME)], Image] = {}
    lifecycle: dict[AppType, str] = {}
    startup: Startup = Startup()
    git: Git = Git()
    starter: Starter = Starter()
    reminders: Reminders | None = None
    identity: Identity = Identity()
    docker: Docker = Docker()
    ci: Ci | None = None
    users: list[User] = []
    spaces: list[Space] = []

    @model_validator(mode="after")
    def cross_references(self) -> Team:
        names = [u.name for u in self.users]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"user names must be unique: {', '.join(duplicates)} repeated")
        workspaces = {f"{n}{SPACE_SUFFIX}": n for n in names}
        clashing = sorted(n for n in names if n in workspaces)
        if clashing:
            raise ValueError(
                f"user {clashing[0]}: the name of {workspaces[clashing[0]]}'s own workspace "
                "space; choose another user name"
            )
        spaces = [s.name for s in self.spaces]
        for space in self.spaces:
            if spaces.count(space.name) > 1:
                raise ValueError(f"space names must be unique: {space.name} repeated")
            if space.owner not in names:
                raise ValueError(f"space {space.name}: owner {space.owner} is not a user")
            if space.name in workspaces or space.name in names:
                raise ValueError(
                    f"space {space.name}: the name of a user or of a user's own workspace"
                )
            if space.remote_access and space.sharing != "Private":
                raise ValueError(
                    f"space {space.name}: remote_access needs a Private space (a shared "
                    "space acts for no single user, so no one's keys can open it)"
                )
            idle = space.idle_timeout_minutes
            if idle is not None and (
                self.defaults.idle_timeout_minutes is None or not self.defaults.idle_allows(idle)
            ):
                raise ValueError(
                    f"space {space.name}: idle_timeout_minutes {idle} needs the team's idle "
                    "shutdown (defaults.idle_timeout_minutes) and must lie within its "
                    "min/max_idle_timeout_minutes"
                )
            kind = space.instance_type or self.defaults.instance_type
            if kind not in self.defaults.allowed_instance_types:
                raise ValueError(
                    f"space {space.name}: {kind} not in defaults.allowed_instance_types"
                )
        for user in self.users:
            allowed = self.allowed_for(user)
            stray = [t for t in allowed if t not in self.defaults.allowed_instance_types]
            if stray:
                raise ValueError(
                    f"user {user.name}: {', '.join(stray)} not in defaults.allowed_instance_types"
                )
            default = user.default_instance_type or self.defaults.instance_type
            if default not in allowed:
                raise ValueError(
                    f"user {user.name}: default instance type {default} is not among the "
                    f"instance types the user may use ({', '.join(allowed)})"
                )
        return self

    def allowed_for(self, user: User) -> list[str]:
        return user.allowed_instance_types or self.defaults.allowed_instance_types

    @property
    def namespace(self) -> str:
        """What IAM names of this team carry: its domain's name (or id)."""
        return str(self.domain.name or self.domain.id)

    def user(self, name: str) -> User | None:
        return next((u for u in self.users if u.name == name), None)

    def space(self, name: str) -> Space | None:
        return next((s for s in self.spaces if s.name == name), None)


_FIXES = {
    "extra_forbidden": "remove it, or check its spelling against bootstrap/team.example.toml",
    "missing": "add it (see bootstrap/team.example.toml)",
    "string_pattern_mismatch": "use a value of the form shown",
    "literal_error": "use one of the values listed",
    "value_error": "correct the values named",
}


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after",) and not str(part).startswith("function-"):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_PATTERN_WORDS = {
    USER_NAME: "a user name is lower-case letters, digits and hyphens, at most 57 characters "
    "(ssh host names ignore case; `<name>-space` must stay within SageMaker's 63)",
    SPACE_NAME: "a space name is lower-case letters, digits and hyphens, at most 63 characters",
    DURATION: "a duration is days, hours and minutes, e.g. 30m, 12h, 5d, 1d12h",
    SCHEDULE: "a schedule is an EventBridge expression: rate(1 day), rate(12 hours) or "
    "cron(0 8 ? * MON-FRI *)",
    TYPE_GLOB: 'an instance type, a family glob in quotes ("ml.t3.*") or `default`',
}


def explain(error: ValidationError, source: str) -> BadInput:
    lines, fixes = [], []
    for item in error.errors():
        where = _where(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch":
            pattern = item["ctx"]["pattern"]
            words = _PATTERN_WORDS.get(pattern, f"does not match {pattern}")
            message = f"{item['input']!r}: {words}" if pattern in _PATTERN_WORDS else (
                f"{item['input']!r} {words}")  # fmt: skip
        lines.append(f"{source}: {where}: {message}")
        fix = _FIXES.get(item["type"], "correct the value")
        if fix not in fixes:
            fixes.append(fix)
    return BadInput("\n".join(lines), "; ".join(fixes))


def parse(text: str, source: str) -> Team:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: not valid TOML: {exc}", "fix the syntax there") from exc
    try:
        return Team.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, source) from None


def load(path: Path) -> tuple[Team, Path]:
    """The team and the folder its relative paths are resolved from; lifecycle scripts
    must exist."""
    if not path.is_file():
        raise BadInput(
            f"team file {path} does not exist",
            "pass --team PATH, or start from bootstrap/team.example.toml",
        )
    team = parse(path.read_text(), str(path))
    base = path.resolve().parent
    for app_type, script in team.lifecycle.items():
        if not (base / script).is_file():
            raise BadInput(
                f"{path}: lifecycle.{app_type}: script {script} not found (from {base})",
                "give a path relative to the team file",
            )
    return team, base


def is_valid_name(pattern: str, value: str) -> bool:
    return re.match(pattern, value) is not None
