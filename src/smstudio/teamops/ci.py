"""`smstudio ci run`: a team image repository's pipeline, one command, in order: bake
build (with a registry cache) -> `images check` -> `images test` -> push -> `apply
--only images` (a new image version when the image changed). A pull request stops
before push. `ci init` writes the thin pipeline file (smstudio.teamops.pipelines).

The repository: the team file, `images/<target>/Dockerfile` for each of the team's
images it builds, and its own image tests in `tests/`."""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio.core import aws, facts
from smstudio.core.config import Image, Team
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.images import bake, kernels, push
from smstudio.images.check import lint
from smstudio.images.kit import runner
from smstudio.local import registry
from smstudio.register import apply, lock
from smstudio.register.plan import Options
from smstudio.teamops import pipelines

CACHE_TAG = "buildcache"  # each repository's image that carries the inline build cache
STEPS = ("build", "check", "test", "push", "register")


@dataclass(frozen=True)
class Event:
    system: str  # github | gitlab | codebuild | local
    pull_request: bool


def detect_event(env: Mapping[str, str]) -> Event:
    """Which CI system runs us, and whether for a pull (merge) request."""
    if env.get("GITHUB_ACTIONS") == "true":
        name = env.get("GITHUB_EVENT_NAME", "")
        return Event("github", name in ("pull_request", "pull_request_target"))
    if env.get("GITLAB_CI") == "true":
        return Event("gitlab", env.get("CI_PIPELINE_SOURCE") == "merge_request_event")
    if env.get("CODEBUILD_BUILD_ID"):
        return Event("codebuild", env.get("CODEBUILD_WEBHOOK_EVENT", "").startswith("PULL_REQUEST"))
    return Event("local", False)


@dataclass(frozen=True)
class RunRequest:
    repo: Path
    team: Team
    team_dir: Path
    tag: str
    pull_request: bool
    reports: Path
    base_image: str | None = None
    runtime_base: str | None = None  # the mounted kernel gateway's build base (KernelGateway)
    extra_ca_dir: str | None = None


@dataclass
class RunResult:
    built: dict[str, str] = field(default_factory=dict)  # image name -> local ref
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds
    stopped: str = ""  # why it stopped before registering ("" when it went all the way)
    pushed: list[str] = field(default_factory=list)  # pinned ECR URIs
    registered: list[str] = field(default_factory=list)  # the changes apply made


def buildable(team: Team, repo: Path) -> dict[str, Image]:
    """The team's images this repository builds: those with images/<target>/Dockerfile."""
    found = {n: i for n, i in team.images.items()
             if (repo / "images" / i.target / "Dockerfile").is_file()}  # fmt: skip
    if not found:
        targets = ", ".join(f"images/{i.target}/Dockerfile" for i in team.images.values())
        raise BadInput(
            f"{repo} has none of the team's image folders ({targets or 'no [images] declared'})",
            "add a Dockerfile under images/<target>/ for an image the team file declares",
        )
    return found


def bake_definition(
    images: Mapping[str, Image],
    repo: Path,
    tag: str,
    cache: Mapping[str, str],
    base_image: str | None,
    extra_ca_dir: str | None,
    revision: str | None,
) -> dict[str, Any]:
    """A bake file (JSON) for the repository's images: tagged smstudio/<target>:<tag>
    (what apply registers), cache from each repository's cache image when known and
    inline cache in what is pushed."""
    targets: dict[str, Any] = {}
    for image in images.values():
        context = repo / "images" / image.target
        target: dict[str, Any] = {
            "context": str(context),
            "dockerfile": "Dockerfile",
            "tags": [f"smstudio/{image.target}:{tag}"],
            "platforms": ["linux/amd64"],
            "labels": {
                "io.smstudio.image": image.target,
                "io.smstudio.app-types": ",".join(image.app_types),
                **({"org.opencontainers.image.revision": revision} if revision else {}),
            },
            "cache-to": ["type=inline"],
            "output": ["type=docker"],
        }
        if image.target in cache:
            target["cache-from"] = [f"type=registry,ref={cache[image.target]}"]
        args = {k: v for k, v in {"BASE_IMAGE": base_image}.items() if v}
        if args:
            target["args"] = args
        if extra_ca_dir:
            target["contexts"] = {"extra-ca": extra_ca_dir}
        targets[image.target] = target
    return {"group": {"default": {"targets": sorted(targets)}}, "target": targets}


def docker_config(credentials: Mapping[str, str]) -> dict[str, Any]:
    """A Docker client config holding one registry login (for the cache import)."""
    auth = base64.b64encode(
        f"{credentials['username']}:{credentials['password']}".encode()
    ).decode()
    server = credentials["serveraddress"].removeprefix("https://")
    return {"auths": {server: {"auth": auth}}}


def default_tag(repo: Path) -> str:
    """The commit (12 characters), or the time when the repository has no commit."""
    revision = bake.git_revision(repo)
    return revision[:12] if revision else time.strftime("ci-%Y%m%d%H%M%S")


def check_options(team: Team, image: Image) -> lint.CheckOptions:
    kernel_names: tuple[str, ...] = ()
    if "KernelGateway" in image.app_types:
        kernel_names = tuple(k.name for k in kernels.for_image(image))
    return lint.CheckOptions(image.uid, image.gid, image.mount_path, tuple(image.app_types),
                             kernel_names, True, bool(team.docker.access))  # fmt: skip


