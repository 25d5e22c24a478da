"""Carry out a plan: exactly its changes, in order, each call as the plan wrote it (a
domain the plan creates gives its id to the calls after it). The steps smstudio runs
itself: push an image and add its version (waiting until it is CREATED), wait for a new
domain, delete a space or profile with its apps. A failure stops the run; running
`apply` again reads the account afresh and finishes the rest.

For the fault tests, SMSTUDIO_TEST_KILL_AFTER_CALLS=N kills the process (SIGKILL) right
after its N-th call that changes something, and SMSTUDIO_TEST_PAUSE_AFTER_CALLS=N:FILE
creates FILE after the N-th call and waits (up to 5 minutes) until FILE is gone, so a
test can break the endpoint at an exact point of the run.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio.core import aws, dockerhost, facts, wait
from smstudio.core.errors import SmstudioError
from smstudio.images import push
from smstudio.register import reminders
from smstudio.register.plan import Change, Plan

KILL_AFTER = "SMSTUDIO_TEST_KILL_AFTER_CALLS"
PAUSE_AFTER = "SMSTUDIO_TEST_PAUSE_AFTER_CALLS"
LIVE_APP = ("Pending", "InService", "Deleting")
HOME_APP = "smstudio-delete-home"
# The lifecycle script of the app that empties a leaving user's home (its mount path). It
# ends the app on purpose (a non-zero exit): no server starts, so nothing is written there
# again; its log says whether the home was emptied.
EMPTIED = "smstudio: emptied"
EMPTY_HOME = f"""#!/bin/bash
# smstudio apply --prune --delete-home: this user left the team; their home goes too.
set -uo pipefail
home="${{HOME:-/home/sagemaker-user}}"
find "$home" -mindepth 1 -maxdepth 1 -exec rm -rf {{}} + 2>/dev/null
if [ -n "$(ls -A "$home")" ]; then
  sudo -n find "$home" -mindepth 1 -maxdepth 1 -exec rm -rf {{}} + 2>/dev/null || true
fi
if [ -n "$(ls -A "$home")" ]; then
  echo "smstudio: could not empty $home: $(ls -A "$home" | head -5 | tr '\\n' ' ')"
  exit 1
fi
echo "{EMPTIED} $home"
exit 3  # the app's work is done: it is not to serve
"""


def home_config_name(domain_id: str, user: str) -> str:
    digest = hashlib.sha256(f"{domain_id}/{user}".encode()).hexdigest()[:12]
    return f"smstudio-delete-home-{digest}"


def fill(value: Any, outputs: dict[str, str]) -> Any:
    """The plan's `${name}` placeholders replaced by what earlier calls returned."""
    if isinstance(value, str):
        for name, found in outputs.items():
            value = value.replace("${" + name + "}", found)
        return value
    if isinstance(value, list):
        return [fill(v, outputs) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, outputs) for k, v in value.items()}
    return value


