"""Facts about SageMaker Studio, the one copy: app types and the settings each is
configured under, limits, ports and health paths, the home, and the tag keys smstudio
reads and writes. Shared by apply, `images check` and the local runtime."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal, get_args

AppType = Literal["JupyterLab", "KernelGateway", "CodeEditor", "JupyterServer"]
APP_TYPES: tuple[str, ...] = get_args(AppType)
# The user/domain settings each app type is configured under.
SETTINGS_KEY: dict[str, str] = {
    "JupyterLab": "JupyterLabAppSettings",
    "KernelGateway": "KernelGatewayAppSettings",
    "CodeEditor": "CodeEditorAppSettings",
    "JupyterServer": "JupyterServerAppSettings",
}
NO_CUSTOM_IMAGES = frozenset({"JupyterServer"})  # its settings take no CustomImages
SPACE_APP_TYPES = ("JupyterLab", "CodeEditor")  # new Studio: one app per space
SPACE_APP_NAME = "default"  # ... and it is called this
SSHD_PORT = 2222  # the app's sshd (ssh/start-sshd.sh), on 127.0.0.1 in the container
# An AppImageConfig's per-app-type configurations.
APP_IMAGE_CONFIG_KEYS = (
    "KernelGatewayImageConfig",
    "JupyterLabAppImageConfig",
    "CodeEditorAppImageConfig",
)

APP_PORT = 8888  # every app serves here
HEALTH_PATH = {
    "JupyterLab": "/jupyterlab/default/api/status",
    "KernelGateway": "/api/kernelspecs",
    "CodeEditor": "/codeeditor/default/healthz",
}
LANDING_PATH = {
    "JupyterLab": "/jupyterlab/default/lab",
    "KernelGateway": "/api",
    "CodeEditor": "/codeeditor/default/",
}
# Studio's idle check (new Studio): GET here answers {"lastActiveTimestamp": ...}
IDLE_PATH = {
    "JupyterLab": "/jupyterlab/default/api/idle",
    "CodeEditor": "/codeeditor/default/api/idle",
}
# Where each app type's AppImageConfig part is
IMAGE_CONFIG_KEY = {
    "KernelGateway": "KernelGatewayImageConfig",
    "JupyterLab": "JupyterLabAppImageConfig",
    "CodeEditor": "CodeEditorAppImageConfig",
}
CODEEDITOR_HOME = "/home/sagemaker-user"  # fixed: Code Editor takes no FileSystemConfig


def idle_last_active(answer: str) -> float | None:
    """The time an /api/idle answer reports, as Studio reads it ({"lastActiveTimestamp":
    ISO 8601, UTC; AWS's monitor ends it with a lower-case z}), in seconds; None when the
    answer is not that."""
    try:
        found = datetime.fromisoformat(str(json.loads(answer)["lastActiveTimestamp"]).rstrip("zZ"))
    except (ValueError, KeyError, TypeError):
        return None
    return found.replace(tzinfo=found.tzinfo or UTC).timestamp()


HOME = "/home/sagemaker-user"  # the home's mount path (Classic: FileSystemConfig.MountPath)
MAX_ID = 65535  # no file in any layer may have a UID or GID above it
SUPPORTED_USERS = frozenset({(1000, 100), (0, 0)})

LCC_MAX_BASE64 = 16384  # StudioLifecycleConfigContent: characters of base64
LCC_TIMEOUT_SECONDS = 300  # a lifecycle script must finish within 5 minutes
LCC_LOG_GROUP = "/aws/sagemaker/studio"
# ContainerConfig: entrypoint items, arguments, characters per argument, env variables.
ENTRYPOINT_MAX, ARGS_MAX, ARG_LEN_MAX, ENV_MAX = 1, 50, 64, 25
NAME_MAX = 63  # user profile, space, image and app image config names

STUDIO_USER_TAG = "studiouserid"  # IAM matches it to the caller's principal tag
MANAGED_BY_TAG = "smstudio:managed-by"  # what smstudio made, with its team's name
GIT_NAME_TAG, GIT_EMAIL_TAG = "smstudio:git-name", "smstudio:git-email"
# the user's email, from the team file: where reminders (smstudio.teamops.reminders) go
EMAIL_TAG = "smstudio:email"


# Users' own secrets in Secrets Manager, one per kind: smstudio/<domain>/<user>/<kind>
GIT_TOKEN, ACCESS_KEYS = "git-token", "remote-access-keys"


def user_secret_name(domain_id: str, user: str, kind: str) -> str:
    """Also in the app: lcc/lib/studio.py (git token), ssh/authorized_keys.py (keys)."""
    return f"smstudio/{domain_id}/{user}/{kind}"


def ecr_repository(target: str, namespace: str | None = None) -> str:
    """The ECR repository a built target is pushed to: a team's own under its namespace
    (what apply and its image pipeline push), `smstudio/<target>` for `images push`."""
    return f"smstudio/{namespace}/{target}" if namespace else f"smstudio/{target}"


# CI identities (smstudio.teamops.ci): the OIDC issuers a CI role trusts, with the
# audience their tokens carry and the subject claim one repository's branch gets.
CI_PROVIDERS = ("github", "gitlab", "codebuild")
GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"


def ci_issuer(provider: str, gitlab_host: str = "gitlab.com") -> tuple[str, str]:
    """(issuer host, audience) of a CI system's OIDC tokens (none for CodeBuild: AWS's own
    service assumes its role)."""
    if provider == "github":
        return GITHUB_ISSUER, GITHUB_AUDIENCE
    if provider == "gitlab":
        return gitlab_host, f"https://{gitlab_host}"
    raise ValueError(f"{provider} signs no OIDC tokens")


def ci_subject(provider: str, repository: str, branch: str) -> str:
    """The `sub` claim of a token for a push to `branch` of `repository`."""
    if provider == "github":
        return f"repo:{repository}:ref:refs/heads/{branch}"
    return f"project_path:{repository}:ref_type:branch:ref:{branch}"