class Pipeline:
    """Runs the steps in order; `clients` is None for a pull request without credentials
    (no registry cache, no push)."""

    def __init__(
        self,
        request: RunRequest,
        clients: aws.Aws | None,
        console: Console,
        step: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.request, self.clients, self.console, self.step = request, clients, console, step
        self.images = buildable(request.team, request.repo)
        self.result = RunResult()

    def _timed(self, name: str, work: Callable[[], None]) -> None:
        self.step(name)
        started = time.monotonic()
        try:
            work()
        finally:
            self.result.seconds[name] = round(time.monotonic() - started, 1)

    def run(self) -> RunResult:
        self.request.reports.mkdir(parents=True, exist_ok=True)
        self._timed("build", self.build)
        self._timed("check", self.check)
        self._timed("test", self.test)
        if self.request.pull_request:
            self.result.stopped = "a pull request: built, checked and tested; nothing pushed"
            return self.result
        if self.clients is None:
            raise SmstudioError(
                "no AWS credentials for the push",
                "run on the team's branch, where the pipeline gets the CI role",
            )
        self._timed("push", self.push)
        self._timed("register", self.register)
        return self.result

    # --- the steps ---------------------------------------------------------------------

    def _repository(self, image: Image) -> str:
        return facts.ecr_repository(image.target, self.request.team.namespace)

    def _cache_refs(self) -> tuple[dict[str, str], dict[str, str] | None]:
        """Each target's cache image reference, and the login it needs (None: none)."""
        if self.clients is None:
            return {}, None
        ecr = self.clients.client("ecr")
        account = self.clients.client("sts").get_caller_identity()["Account"]
        region = self.clients.session.region_name
        local = os.environ.get("SMSTUDIO_LOCAL_REGISTRY")
        refs: dict[str, str] = {}
        for image in self.images.values():
            uri = (f"{account}.dkr.ecr.{region}.amazonaws.com/"
                   f"{self._repository(image)}:{CACHE_TAG}")  # fmt: skip
            refs[image.target] = (registry.to_local(uri, local) or uri) if local else uri
        return refs, None if local else push.login(ecr)

    def build(self) -> None:
        request = self.request
        cache, login = self._cache_refs()
        definition = bake_definition(self.images, request.repo, request.tag, cache,
                                     request.base_image, request.extra_ca_dir,
                                     bake.git_revision(request.repo))  # fmt: skip
        log_path = request.reports / "build.log"
        with tempfile.TemporaryDirectory(prefix="smstudio-ci-") as temporary:
            folder = Path(temporary)
            bake_file = folder / "bake.json"
            bake_file.write_text(json.dumps(definition, indent=1))
            env = dict(os.environ)
            if login is not None:  # the cache import logs in with the CI role's ECR token
                (folder / "config.json").write_text(json.dumps(docker_config(login)))
                env["DOCKER_CONFIG"] = str(folder)
            command = ["docker", "buildx", "bake", "--progress=plain", "-f", str(bake_file)]
            bake.run_logged(command, request.repo, env, log_path, request.base_image,
                            self.console)  # fmt: skip
        self.result.built = {
            n: f"smstudio/{i.target}:{request.tag}" for n, i in self.images.items()
        }
        self.console.print(f"built {', '.join(self.result.built.values())} (log {log_path})")

    def check(self) -> None:
        failed: list[str] = []
        for name, ref in self.result.built.items():
            violations = lint.run(ref, check_options(self.request.team, self.images[name]),
                                  self.console)  # fmt: skip
            for v in violations:
                self.console.print(f"  ✗ {ref}: {v.code}: {v.problem}\n    fix: {v.fix}",
                                   soft_wrap=True, markup=False)  # fmt: skip
            if violations:
                failed.append(f"{ref} ({len(violations)} violation(s))")
            else:
                self.console.print(f"✓ {ref} meets the Studio contract")
        if failed:
            raise SmstudioError(
                f"stopped at check: {'; '.join(failed)} of the Studio contract",
                "fix the image as each violation's fix says; nothing was pushed",
            )

    def test(self) -> None:
        request = self.request
        failed: list[str] = []
        tests = request.repo / "tests"
        for name, ref in self.result.built.items():
            image = self.images[name]
            kit = runner.KitRequest(
                ref, check_options(request.team, image), tests if tests.is_dir() else None,
                request.reports / f"junit-{name}.xml", request.runtime_base,
            )  # fmt: skip
            if runner.run(kit, request.repo) != 0:
                failed.append(ref)
        if failed:
            raise SmstudioError(
                f"stopped at test: {', '.join(failed)} failed the image tests",
                f"see the failures above (JUnit XML in {request.reports}); nothing was pushed",
            )

    def push(self) -> None:
        assert self.clients is not None
        for name, ref in self.result.built.items():
            target = self.images[name].target
            repository = self._repository(self.images[name])
            pushed = push.push(ref, target, self.request.tag, self.clients, self.console,
                               repository)  # fmt: skip
            push.push(ref, target, CACHE_TAG, self.clients, self.console, repository)
            self.result.pushed.append(pushed.pinned)

    def register(self) -> None:
        assert self.clients is not None
        request = self.request
        options = Options(only_images=True, images=sorted(self.images))
        with lock.held(self.clients.client("ssm"), request.team.namespace, 900):
            planned = apply.make(request.team, request.team_dir, self.clients, request.tag,
                                 options)  # fmt: skip
            done = apply.execute(planned, self.clients, self.console)
        self.result.registered = [f"{c.step} {c.action} {c.target} {c.detail}".strip()
                                  for c in done]  # fmt: skip


def init(repo: Path, spec: pipelines.PipelineSpec, force: bool) -> Path:
    """Write the pipeline file; an existing one is kept unless `force`."""
    if not repo.is_dir():
        raise BadInput(f"{repo} is not a folder", "pass the image repository's folder")
    path = repo / pipelines.FILES[spec.provider]
    if path.exists() and not force:
        raise BadInput(f"{path} exists", "pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pipelines.render(spec))
    return path