class Executor:
    def __init__(
        self,
        clients: aws.Aws,
        console: Console,
        version_timeout: float = 900,
        gone_timeout: float = 900,
        clock: wait.Clock = wait.REAL,
    ) -> None:
        self.clients = clients
        self.console = console
        self.version_timeout = version_timeout
        self.gone_timeout = gone_timeout
        self.clock = clock
        self._made: dict[str, Any] = {}
        self._calls = 0
        self._kill_after = int(os.environ.get(KILL_AFTER, "0") or 0)
        pause = os.environ.get(PAUSE_AFTER, "")
        self._pause_after, _, self._pause_file = pause.partition(":")

    def client(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self.clients.client(service)
        return self._made[service]

    def run(self, plan: Plan, started: Callable[[Change], None] = lambda _: None) -> list[Change]:
        outputs: dict[str, str] = {}
        done: list[Change] = []
        for change in plan.changes:
            started(change)
            for call in change.calls:
                params = fill(call.params, outputs)
                if call.service == "smstudio":
                    result = getattr(self, call.op)(**params)
                else:
                    result = getattr(self.client(call.service), call.op)(**params)
                for name, key in call.save.items():
                    outputs[name] = str(result[key])
                self._checkpoint()
            done.append(change)
        return done

    def _checkpoint(self) -> None:
        self._calls += 1
        if self._kill_after and self._calls >= self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if self._pause_file and str(self._calls) == self._pause_after:
            marker = Path(self._pause_file)
            marker.touch()
            wait.until(lambda: not marker.exists() or None, 300, 0.2)

    # --- steps of smstudio's own ---------------------------------------------------------

    def push_image_version(
        self,
        ImageName: str,
        LocalRef: str,
        Target: str,
        ImageId: str,
        ClientToken: str,
        Repository: str | None = None,
    ) -> dict[str, Any]:
        """Push the planned image (the same one: its config digest) to the team's
        repository and add it as the image's next version, CREATED before the run goes
        on. (A plan written before repositories were per team names none.)"""
        local = dockerhost.get_image(LocalRef)
        if local.id != ImageId:
            raise SmstudioError(
                f"{LocalRef} is another image than the plan's ({local.id[:19]}, planned "
                f"{ImageId[:19]})",
                "plan again: the image was rebuilt since the plan was made",
            )
        tag = LocalRef.rsplit(":", 1)[1]
        pushed = push.push(LocalRef, Target, tag, self.clients, self.console, Repository)
        sm = self.client("sagemaker")
        arn = sm.create_image_version(
            ImageName=ImageName, BaseImage=pushed.uri, ClientToken=ClientToken
        )["ImageVersionArn"]
        self._checkpoint()
        return self.wait_image_version(ImageName, int(arn.rsplit("/", 1)[-1]))

    def wait_image_version(self, ImageName: str, Version: int) -> dict[str, Any]:
        sm = self.client("sagemaker")
        seen: list[str] = []

        def settled() -> dict[str, Any] | None:
            found = sm.describe_image_version(ImageName=ImageName, Version=int(Version))
            seen.append(found["ImageVersionStatus"])
            if found["ImageVersionStatus"] == "CREATED":
                return dict(found)
            if found["ImageVersionStatus"].endswith("FAILED"):
                raise SmstudioError(
                    f"image {ImageName} version {Version} is {found['ImageVersionStatus']}: "
                    f"{found.get('FailureReason', '?')}",
                    "check the image was pushed to the BaseImage URI and the image role can "
                    "pull it; the domain was not changed",
                )
            return None

        with self.console.status(f"waiting for {ImageName} version {Version}", spinner="dots"):
            try:
                return wait.until(settled, self.version_timeout, 2, self.clock)
            except wait.TimedOut:
                raise SmstudioError(
                    f"image {ImageName} version {Version} still {seen[-1]}", "apply again later"
                ) from None

    def deploy_reminders(
        self,
        Configuration: dict[str, Any],
        CodeSha256: str,
        Create: bool,
        Code: bool,
        Config: bool,
        Tags: dict[str, str],
    ) -> dict[str, Any]:
        """Create the reminders' function from the package built here (the plan's code:
        its CodeSha256), or bring its code and configuration to the plan's."""
        code = reminders.package()
        if reminders.code_sha256(code) != CodeSha256:
            raise SmstudioError(
                "the reminders' code is not the code the plan was made with",
                "plan again: smstudio changed since the plan was made",
            )
        lam = self.client("lambda")
        name = Configuration["FunctionName"]
        if Create:

            def created() -> dict[str, Any] | None:
                try:
                    return dict(lam.create_function(**Configuration, Code={"ZipFile": code},
                                                    Tags=Tags))  # fmt: skip
                except lam.exceptions.InvalidParameterValueException as exc:
                    if "cannot be assumed" in str(exc):  # a new role takes a while to reach Lambda
                        return None
                    raise

            try:
                wait.until(created, 60, 3, self.clock)
            except wait.TimedOut:
                raise SmstudioError(
                    f"Lambda cannot assume the role {Configuration['Role']} yet",
                    "apply again in a minute",
                ) from None
            self._checkpoint()
        if Code:
            lam.update_function_code(FunctionName=name, ZipFile=code)
            self._checkpoint()
            self._function_ready(name)
        if Config:
            lam.update_function_configuration(**Configuration)
            self._checkpoint()
        return self._function_ready(name)

    def _function_ready(self, name: str) -> dict[str, Any]:
        lam = self.client("lambda")

        def ready() -> dict[str, Any] | None:
            found = lam.get_function_configuration(FunctionName=name)
            if found.get("State", "Active") == "Failed":
                raise SmstudioError(
                    f"the function {name} failed: {found.get('StateReason', '?')}",
                    "fix the cause and apply again",
                )
            busy = "InProgress" in (found.get("State"), found.get("LastUpdateStatus"))
            return None if busy or found.get("State") == "Pending" else dict(found)

        try:
            return wait.until(ready, self.version_timeout, 2, self.clock)
        except wait.TimedOut:
            raise SmstudioError(f"the function {name} is not ready", "apply again later") from None

    def wait_domain(self, DomainId: str) -> dict[str, Any]:
        sm = self.client("sagemaker")

        def ready() -> dict[str, Any] | None:
            found = sm.describe_domain(DomainId=DomainId)
            if found["Status"] == "InService":
                return dict(found)
            if found["Status"].endswith("Failed"):
                raise SmstudioError(
                    f"domain {DomainId} is {found['Status']}: {found.get('FailureReason', '?')}",
                    "fix the cause (VPC, subnets, the execution role), delete it, apply again",
                )
            return None

        with self.console.status(f"waiting for domain {DomainId}", spinner="dots"):
            try:
                return wait.until(ready, self.gone_timeout, 5, self.clock)
            except wait.TimedOut:
                raise SmstudioError(
                    f"domain {DomainId} is not InService yet", "apply again later"
                ) from None

    def delete_space(self, DomainId: str, SpaceName: str) -> dict[str, Any]:
        """The space's apps, then the space (its home goes with it)."""
        sm = self.client("sagemaker")
        self._delete_apps(DomainId, SpaceNameEquals=SpaceName)
        try:
            sm.delete_space(DomainId=DomainId, SpaceName=SpaceName)
        except sm.exceptions.ResourceNotFound:
            return {}
        self._checkpoint()
        self._gone(lambda: sm.describe_space(DomainId=DomainId, SpaceName=SpaceName))
        return {}

    def delete_user_profile(self, DomainId: str, UserProfileName: str) -> dict[str, Any]:
        """The profile's (Classic) apps, then the profile."""
        sm = self.client("sagemaker")
        self._delete_apps(DomainId, UserProfileNameEquals=UserProfileName)
        try:
            sm.delete_user_profile(DomainId=DomainId, UserProfileName=UserProfileName)
        except sm.exceptions.ResourceNotFound:
            return {}
        self._checkpoint()
        self._gone(
            lambda: sm.describe_user_profile(DomainId=DomainId, UserProfileName=UserProfileName)
        )
        return {}

    def delete_home(
        self, DomainId: str, UserProfileName: str, ImageArn: str, InstanceType: str
    ) -> dict[str, Any]:
        """Empty a leaving user's home (their EFS home, which AWS keeps when a profile is
        deleted and has no API to remove): a KernelGateway app of theirs mounts it and runs
        one lifecycle script that empties it, then goes."""
        sm = self.client("sagemaker")
        name = home_config_name(DomainId, UserProfileName)
        try:
            arn = sm.create_studio_lifecycle_config(
                StudioLifecycleConfigName=name,
                StudioLifecycleConfigContent=base64.b64encode(EMPTY_HOME.encode()).decode(),
                StudioLifecycleConfigAppType="KernelGateway",
            )["StudioLifecycleConfigArn"]
            self._checkpoint()
        except sm.exceptions.ResourceInUse:  # made by a run that stopped
            arn = sm.describe_studio_lifecycle_config(StudioLifecycleConfigName=name)[
                "StudioLifecycleConfigArn"
            ]
        domain = sm.describe_domain(DomainId=DomainId)["DefaultUserSettings"]
        images = (domain.get("KernelGatewayAppSettings") or {}).get("CustomImages", [])
        sm.update_user_profile(
            DomainId=DomainId,
            UserProfileName=UserProfileName,
            UserSettings={"KernelGatewayAppSettings": {"CustomImages": images,
                                                       "LifecycleConfigArns": [arn]}},
        )  # fmt: skip
        self._checkpoint()
        ident = {"DomainId": DomainId, "UserProfileName": UserProfileName,
                 "AppType": "KernelGateway", "AppName": HOME_APP}  # fmt: skip
        self._delete_apps(DomainId, UserProfileNameEquals=UserProfileName)
        sm.create_app(**ident, ResourceSpec={"InstanceType": InstanceType,
                      "SageMakerImageArn": ImageArn, "LifecycleConfigArn": arn})  # fmt: skip
        self._checkpoint()

        def finished() -> dict[str, Any] | None:
            found = sm.describe_app(**ident)
            return dict(found) if found["Status"] in ("InService", "Failed") else None

        with self.console.status(f"emptying {UserProfileName}'s home", spinner="dots"):
            try:
                found = wait.until(finished, self.gone_timeout, 2, self.clock)
            except wait.TimedOut:
                raise SmstudioError(
                    f"the app emptying {UserProfileName}'s home did not finish",
                    "apply again later",
                ) from None
        if found["Status"] != "Failed":
            sm.delete_app(**ident)
            self._checkpoint()
        self._gone(partial(sm.describe_app, **ident))
        said = self._lifecycle_log(ident)
        if not any(line.startswith(EMPTIED) for line in said):
            raise SmstudioError(
                f"{UserProfileName}'s home was not emptied: "
                + (next((s for s in said if s.startswith("smstudio:")), "") or
                   str(found.get("FailureReason", "no word from its lifecycle script"))),
                f"see CloudWatch Logs {facts.LCC_LOG_GROUP}, app {HOME_APP}; fix the cause "
                "and apply again",
            )  # fmt: skip
        return {}

    def _lifecycle_log(self, ident: dict[str, str]) -> list[str]:
        """What an app's lifecycle script printed (CloudWatch Logs, where Studio puts it)."""
        logs = self.client("logs")
        owner = ident.get("SpaceName") or ident.get("UserProfileName")
        stream = f"{ident['DomainId']}/{owner}/{ident['AppType']}/{ident['AppName']}/" \
                 "LifecycleConfigOnStart"  # fmt: skip
        try:
            events = logs.get_log_events(logGroupName=facts.LCC_LOG_GROUP, logStreamName=stream,
                                         startFromHead=True)["events"]  # fmt: skip
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [str(e["message"]).strip() for e in events]

    def delete_home_config(self, DomainId: str, UserProfileName: str) -> dict[str, Any]:
        """The home-emptying lifecycle config, once the profile that held it is gone."""
        sm = self.client("sagemaker")
        with contextlib.suppress(sm.exceptions.ResourceNotFound):
            sm.delete_studio_lifecycle_config(
                StudioLifecycleConfigName=home_config_name(DomainId, UserProfileName)
            )
        return {}

    def _delete_apps(self, domain_id: str, **owner: str) -> None:
        sm = self.client("sagemaker")
        live = []
        for page in sm.get_paginator("list_apps").paginate(DomainIdEquals=domain_id, **owner):
            live += [a for a in page["Apps"] if a["Status"] in LIVE_APP]
        for app in live:
            keys = ("DomainId", "SpaceName", "UserProfileName", "AppType", "AppName")
            ident = {k: app[k] for k in keys if app.get(k)}
            if app["Status"] != "Deleting":
                sm.delete_app(**ident)
                self._checkpoint()
            self._gone(partial(sm.describe_app, **ident))

    def _gone(self, describe: Callable[[], Any]) -> None:
        """Until describe() says Deleted (or Failed), or that there is no such thing."""

        def gone() -> bool | None:
            try:
                status = describe().get("Status")
            except Exception as exc:
                if "NotFound" in type(exc).__name__ or "does not exist" in str(exc):
                    return True
                raise
            return True if status in ("Deleted", "Failed") else None

        try:
            wait.until(gone, self.gone_timeout, 1, self.clock)
        except wait.TimedOut:
            raise SmstudioError(
                "a space, profile or app was not deleted in time", "apply again later"
            ) from None
