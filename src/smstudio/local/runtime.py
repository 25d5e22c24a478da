"""The local Studio's app runtime: CreateApp starts the registered image version the way
SageMaker does, DeleteApp stops it; the home survives.

Start: resolve image, AppImageConfig and lifecycle config from the domain (user or space
settings over domain defaults) -> pull from the local registry -> check the image's
default user against DefaultUid/DefaultGid and, for KernelGateway, the declared
kernelspecs -> start the container (declared user, home volume at the mount path,
SageMaker env vars, /opt/ml/metadata/resource-metadata.json), held before its server ->
run the lifecycle config with its time limit, output to CloudWatch Logs
/aws/sagemaker/studio under the real stream name -> release the server (JupyterLab from
the image or ContainerConfig; KernelGateway: the kernel gateway mounted from outside) ->
InService when the health check answers, else Failed with Studio's kind of reason.

Each app runs with its execution role's session (container credentials from the AWS
endpoint, with the user profile as SourceIdentity when the domain says so), on a Docker
network of its own, and is reached only through its gate (a presigned URL's login).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import docker

from smstudio.core import aws, containers, dockerhost, facts
from smstudio.local import dockerproxy, engines, gate, kernel_gateway, registry, relay

# What SageMaker gives an app besides its home: the AWS endpoint on the container's own
# 127.0.0.1:4566 through a Unix socket in a mounted folder, so containers send no traffic
# beyond loopback; its execution role's credentials from that endpoint (the container
# credentials protocol, with a per-app token); a network of its own (none for a VpcOnly
# domain); and the app itself served through a socket in a per-app folder, behind a gate.
ENDPOINT_DIR = "/opt/ml/local-endpoint"
APP_SOCKET_DIR = "/opt/ml/local-app"
ENDPOINT_PORT = 4566
CREDENTIALS_PATH = "/_local/credentials"
SERVICE_LABEL = "io.smstudio.app-service"  # containers every app's network gets (value: alias)

LOG_GROUP = facts.LCC_LOG_GROUP
EFS_HOME = "user-default-efs"  # where a private space shows its owner's EFS home
HOLD_FLAG = "/tmp/.smstudio-lifecycle-done"
LCC_PATH = "/tmp/.smstudio-on-start.sh"
LABEL = "io.smstudio.app-arn"
# Studio's idle shutdown, as the local Studio runs it: how long a minute of IdleSettings
# lasts (tests shorten it) and how often apps' /api/idle is asked.
IDLE_MINUTE_SECONDS = float(os.environ.get("SMSTUDIO_IDLE_MINUTE_SECONDS", "60"))
IDLE_POLL_SECONDS = float(os.environ.get("SMSTUDIO_IDLE_POLL_SECONDS", "60"))
DOOR_SOCKET = engines.DOOR_SOCKET_LABEL
DOOR_KEY = "docker-engine/"


class AppFailed(Exception):
    """The app cannot start; the message is the FailureReason."""


class AppCredentials(Protocol):
    """The AWS endpoint's side of apps' credentials (smstudio.local.gateway.server)."""

    def register_app(self, app_arn: str, token: str, role_arn: str, source: str | None) -> None: ...
    def forget_app(self, app_arn: str) -> None: ...


@dataclass(frozen=True)
class RuntimeSettings:
    registry: str  # host:port of the local registry
    aws_endpoint: str  # the local Studio's AWS endpoint (its gateway)
    state_dir: Path
    gateway_base_image: str
    service_keys: dict[str, str] = field(default_factory=dict)  # SageMaker's own (logs)
    lifecycle_timeout: float = 300.0
    health_timeout: float = 120.0
    region: str = "us-east-1"


@dataclass(frozen=True)
class AppPlan:
    image: str  # local registry reference, pinned by digest
    uid: int
    gid: int
    mount_path: str
    kernels: tuple[str, ...]
    entrypoint: list[str] | None
    arguments: list[str] | None
    env: dict[str, str]
    lifecycle: str | None  # the script
    vpc_only: bool = False  # the domain's AppNetworkAccessType: no network in the app
    role: str | None = None  # the execution role
    source_identity: str | None = None  # the session's SourceIdentity (the user profile)
    # a private space's owner: their home on the domain's EFS is mounted in the space (as
    # Studio's AutoMountHomeEFS does, at ~/user-default-efs); it outlives the space
    efs_owner: str | None = None
    docker: engines.EnginePlan | None = None  # the app's Docker access (new Studio)


def _space(store: dict[str, dict[str, Any]], app: dict[str, Any]) -> dict[str, Any]:
    found = store.get("spaces", {}).get(f"{app['DomainId']}/{app.get('SpaceName')}", {})
    return dict(found)


def _owner(store: dict[str, dict[str, Any]], app: dict[str, Any]) -> str | None:
    if not app.get("SpaceName"):
        return app.get("UserProfileName")
    owner = (_space(store, app).get("OwnershipSettings") or {}).get("OwnerUserProfileName")
    return str(owner) if owner else None


def _shared(store: dict[str, dict[str, Any]], app: dict[str, Any]) -> bool:
    sharing = (_space(store, app).get("SpaceSharingSettings") or {}).get("SharingType")
    return bool(app.get("SpaceName")) and sharing == "Shared"


def _merged_settings(store: dict[str, dict[str, Any]], app: dict[str, Any]) -> dict[str, Any]:
    """The app's settings: the domain's defaults under its owner's profile settings (a
    shared space has no owner's settings: the domain's default space settings apply)."""
    domain = store["domains"][app["DomainId"]]
    settings = dict(domain.get("DefaultUserSettings", {}))
    if _shared(store, app):
        settings.update(domain.get("DefaultSpaceSettings", {}))
        return settings
    profile = store.get("user-profiles", {}).get(f"{app['DomainId']}/{_owner(store, app)}", {})
    settings.update(profile.get("UserSettings", {}))
    return settings


def idle_timeout(store: dict[str, dict[str, Any]], app: dict[str, Any]) -> float | None:
    """Minutes after which Studio's idle shutdown deletes this app (JupyterLab and Code
    Editor); None when it is off. The space's own timeout wins when it lies within the
    user's (or domain's) Min/MaxIdleTimeoutInMinutes. Pure."""
    key = facts.SETTINGS_KEY.get(app["AppType"], "")
    if app["AppType"] not in facts.IDLE_PATH:
        return None
    settings = _merged_settings(store, app).get(key, {})
    idle = (settings.get("AppLifecycleManagement") or {}).get("IdleSettings") or {}
    if idle.get("LifecycleManagement") != "ENABLED":
        return None
    minutes = idle.get("IdleTimeoutInMinutes")
    space = (_space(store, app).get("SpaceSettings") or {}).get(key) or {}
    own = ((space.get("AppLifecycleManagement") or {}).get("IdleSettings") or {}).get(
        "IdleTimeoutInMinutes"
    )
    low, high = idle.get("MinIdleTimeoutInMinutes", 60), idle.get("MaxIdleTimeoutInMinutes", 525600)
    if own is not None and low <= own <= high:
        minutes = own
    return float(minutes) if minutes else None


last_active = facts.idle_last_active  # what an app's /api/idle reports, in seconds


def source_identity(store: dict[str, dict[str, Any]], app: dict[str, Any]) -> str | None:
    """The SourceIdentity of the app's session: with ExecutionRoleIdentityConfig
    USER_PROFILE_NAME, the user profile (a private space's owner). A shared space acts for
    no single user, so its session carries none (smstudio's policies then give it no
    user's git token and no SSH registration)."""
    domain = store["domains"][app["DomainId"]]
    config = (domain.get("DomainSettings") or {}).get("ExecutionRoleIdentityConfig")
    if config != "USER_PROFILE_NAME" or _shared(store, app):
        return None
    return _owner(store, app)


def plan_app(store: dict[str, dict[str, Any]], app: dict[str, Any], registry_host: str) -> AppPlan:
    """What to run for an app, from the control plane's state. Pure."""
    kind = app["AppType"]
    merged = _merged_settings(store, app)
    settings = merged.get(facts.SETTINGS_KEY.get(kind, ""), {})
    spec = {**settings.get("DefaultResourceSpec", {}), **(app.get("ResourceSpec") or {})}
    custom = settings.get("CustomImages", [])
    image_arn = spec.get("SageMakerImageArn")
    name = (
        image_arn.rsplit("/", 1)[-1] if image_arn else (custom[0]["ImageName"] if custom else None)
    )
    if name is None:
        raise AppFailed(
            f"No image for the {kind} app: set ResourceSpec.SageMakerImageArn or the "
            "domain's CustomImages"
        )
    entry = next((c for c in custom if c["ImageName"] == name), None)
    if entry is None:
        raise AppFailed(
            f"Image {name} is not attached to the domain or user profile (CustomImages)"
        )
    versions = [
        v
        for k, v in store.get("image-versions", {}).items()
        if k.split("/")[0] == name and v["ImageVersionStatus"] == "CREATED"
    ]
    if entry.get("ImageVersionNumber"):
        versions = [v for v in versions if v["Version"] == entry["ImageVersionNumber"]]
    if not versions:
        raise AppFailed(f"Image {name} has no version in status CREATED")
    version = max(versions, key=lambda v: v["Version"])
    local = registry.to_local(version.get("ContainerImage") or version["BaseImage"], registry_host)
    if local is None:
        raise AppFailed(f"Image version {version['ImageVersionArn']} is not in ECR")
    config = store.get("app-image-configs", {}).get(entry["AppImageConfigName"])
    if config is None:
        raise AppFailed(f"AppImageConfig {entry['AppImageConfigName']} does not exist")
    image_config = config.get(facts.IMAGE_CONFIG_KEY.get(kind, "JupyterLabAppImageConfig"), {})
    files = image_config.get("FileSystemConfig", {})
    container = image_config.get("ContainerConfig", {})
    lifecycle = None
    if spec.get("LifecycleConfigArn"):
        lcc_name = spec["LifecycleConfigArn"].rsplit("/", 1)[-1]
        found = store.get("lifecycle-configs", {}).get(lcc_name)
        if found is None:
            raise AppFailed(f"LifecycleConfig {lcc_name} does not exist")
        lifecycle = base64.b64decode(found["StudioLifecycleConfigContent"]).decode()
    return AppPlan(
        image=local,
        uid=int(files.get("DefaultUid", 1000)),
        gid=int(files.get("DefaultGid", 100)),
        mount_path=files.get("MountPath", "/home/sagemaker-user"),
        kernels=tuple(k["Name"] for k in image_config.get("KernelSpecs", [])),
        entrypoint=container.get("ContainerEntrypoint"),
        arguments=container.get("ContainerArguments"),
        env=dict(container.get("ContainerEnvironmentVariables", {})),
        lifecycle=lifecycle,
        vpc_only=store["domains"][app["DomainId"]].get("AppNetworkAccessType") == "VpcOnly",
        role=merged.get("ExecutionRole"),
        source_identity=source_identity(store, app),
        efs_owner=_efs_owner(store, app),
        docker=engines.plan_engine(
            store["domains"][app["DomainId"]],
            kind,
            app["AppArn"],
            files.get("MountPath", "/home/sagemaker-user"),
        ),
    )


def _efs_owner(store: dict[str, dict[str, Any]], app: dict[str, Any]) -> str | None:
    """The owner of a private space (whose EFS home it mounts); None for shared spaces and
    Classic apps (whose home is that EFS home already)."""
    if not app.get("SpaceName"):
        return None
    sharing = (_space(store, app).get("SpaceSharingSettings") or {}).get("SharingType")
    return _owner(store, app) if sharing == "Private" else None


def stream_name(app: dict[str, Any]) -> str:
    owner = app.get("SpaceName") or app.get("UserProfileName")
    return f"{app['DomainId']}/{owner}/{app['AppType']}/{app['AppName']}/LifecycleConfigOnStart"


class DockerAppRuntime:
    """Runs apps as containers; reports status changes through `report(arn, status, reason)`."""

    def __init__(
        self,
        settings: RuntimeSettings,
        store_snapshot: Any,
        report: Any,
        credentials: AppCredentials | None = None,
    ) -> None:
        self.settings = settings
        self.snapshot = store_snapshot  # () -> the control plane's tables
        self.report = report
        self.credentials = credentials
        self._gateway_volume: str | None = None
        self._engine_image: str | None = None
        self._lock = threading.Lock()
        self._gates: dict[str, tuple[gate.Gate, str]] = {}  # app ARN -> (gate, landing)
        # Unix socket paths are limited to 107 bytes: keep them short, apart from the state.
        state_digest = hashlib.sha256(str(settings.state_dir).encode()).hexdigest()[:10]
        self.socket_root = Path(tempfile.gettempdir()) / f"smstudio-{state_digest}"
        self.endpoint_dir = self.socket_root / "endpoint"
        self._endpoint_relay = self._serve_endpoint()

    def _serve_endpoint(self) -> socket.socket:
        """Host side of the AWS endpoint relay: a socket in a folder every app mounts."""
        self.endpoint_dir.mkdir(parents=True, exist_ok=True)
        self.socket_root.chmod(0o700)  # apps' sockets: for the runtime's gates only
        self.endpoint_dir.chmod(0o755)
        shutil.copyfile(relay.__file__, self.endpoint_dir / "relay.py")
        # the code apps' Docker engines run (relay for the registry, Studio's proxy)
        self.engine_code = self.socket_root / "engine-code"
        self.engine_code.mkdir(exist_ok=True)
        self.engine_code.chmod(0o755)
        for module in (relay, dockerproxy):
            shutil.copyfile(
                str(module.__file__), self.engine_code / Path(str(module.__file__)).name
            )
        # ECR's names in apps with Docker lead here: the local registry
        registry_port = self.settings.registry.rsplit(":", 1)[1]
        self._registry_relay = relay.start(
            f"unix:{self.endpoint_dir / 'registry'}.sock", f"tcp:{registry_port}"
        )
        port = self.settings.aws_endpoint.rsplit(":", 1)[1]
        return relay.start(f"unix:{self.endpoint_dir / 'aws'}.sock", f"tcp:{port}")

    def reconcile(self) -> dict[str, str]:
        """At start, after the local Studio stopped (or crashed): each app's recorded
        status made true again. Serving apps whose containers still run get their door
        back; an app that was starting is failed (its start was cut short) and one that
        was being deleted is deleted; an app whose container is gone is failed. What was
        done, by app ARN."""
        done = {}
        for app in self.snapshot().get("apps", {}).values():
            arn, status = app["AppArn"], app["Status"]
            alive = bool(self._containers_of(arn))
            if status == "InService" and alive:
                self._open_gate(app)
                self.report(arn, "InService", None, self._endpoint(arn))
                done[arn] = "reopened"
            elif status in ("Pending", "InService"):
                self._remove(arn)
                why = "was starting" if status == "Pending" else "was serving"
                reason = f"The local Studio stopped while the app {why}; start the app again"
                self.report(arn, "Failed", reason)
                done[arn] = "failed"
            elif status == "Deleting":
                self._remove(arn)
                self.report(arn, "Deleted")
                done[arn] = "deleted"
        return done

    def watch(self, interval: float = 5.0) -> threading.Thread:
        """Fail serving apps whose container stopped (a crash, dockerd restarted), as
        Studio reports an app whose instance went away."""

        def loop() -> None:
            while True:
                time.sleep(interval)
                with contextlib.suppress(Exception):  # Docker away for a moment: next round
                    for app in self.snapshot().get("apps", {}).values():
                        arn = app["AppArn"]
                        if app["Status"] == "InService" and not self._containers_of(arn):
                            self._remove(arn)
                            self.report(arn, "Failed", "The app's container stopped")

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def watch_idle(
        self, poll: float = IDLE_POLL_SECONDS, minute: float = IDLE_MINUTE_SECONDS
    ) -> threading.Thread:
        """Studio's idle shutdown: every `poll` seconds each serving JupyterLab and Code
        Editor app with IdleSettings is asked GET /api/idle; one whose last activity is
        older than its timeout is deleted, as Studio does. An app that does not answer is
        left alone (Studio cannot tell either)."""

        def loop() -> None:
            while True:
                time.sleep(poll)
                with contextlib.suppress(Exception):  # next round
                    self.shut_idle(minute)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def shut_idle(self, minute: float = IDLE_MINUTE_SECONDS) -> list[str]:
        """One round of the idle shutdown; the ARNs of the apps deleted."""
        store = self.snapshot()
        gone = []
        for app in store.get("apps", {}).values():
            if app["Status"] != "InService":
                continue
            timeout = idle_timeout(store, app)
            if timeout is None:
                continue
            answer = unix_request(self._app_dir(app) / "app.sock", facts.IDLE_PATH[app["AppType"]])
            last = last_active(answer) if answer is not None else None
            if last is not None and time.time() - last > timeout * minute:
                self.report(app["AppArn"], "Deleting")
                self._stop(app)
                gone.append(app["AppArn"])
        return gone

    # InstanceHost protocol (the control plane's SSM managed instances)
    @staticmethod
    def _containers_of(arn: str, stopped: bool = False, parts: bool = False) -> list[Any]:
        """The app's container: running, and with `stopped` stopped too; with `parts`, its
        Docker engine too."""
        found = dockerhost.client().containers.list(
            all=stopped, filters={"label": f"{LABEL}={arn}"}
        )
        return [c for c in found if parts or engines.PART_LABEL not in c.labels]

    def online(self, app_arn: str) -> bool:
        return bool(self._containers_of(app_arn))

    def run_as_root(self, app_arn: str, script: str, timeout: float) -> tuple[int, str, str]:
        """Run Command's AWS-RunShellScript: bash as root in the app's container."""
        running = self._containers_of(app_arn)
        if not running:
            raise RuntimeError(f"no running container for {app_arn}")
        box = running[0]
        command = ["timeout", str(max(1, int(timeout))), "bash", "-c", script]
        done = box.exec_run(command, user="root", demux=True)
        out, err = done.output
        return (
            done.exit_code,
            (out or b"").decode(errors="replace"),
            (err or b"").decode(errors="replace"),
        )

    # Docker engines' doors (smstudio.teamops.dockerhost), as SSM managed instances
    @staticmethod
    def _door(**labels: str) -> Any | None:
        found = dockerhost.client().containers.list(
            filters={"label": [f"{k}={v}" if v else k for k, v in labels.items()]}
        )
        return found[0] if found else None

    def door_key(self, container: str) -> str | None:
        """The host key of a running door container (what its registration maps to)."""
        with contextlib.suppress(docker.errors.APIError):
            box = dockerhost.client().containers.get(container)
            key = box.labels.get(LABEL, "")
            if box.status == "running" and DOOR_SOCKET in box.labels and key.startswith(DOOR_KEY):
                return str(key)
        return None

    def door_socket(self, key: str) -> str | None:
        if not key.startswith(DOOR_KEY):
            return None
        box = self._door(**{LABEL: key, DOOR_SOCKET: ""})
        return str(box.labels[DOOR_SOCKET]) if box is not None else None

    def docker_host_info(self) -> dict[str, str]:
        return {
            "CodeDir": str(self.engine_code),
            "EndpointDir": str(self.endpoint_dir),
            "StateDir": str(self.socket_root / "hosts"),
        }

    # the presigned URL's end
    def login_url(self, app_arn: str) -> str | None:
        with self._lock:
            found = self._gates.get(app_arn)
        if found is None:
            return None
        door, landing = found
        return door.login_url(landing)

    def _endpoint(self, app_arn: str) -> str:
        door, landing = self._gates[app_arn]
        return f"http://127.0.0.1:{door.port}{landing}"

    # AppRuntime protocol
    def delete_home(self, domain_id: str, space: str) -> None:
        """DeleteSpace: the space's home goes with it (its EBS volume, in Studio)."""
        engine = dockerhost.client()
        for name in (home_volume(domain_id, space, None), engines.storage_volume(domain_id, space)):
            for volume in engine.volumes.list(filters={"name": name}):
                if volume.name == name:
                    with contextlib.suppress(docker.errors.APIError):
                        volume.remove(force=True)

    def start(self, app: dict[str, Any]) -> None:
        threading.Thread(target=self._start, args=(app,), daemon=True).start()

    def stop(self, app: dict[str, Any]) -> None:
        threading.Thread(target=self._stop, args=(app,), daemon=True).start()

    def _stop(self, app: dict[str, Any]) -> None:
        self._remove(app["AppArn"])
        self.report(app["AppArn"], "Deleted")

    def _remove(self, arn: str) -> None:
        with self._lock:
            found = self._gates.pop(arn, None)
        if found is not None:
            found[0].close()
        if self.credentials is not None:
            self.credentials.forget_app(arn)
        engine = dockerhost.client()
        for box in self._containers_of(arn, stopped=True, parts=True):
            with contextlib.suppress(docker.errors.NotFound):
                box.remove(force=True)
        for network in engine.networks.list(filters={"label": f"{LABEL}={arn}"}):
            remove_network(network)

    def _start(self, app: dict[str, Any]) -> None:
        try:
            self._run(app)
            self.report(app["AppArn"], "InService", None, self._endpoint(app["AppArn"]))
        except AppFailed as failure:
            self._remove(app["AppArn"])
            self.report(app["AppArn"], "Failed", str(failure)[:1024])
        except Exception as exc:  # never leave an app Pending forever
            self._remove(app["AppArn"])
            self.report(
                app["AppArn"], "Failed", f"The local Studio could not start the app: {exc!r}"[:1024]
            )

    def _run(self, app: dict[str, Any]) -> None:
        """Start the app and open its gate."""
        plan = plan_app(self.snapshot(), app, self.settings.registry)
        engine = dockerhost.client()
        try:
            engine.images.pull(plan.image)
        except docker.errors.APIError as exc:
            raise AppFailed(f"Unable to pull image {plan.image}: {exc.explanation}") from exc
        self._check_image(plan, app["AppType"])
        container = self._create(app, plan)
        container.start()
        if plan.efs_owner:  # a new EFS home is the user's, as Studio makes it
            target = f"{plan.mount_path}/{EFS_HOME}"
            container.exec_run(["chown", f"{plan.uid}:{plan.gid}", target], user="0")
        self._start_relays(app, plan, container)
        if plan.docker:
            self._start_engine(app, plan, container)
        if plan.lifecycle:
            self._lifecycle(app, plan, container)
        if plan.docker:
            self._engine_ready(app, container)
        container.exec_run(["touch", HOLD_FLAG], user=f"{plan.uid}:{plan.gid}")
        socket_path = self._app_dir(app) / "app.sock"
        path = facts.HEALTH_PATH.get(app["AppType"], "/")

        def healthy() -> bool | None:
            return True if unix_get(socket_path, path) == 200 else None

        if not containers.poll(
            healthy, self.settings.health_timeout, alive=lambda: containers.is_running(container)
        ):
            raise AppFailed(
                f"The app did not pass its health check (GET {path} on port 8888): "
                + containers.exit_summary(container)
            )
        self._open_gate(app)

    def _open_gate(self, app: dict[str, Any]) -> None:
        door = gate.Gate(app["AppArn"], str(self._app_dir(app) / "app.sock"))
        with self._lock:
            old = self._gates.pop(app["AppArn"], None)
            self._gates[app["AppArn"]] = (door, facts.LANDING_PATH.get(app["AppType"], "/"))
        if old is not None:
            old[0].close()

    def _app_dir(self, app: dict[str, Any]) -> Path:
        digest = hashlib.sha256(app["AppArn"].encode()).hexdigest()[:12]
        return self.socket_root / f"app-{digest}"

    def _start_relays(self, app: dict[str, Any], plan: AppPlan, container: Any) -> None:
        """The container side of the relays (the AWS endpoint in, the app out), started
        before the lifecycle script so it can call AWS; waits until they listen."""
        pairs = [
            f"tcp:{ENDPOINT_PORT}=unix:{ENDPOINT_DIR}/aws.sock",
            f"unix:{APP_SOCKET_DIR}/app.sock=tcp:8888",
        ]
        ready = "/tmp/.smstudio-relay-ready"
        container.exec_run(
            ["python3", f"{ENDPOINT_DIR}/relay.py", *pairs],
            user=f"{plan.uid}:{plan.gid}",
            environment={"RELAY_READY_FILE": ready},
            detach=True,
        )

        def listening() -> bool | None:
            return container.exec_run(["test", "-e", ready]).exit_code == 0 or None

        if not containers.poll(listening, 20, alive=lambda: containers.is_running(container)):
            raise AppFailed(
                "The app's connection to the AWS endpoint did not start (python3 missing from "
                "the image?): " + containers.exit_summary(container)
            )

    def _docker_dir(self, app: dict[str, Any]) -> Path:
        digest = hashlib.sha256(app["AppArn"].encode()).hexdigest()[:12]
        return self.socket_root / f"docker-{digest}"

    def _start_engine(self, app: dict[str, Any], plan: AppPlan, container: Any) -> None:
        """The app's Docker engine, in its network namespace; ready is checked later
        (it starts while the lifecycle script runs)."""
        assert plan.docker is not None
        with self._lock:
            if self._engine_image is None:
                self._engine_image = engines.build(self.settings.gateway_base_image)
        owner = app.get("SpaceName") or app.get("UserProfileName")
        options = engines.run_options(
            plan.docker,
            container.id,
            self._docker_dir(app),
            self.engine_code,
            self.endpoint_dir,
            home_volume(app["DomainId"], app.get("SpaceName"), app.get("UserProfileName")),
            engines.storage_volume(app["DomainId"], str(owner)),
            {LABEL: app["AppArn"], containers.LABEL: "app"},
            f"smstudio-{app['DomainId']}-{owner}-{app['AppType'].lower()}-{app['AppName']}-docker",
        )
        dockerhost.client().containers.run(**options)

    def _engine_ready(self, app: dict[str, Any], container: Any) -> None:
        proxy = self._docker_dir(app) / "proxy.sock"
        engine = [c for c in self._containers_of(app["AppArn"], stopped=True, parts=True)
                  if engines.PART_LABEL in c.labels]  # fmt: skip
        if not engine:
            raise AppFailed("The app's Docker engine did not start")

        def ready() -> bool | None:
            return proxy.exists() or None

        if not containers.poll(ready, 60, alive=lambda: containers.is_running(engine[0])):
            raise AppFailed(
                "The app's Docker engine did not start: " + containers.exit_summary(engine[0])
            )

    def _check_image(self, plan: AppPlan, kind: str) -> None:
        script = "id -u; id -g"
        if plan.kernels:
            names = " ".join(plan.kernels)
            script += (
                f"; for k in {names}; do test -f /usr/local/share/jupyter/kernels/$k/kernel.json"
                f" || test -f /usr/share/jupyter/kernels/$k/kernel.json || echo missing:$k; done"
            )
        output = (
            dockerhost.client()
            .containers.run(
                plan.image, ["-c", script], entrypoint=["/bin/sh"], remove=True, network_mode="none"
            )
            .decode()
        )
        lines = output.split()
        uid, gid = int(lines[0]), int(lines[1])
        if (uid, gid) != (plan.uid, plan.gid):
            raise AppFailed(
                f"The default user of the image is {uid}:{gid} but the AppImageConfig declares "
                f"DefaultUid {plan.uid} and DefaultGid {plan.gid}; they must match"
            )
        missing = [line.split(":", 1)[1] for line in lines[2:] if line.startswith("missing:")]
        if missing:
            raise AppFailed(
                f"KernelSpec(s) {', '.join(missing)} declared in the AppImageConfig not found "
                "in the image"
            )

    def _gateway(self) -> str:
        with self._lock:
            if self._gateway_volume is None:
                self._gateway_volume = kernel_gateway.ensure_volume(
                    self.settings.gateway_base_image
                )
            return self._gateway_volume

    def _credentials(self, app: dict[str, Any], plan: AppPlan) -> dict[str, str]:
        """The container credentials settings of the app's execution-role session."""
        if self.credentials is None:
            return {}
        if not plan.role:
            raise AppFailed("The domain or user profile has no ExecutionRole")
        token = secrets.token_urlsafe(32)
        try:
            self.credentials.register_app(app["AppArn"], token, plan.role, plan.source_identity)
        except Exception as exc:
            raise AppFailed(f"SageMaker could not assume the execution role: {exc}") from exc
        return {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{ENDPOINT_PORT}"
            f"{CREDENTIALS_PATH}",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        }

    def _network(self, app: dict[str, Any]) -> str:
        """A network of the app's own (apps do not reach each other), joined by the
        shared services (containers labelled io.smstudio.app-service=ALIAS)."""
        engine = dockerhost.client()
        digest = hashlib.sha256(app["AppArn"].encode()).hexdigest()[:12]
        name = f"smstudio-app-{digest}"
        for stale in engine.networks.list(names=[name]):
            with contextlib.suppress(docker.errors.APIError):
                stale.remove()
        network = engine.networks.create(
            name, driver="bridge", labels={LABEL: app["AppArn"], containers.LABEL: "app"}
        )
        for service in engine.containers.list(filters={"label": SERVICE_LABEL}):
            network.connect(service, aliases=[service.labels[SERVICE_LABEL]])
        return name

    def _create(self, app: dict[str, Any], plan: AppPlan) -> Any:
        engine = dockerhost.client()
        owner = app.get("SpaceName") or app.get("UserProfileName")
        home = home_volume(app["DomainId"], app.get("SpaceName"), app.get("UserProfileName"))
        key = f"{app['DomainId']}-{owner}-{app['AppType']}-{app['AppName']}"
        metadata = self.settings.state_dir / "metadata" / f"{key}.json"
        metadata.parent.mkdir(parents=True, exist_ok=True)
        metadata.write_text(
            json.dumps(
                {
                    "AppType": app["AppType"],
                    "DomainId": app["DomainId"],
                    "UserProfileName": app.get("UserProfileName", ""),
                    "SpaceName": app.get("SpaceName", ""),
                    "ResourceArn": app["AppArn"],
                    "ResourceName": app["AppName"],
                    "AppImageVersion": plan.image,
                    "ExecutionRoleArn": plan.role or "",
                }
            )
        )
        self._remove(app["AppArn"])
        env = {
            **plan.env,
            "SAGEMAKER_APP_TYPE": app["AppType"],
            "SAGEMAKER_APP_TYPE_LOWERCASE": app["AppType"].lower(),
            "SAGEMAKER_SPACE_NAME": app.get("SpaceName", ""),
            "SAGEMAKER_USER_PROFILE_NAME": app.get("UserProfileName", ""),
            "SAGEMAKER_DOMAIN_ID": app["DomainId"],
            "AWS_REGION": self.settings.region,
            "AWS_DEFAULT_REGION": self.settings.region,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ENDPOINT_PORT}",
            "HOME": plan.mount_path,
            **self._credentials(app, plan),
        }
        app_dir = self._app_dir(app)
        shutil.rmtree(app_dir, ignore_errors=True)
        app_dir.mkdir(parents=True, mode=0o700)
        os.chown(app_dir, plan.uid, plan.gid)  # the app's user makes its socket there
        volumes: dict[str, dict[str, str]] = {
            home: {"bind": plan.mount_path, "mode": "rw"},
            str(metadata): {"bind": "/opt/ml/metadata/resource-metadata.json", "mode": "ro"},
            str(self.endpoint_dir): {"bind": ENDPOINT_DIR, "mode": "ro"},
            str(app_dir): {"bind": APP_SOCKET_DIR, "mode": "rw"},
        }
        if plan.efs_owner:
            efs = home_volume(app["DomainId"], None, plan.efs_owner)
            volumes[efs] = {"bind": f"{plan.mount_path}/{EFS_HOME}", "mode": "rw"}
        extra: dict[str, Any] = {}
        if plan.docker:  # Studio's Docker proxy socket, and ECR's names on loopback
            docker_dir = self._docker_dir(app)
            shutil.rmtree(docker_dir, ignore_errors=True)
            docker_dir.mkdir(parents=True, mode=0o755)
            volumes[str(docker_dir)] = {"bind": engines.SOCKET_DIR, "mode": "ro"}
            env["DOCKER_HOST"] = engines.DOCKER_HOST
            extra["extra_hosts"] = plan.docker.ecr_hosts()
        network: dict[str, Any] = (
            {"network_mode": "none"} if plan.vpc_only else {"network": self._network(app)}
        )
        if app["AppType"] == "KernelGateway":
            options = kernel_gateway.run_options(self._gateway())
            server = [*options["entrypoint"], *options["command"]]
            env.update(options["environment"])
            volumes.update(options["volumes"])
        else:
            image = engine.images.get(plan.image).attrs["Config"]
            server = [
                *(plan.entrypoint or image.get("Entrypoint") or []),
                *(plan.arguments if plan.arguments is not None else (image.get("Cmd") or [])),
            ]
        hold = f'while [ ! -e {HOLD_FLAG} ]; do sleep 0.1; done; exec "$@"'
        return engine.containers.create(
            plan.image,
            entrypoint=["/bin/sh", "-c", hold, "smstudio-app"],
            command=server,
            user=f"{plan.uid}:{plan.gid}",
            environment=env,
            volumes=volumes,
            labels={LABEL: app["AppArn"], containers.LABEL: "app"},
            name=f"smstudio-{app['DomainId']}-{owner}-{app['AppType'].lower()}-{app['AppName']}",
            **network,
            **extra,
        )

    def _lifecycle(self, app: dict[str, Any], plan: AppPlan, container: Any) -> None:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            data = (plan.lifecycle or "").encode()
            info = tarfile.TarInfo(LCC_PATH.lstrip("/").split("/", 1)[1])
            info.size, info.mode, info.uid, info.gid = len(data), 0o755, plan.uid, plan.gid
            tar.addfile(info, io.BytesIO(data))
        container.put_archive("/tmp", archive.getvalue())
        result: dict[str, Any] = {}

        def run() -> None:
            done = container.exec_run(
                ["/bin/bash", LCC_PATH], user=f"{plan.uid}:{plan.gid}", demux=False
            )
            result["code"], result["output"] = (
                done.exit_code,
                (done.output or b"").decode(errors="replace"),
            )

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(self.settings.lifecycle_timeout)
        timed_out = worker.is_alive()
        if timed_out:
            container.kill()
        self._log(app, result.get("output", ""))
        if timed_out:
            raise AppFailed(
                "The lifecycle configuration script did not finish within "
                f"{self.settings.lifecycle_timeout:.0f} seconds; see CloudWatch log stream "
                + stream_name(app)
            )
        if result["code"] != 0:
            raise AppFailed(
                f"The lifecycle configuration script failed with exit code {result['code']}; "
                f"see CloudWatch log group {LOG_GROUP}, stream {stream_name(app)}"
            )

    def _log(self, app: dict[str, Any], output: str) -> None:
        clients = aws.Aws(
            region=self.settings.region,
            endpoints={"logs": self.settings.aws_endpoint},
            keys=self.settings.service_keys,
        )
        logs = clients.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=LOG_GROUP)
        stream = stream_name(app)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        stamp = int(time.time() * 1000)
        lines = output.splitlines() or ["(no output)"]
        events = [{"timestamp": stamp, "message": line} for line in lines]
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events)


def home_volume(domain_id: str, space: str | None, profile: str | None) -> str:
    """A space's home (new Studio), or a user's (Classic): never the same volume."""
    return f"smstudio-home-{domain_id}-space-{space}" if space else (
        f"smstudio-home-{domain_id}-user-{profile}")  # fmt: skip


def remove_network(network: Any) -> None:
    """Remove an app's network, the shared services it was given first."""
    with contextlib.suppress(docker.errors.APIError):
        network.reload()
        for member in network.containers:
            network.disconnect(member, force=True)
        network.remove()


def unix_request(path: Path, url_path: str, timeout: float = 5.0) -> str | None:
    """The body of a 200 answer to GET url_path from a server on a Unix socket; None
    otherwise."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(f"GET {url_path} HTTP/1.0\r\nHost: 127.0.0.1:8888\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        return None
    return body.decode(errors="replace")


def unix_get(path: Path, url_path: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET url_path from a server on a Unix socket; None when it does
    not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(f"GET {url_path} HTTP/1.0\r\nHost: 127.0.0.1:8888\r\n\r\n".encode())
            head = sock.recv(256).split(b"\r\n", 1)[0].split()
    except OSError:
        return None
    return int(head[1]) if len(head) > 1 and head[1].isdigit() else None
