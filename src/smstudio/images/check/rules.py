"""The Studio contract as pure rules: image facts in, violations (each with its fix) out.

Facts are gathered elsewhere (smstudio.images.check.facts and .probe); nothing here touches
Docker, so every rule is unit-tested on hand-made facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smstudio.core.facts import (
    APP_PORT,
    HOME,
    IDLE_PATH,
    MAX_ID,
    SUPPORTED_USERS,
    idle_last_active,
)
from smstudio.core.facts import HEALTH_PATH as HEALTH_PATHS

KERNEL_DIRS = ("/usr/local/share/jupyter/kernels", "/usr/share/jupyter/kernels")
HEALTH_PATH = HEALTH_PATHS["JupyterLab"]


@dataclass(frozen=True)
class FileOwner:
    path: str
    uid: int
    gid: int
    layer: int  # 1-based position in the image's layer list


@dataclass
class ImageFacts:
    """What the checks need to know about one image."""

    os: str
    architecture: str
    user: str  # Config.User as written: "", "1000:100", "sagemaker-user", ...
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    passwd: str = ""  # final /etc/passwd
    group: str = ""  # final /etc/group
    high_id_files: list[FileOwner] = field(default_factory=list)
    paths: set[str] = field(default_factory=set)  # final filesystem, absolute paths


@dataclass(frozen=True)
class Expectation:
    """What the AppImageConfig will declare for this image."""

    uid: int = 1000
    gid: int = 100
    mount_path: str = HOME
    app_types: frozenset[str] = frozenset()
    kernels: tuple[str, ...] = ()
    docker: bool = False  # the team turns Docker access on: the image needs the CLI


@dataclass(frozen=True)
class Violation:
    code: str
    problem: str
    fix: str


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    detail: str
    app_type: str = "JupyterLab"
    idle: str | None = None  # what GET /api/idle answered (new Studio apps), if it did


def idle_answer_problem(body: str | None) -> str | None:
    """What is wrong with an /api/idle answer, as Studio reads it; None when it is right:
    JSON with lastActiveTimestamp in ISO 8601 (UTC)."""
    if body is None:
        return "no answer"
    if idle_last_active(body) is None:
        return f'not {{"lastActiveTimestamp": <ISO 8601>}}: {body[:120]!r}'
    return None


def _table(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int] | str:
    """Config.User -> (uid, gid), or a reason it cannot be resolved. Docker's rules: an
    empty user is root; a user without a group takes its passwd primary group."""
    if not user:
        return (0, 0)
    name, _, grp = user.partition(":")
    users = {row[0]: row for row in _table(passwd) if len(row) >= 4}
    by_uid = {row[2]: row for row in users.values()}
    row = users.get(name) or by_uid.get(name)
    if name.isdigit():
        uid = int(name)
    elif row is not None:
        uid = int(row[2])
    else:
        return f"user {name!r} is not in the image's /etc/passwd"
    if grp:
        if grp.isdigit():
            return (uid, int(grp))
        groups = {r[0]: r for r in _table(group) if len(r) >= 3}
        if grp not in groups:
            return f"group {grp!r} is not in the image's /etc/group"
        return (uid, int(groups[grp][2]))
    return (uid, int(row[3]) if row is not None else 0)


def kernels_in_image(facts: ImageFacts) -> set[str]:
    """Kernelspec names a kernel server started from outside the image would find:
    the system Jupyter data dirs plus any on the image's JUPYTER_PATH."""
    dirs = list(KERNEL_DIRS)
    dirs += [f"{p.rstrip('/')}/kernels" for p in facts.env.get("JUPYTER_PATH", "").split(":") if p]
    found = set()
    for path in facts.paths:
        for kdir in dirs:
            prefix = kdir + "/"
            if path.startswith(prefix) and path.endswith("/kernel.json"):
                name = path[len(prefix) : -len("/kernel.json")]
                if "/" not in name:
                    found.add(name)
    return found


