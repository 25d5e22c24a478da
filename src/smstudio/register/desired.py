"""Pure builders for what `apply` registers: lifecycle-config content and names, app
image configs within Studio's limits, and domain settings merged with what is already
there without dropping entries smstudio does not own."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from smstudio.core.config import Docker, Image, Space, Team, User
from smstudio.core.errors import BadInput
from smstudio.core.facts import (
    ARG_LEN_MAX,
    ARGS_MAX,
    EMAIL_TAG,
    ENV_MAX,
    GIT_EMAIL_TAG,
    GIT_NAME_TAG,
    LCC_MAX_BASE64,
    SETTINGS_KEY,
    STUDIO_USER_TAG,
)
from smstudio.images.kernels import KernelSpecDecl

OWNED_PREFIX = "smstudio-"
JUPYTERLAB_ENTRYPOINT = "/opt/smstudio/bin/start-jupyterlab"
CODEEDITOR_ENTRYPOINT = "/opt/smstudio/bin/start-codeeditor"


def lcc_content(script: str, source: str) -> str:
    """A script as StudioLifecycleConfigContent: base64, Unix line endings, within the
    limit. Errors name the script and its size."""
    if "\r" in script:
        raise BadInput(
            f"lifecycle script {source} has Windows (CRLF) line endings; Studio fails on them",
            f"convert it: sed -i 's/\\r$//' {source}",
        )
    encoded = base64.b64encode(script.encode()).decode()
    if len(encoded) > LCC_MAX_BASE64:
        raise BadInput(
            f"lifecycle script {source} is {len(script.encode())} bytes, {len(encoded)} "
            f"characters in base64; Studio accepts at most {LCC_MAX_BASE64}",
            "move the bulk into the image (e.g. /opt/smstudio/lcc) and keep the lifecycle "
            "script a short caller",
        )
    return encoded


def lcc_name(app_type: str, content: str) -> str:
    """Lifecycle configs cannot be updated: a changed script gets a new config, named by
    its content."""
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    return f"{OWNED_PREFIX}{app_type.lower()}-{digest}"


def file_system_config(image: Image) -> dict[str, Any]:
    return {"MountPath": image.mount_path, "DefaultUid": image.uid, "DefaultGid": image.gid}


def kernel_gateway_config(image: Image, kernels: list[KernelSpecDecl]) -> dict[str, Any]:
    return {
        "KernelSpecs": [{"Name": k.name, "DisplayName": k.display_name} for k in kernels],
        "FileSystemConfig": file_system_config(image),
    }


def jupyterlab_config(
    image: Image, arguments: list[str] | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """JupyterLabAppImageConfig with a ContainerConfig Studio accepts."""
    container: dict[str, Any] = {"ContainerEntrypoint": [JUPYTERLAB_ENTRYPOINT]}
    arguments = arguments or []
    env = env or {}
    too_long = [a for a in arguments if len(a) > ARG_LEN_MAX]
    if len(arguments) > ARGS_MAX or too_long:
        raise BadInput(
            f"ContainerArguments: {len(arguments)} given, longest {max(map(len, arguments))} "
            f"characters; Studio allows {ARGS_MAX} of at most {ARG_LEN_MAX}",
            "move settings into the image's jupyter_server_config.py",
        )
    if len(env) > ENV_MAX:
        raise BadInput(
            f"ContainerEnvironmentVariables: {len(env)} given; Studio allows {ENV_MAX}",
            "set the rest in the image (ENV) or in a lifecycle script",
        )
    if arguments:
        container["ContainerArguments"] = arguments
    if env:
        container["ContainerEnvironmentVariables"] = env
    return {"ContainerConfig": container, "FileSystemConfig": file_system_config(image)}


def codeeditor_config() -> dict[str, Any]:
    """CodeEditorAppImageConfig: the image's start command. Studio takes no
    FileSystemConfig for Code Editor (the home is fixed at /home/sagemaker-user, the user
    1000:100)."""
    return {"ContainerConfig": {"ContainerEntrypoint": [CODEEDITOR_ENTRYPOINT]}}


def merge_custom_images(
    current: list[dict[str, Any]], ours: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Ours replace entries for the same image; everyone else's stay, in their order."""
    names = {entry["ImageName"] for entry in ours}
    return [e for e in current if e["ImageName"] not in names] + ours


def merge_lifecycle_arns(current: list[str], ours: list[str]) -> list[str]:
    """Drop smstudio's own configs that are no longer wanted (a changed script), keep
    anyone else's, add ours."""

    def owned(arn: str) -> bool:
        return arn.rsplit("/", 1)[-1].startswith(OWNED_PREFIX)

    kept = [a for a in current if not owned(a) or a in ours]
    return kept + [a for a in ours if a not in kept]