def check_platform(facts: ImageFacts) -> list[Violation]:
    if (facts.os, facts.architecture) == ("linux", "amd64"):
        return []
    return [
        Violation(
            "platform",
            f"image is {facts.os}/{facts.architecture}; Studio runs linux/amd64 images only",
            'build with --platform linux/amd64 (bake: platforms = ["linux/amd64"])',
        )
    ]


def check_user(facts: ImageFacts, want: Expectation) -> list[Violation]:
    out = []
    if (want.uid, want.gid) not in SUPPORTED_USERS:
        out.append(
            Violation(
                "declared-user",
                f"declared DefaultUid/DefaultGid {want.uid}:{want.gid} is not supported by Studio",
                "declare 1000:100 (sagemaker-user) or 0:0 (root)",
            )
        )
    resolved = resolve_user(facts.user, facts.passwd, facts.group)
    if isinstance(resolved, str):
        return [
            *out,
            Violation(
                "default-user",
                f"the image's default user {facts.user!r} cannot be resolved: {resolved}",
                "create the user in the image, or set USER to numeric ids such as 1000:100",
            ),
        ]
    if resolved != (want.uid, want.gid):
        ids = f"{resolved[0]}:{resolved[1]}"
        shown = "root (no USER)" if not facts.user else facts.user
        shown = shown if shown == ids else f"{shown} ({ids})"
        out.append(
            Violation(
                "default-user",
                f"the image's default user is {shown}, but the "
                f"AppImageConfig declares {want.uid}:{want.gid}: the app would fail to start",
                f"end the Dockerfile with `USER {want.uid}:{want.gid}`, or declare "
                f"DefaultUid={resolved[0]} DefaultGid={resolved[1]} if that user is supported",
            )
        )
    return out


def check_high_ids(facts: ImageFacts, show: int = 5) -> list[Violation]:
    if not facts.high_id_files:
        return []
    examples = ", ".join(
        f"{f.path} ({f.uid}:{f.gid}, layer {f.layer})" for f in facts.high_id_files[:show]
    )
    more = len(facts.high_id_files) - show
    tail = f" and {more} more" if more > 0 else ""
    return [
        Violation(
            "high-ids",
            f"{len(facts.high_id_files)} file(s) owned by a UID or GID above {MAX_ID}: "
            f"{examples}{tail}. Studio cannot start images with such files in any layer",
            "chown them in the same RUN that creates them (e.g. `chown -R 1000:100`, or "
            "`tar --no-same-owner` when unpacking); a later layer cannot hide them",
        )
    ]


def check_mount_path(facts: ImageFacts, want: Expectation, show: int = 5) -> list[Violation]:
    prefix = want.mount_path.rstrip("/") + "/"
    hidden = sorted(p for p in facts.paths if p.startswith(prefix))
    if not hidden:
        return []
    more = len(hidden) - show
    return [
        Violation(
            "mount-path",
            f"{len(hidden)} file(s) under the home mount path {want.mount_path} will be hidden "
            f"when Studio mounts the user's home: {', '.join(hidden[:show])}"
            + (f" and {more} more" if more > 0 else ""),
            "ship them elsewhere (e.g. /etc/skel or /opt) and copy them into the home from a "
            "lifecycle script; create users with `useradd --no-create-home`",
        )
    ]


def check_kernels(facts: ImageFacts, want: Expectation) -> list[Violation]:
    if "KernelGateway" not in want.app_types:
        return []
    if not 1 <= len(want.kernels) <= 5:
        return [
            Violation(
                "kernelspecs",
                f"{len(want.kernels)} kernelspecs declared; a KernelGateway AppImageConfig "
                "needs 1 to 5",
                "declare the image's kernels (e.g. --kernel python3)",
            )
        ]
    present = kernels_in_image(facts)
    missing = [k for k in want.kernels if k not in present]
    if not missing:
        return []
    found = ", ".join(sorted(present)) or "none"
    return [
        Violation(
            "kernelspecs",
            f"declared kernelspec(s) {', '.join(missing)} not found in the image "
            f"(found: {found}); the KernelGateway app would fail to start",
            "install each under /usr/local/share/jupyter/kernels/<name>/kernel.json, or fix "
            "KernelSpecs[].Name (names are case-sensitive)",
        )
    ]


DOCKER_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def check_docker(facts: ImageFacts, want: Expectation) -> list[Violation]:
    """For Docker access (new Studio): a docker CLI on the image's PATH, the compose
    plugin, and the classic builder (Studio's Docker proxy takes no BuildKit)."""
    if not want.docker:
        return []
    found: list[Violation] = []
    path = facts.env.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if not any(f"{d.rstrip('/')}/docker" in facts.paths for d in path.split(":") if d):
        found.append(
            Violation(
                "docker-cli",
                "no docker CLI on the image's PATH: Studio gives apps Docker access through "
                "a socket (DOCKER_HOST=unix:///docker/proxy.sock) but no client",
                "install the Docker CLI only (Debian: docker-cli; Ubuntu: docker.io, or "
                "docker-ce-cli), not the engine; smstudio's base image has it",
            )
        )
    if not any(f"{d}/docker-compose" in facts.paths for d in DOCKER_PLUGIN_DIRS):
        found.append(
            Violation(
                "docker-compose",
                "no docker compose plugin: `docker compose` (and SageMaker local mode) will "
                "not work",
                "install the compose plugin (Debian trixie: docker-compose; Ubuntu: "
                "docker-compose-v2) into /usr/libexec/docker/cli-plugins",
            )
        )
    if facts.env.get("DOCKER_BUILDKIT") != "0":
        found.append(
            Violation(
                "docker-buildkit",
                "DOCKER_BUILDKIT is not 0: `docker build` would use BuildKit, which Studio's "
                "Docker proxy refuses",
                "set ENV DOCKER_BUILDKIT=0 in the image (AWS's own images do)",
            )
        )
    return found


HEALTH_FIXES = {
    "JupyterLab": "start JupyterLab on 0.0.0.0:8888 with ServerApp.base_url=/jupyterlab/default, "
    "no token and allow_origin='*' (see images/jupyterlab)",
    "CodeEditor": "serve VS Code on 0.0.0.0:8888 under /codeeditor/default without a token "
    "(sagemaker-code-editor --base-path /codeeditor/default, or code-server behind a front "
    "that strips it: see images/codeeditor)",
}
IDLE_FIXES = {
    "JupyterLab": "pip install jupyter-activity-monitor-extension (Studio's idle shutdown "
    "polls it; SageMaker Distribution images carry it)",
    "CodeEditor": "answer GET /codeeditor/default/api/idle with the last activity (see "
    "images/codeeditor/front.py)",
}


def check_health(result: HealthResult | None) -> list[Violation]:
    if result is None:
        return []
    kind = result.app_type
    if not result.ok:
        return [
            Violation(
                f"{kind.lower()}-health",
                f"{kind} did not answer GET {HEALTH_PATHS[kind]} on port {APP_PORT}: "
                f"{result.detail}",
                HEALTH_FIXES.get(kind, "serve the app on port 8888"),
            )
        ]
    problem = idle_answer_problem(result.idle) if kind in IDLE_PATH else None
    if problem is None:
        return []
    return [
        Violation(
            "idle-endpoint",
            f"GET {IDLE_PATH[kind]}: {problem}; Studio's idle shutdown cannot tell when the "
            "app is idle",
            IDLE_FIXES[kind],
        )
    ]


def evaluate(facts: ImageFacts, want: Expectation, *health: HealthResult | None) -> list[Violation]:
    """Every contract rule that applies, in a stable order."""
    return [
        *check_platform(facts),
        *check_user(facts, want),
        *check_high_ids(facts),
        *check_mount_path(facts, want),
        *check_kernels(facts, want),
        *check_docker(facts, want),
        *(v for result in health for v in check_health(result)),
    ]