def app_settings_update(
    current: dict[str, Any],
    custom_images: list[dict[str, Any]],
    lifecycle_arns: list[str],
    default_lifecycle_arn: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The <App>AppSettings to send in UpdateDomain/UpdateUserProfile, or None when the
    current settings already hold everything (so a second apply changes nothing)."""
    desired = {**current, **(extra or {})}
    desired["CustomImages"] = merge_custom_images(current.get("CustomImages", []), custom_images)
    desired["LifecycleConfigArns"] = merge_lifecycle_arns(
        current.get("LifecycleConfigArns", []), lifecycle_arns
    )
    if default_lifecycle_arn is not None:
        spec = dict(current.get("DefaultResourceSpec", {}))
        spec["LifecycleConfigArn"] = default_lifecycle_arn
        desired["DefaultResourceSpec"] = spec
    for key in ("CustomImages", "LifecycleConfigArns"):
        if not desired[key] and key not in current:
            del desired[key]
    return None if desired == current else desired


def profile_tags(user: User) -> list[dict[str, str]]:
    """The tags apply owns on a user profile: who it is (IAM matches `studiouserid` to
    the caller), the git identity the lifecycle scripts configure, and the email
    reminders are sent to."""
    return [
        {"Key": STUDIO_USER_TAG, "Value": user.name},
        {"Key": GIT_NAME_TAG, "Value": user.git_name or user.name},
        {"Key": GIT_EMAIL_TAG, "Value": user.email},
        {"Key": EMAIL_TAG, "Value": user.email},
    ]


def idle_settings(team: Team) -> dict[str, Any]:
    """New Studio's own idle shutdown (JupyterLab, Code Editor): the team's timeout and
    the range spaces may set their own in."""
    defaults = team.defaults
    if defaults.idle_timeout_minutes is None:
        return {}
    idle: dict[str, Any] = {
        "LifecycleManagement": "ENABLED",
        "IdleTimeoutInMinutes": defaults.idle_timeout_minutes,
    }
    if defaults.min_idle_timeout_minutes is not None:
        idle["MinIdleTimeoutInMinutes"] = defaults.min_idle_timeout_minutes
    if defaults.max_idle_timeout_minutes is not None:
        idle["MaxIdleTimeoutInMinutes"] = defaults.max_idle_timeout_minutes
    return {"AppLifecycleManagement": {"IdleSettings": idle}}


def codeeditor_settings(team: Team) -> dict[str, Any]:
    return idle_settings(team)


def jupyterlab_settings(team: Team) -> dict[str, Any]:
    """New Studio's own idle shutdown and the repositories it offers in every space."""
    out: dict[str, Any] = idle_settings(team)
    if team.git.repositories:
        out["CodeRepositories"] = [{"RepositoryUrl": url} for url in team.git.repositories]
    return out


def space_request(space: Space, team: Team, domain_id: str) -> dict[str, Any]:
    """CreateSpace's parameters for a declared space: its owner, sharing type, app type,
    default instance type and remote access, tagged with its owner's studiouserid."""
    instance = space.instance_type or team.defaults.instance_type
    return {
        "DomainId": domain_id,
        "SpaceName": space.name,
        "OwnershipSettings": {"OwnerUserProfileName": space.owner},
        "SpaceSharingSettings": {"SharingType": space.sharing},
        "SpaceSettings": {
            "AppType": space.app_type,
            SETTINGS_KEY[space.app_type]: {
                "DefaultResourceSpec": {"InstanceType": instance},
                **(
                    {
                        "AppLifecycleManagement": {
                            "IdleSettings": {"IdleTimeoutInMinutes": space.idle_timeout_minutes}
                        }
                    }
                    if space.idle_timeout_minutes is not None
                    else {}
                ),
            },
            **({"RemoteAccess": "ENABLED"} if space.remote_access else {}),
        },
        "Tags": [{"Key": STUDIO_USER_TAG, "Value": space.owner}],
    }


def docker_settings(docker: Docker, current: dict[str, Any]) -> dict[str, Any]:
    """The domain's DockerSettings with what the team file sets (a field it leaves out
    keeps the domain's value; another tool's trusted accounts are kept)."""
    wanted = dict(current)
    if docker.access is not None:
        wanted["EnableDockerAccess"] = "ENABLED" if docker.access else "DISABLED"
    if docker.rootless is not None:
        wanted["RootlessDocker"] = "ENABLED" if docker.rootless else "DISABLED"
    if docker.trusted_accounts is not None:
        have = list(current.get("VpcOnlyTrustedAccounts", []))
        wanted["VpcOnlyTrustedAccounts"] = have + [
            a for a in docker.trusted_accounts if a not in have
        ]
    return wanted
