#!/usr/bin/env python3
"""Register this Studio app with SSM as a managed instance, so its owner can SSH in.

Run at every app start (after sshd, by ssh/start.sh) with the app's execution role:
1. the owner: the app's user profile (a private space's owner profile), which is the
   app session's SourceIdentity, the only SSHOwner the execution role may register, and
   its `studiouserid`, which the user policy compares `ssm:resourceTag/SSHOwner` with.
   A shared space acts for no single user: it is not registered (members use its
   terminal in the browser);
2. earlier registrations of this same app by this owner (tags SSHResourceArn, SSHOwner)
   are deregistered, so stale managed instances do not pile up (they cost money);
3. registration: sagemaker-ssh-helper's `sm-init-ssm` (CreateActivation with the tags,
   `amazon-ssm-agent -register`) and the agent started; in the local Studio, which has no
   agent, the same activation registered through its control plane.
Prints one log line per step; exits non-zero only when registration was attempted and
failed (the lifecycle script logs it and goes on).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import boto3

METADATA = Path("/opt/ml/metadata/resource-metadata.json")
HELPER_BIN = Path("/opt/smstudio/ssh-helper/bin")
ROLE = os.environ.get("SMSTUDIO_SSM_ROLE", "smstudio-ssm-instance")
OWNER_TAG = "SSHOwner"


def log(level: str, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} {level} ssh: {message}", flush=True)


def owner(sm: Any, meta: dict[str, Any]) -> str | None:
    """The app owner's profile name; None for a shared space or one without an owner."""
    profile = meta.get("UserProfileName") or ""
    if not profile and meta.get("SpaceName"):
        space = sm.describe_space(DomainId=meta["DomainId"], SpaceName=meta["SpaceName"])
        if space.get("SpaceSharingSettings", {}).get("SharingType") == "Shared":
            return None
        profile = space.get("OwnershipSettings", {}).get("OwnerUserProfileName", "")
    return str(profile) or None


def deregister_previous(ssm: Any, app_arn: str, user: str) -> list[str]:
    gone = []
    pages = ssm.get_paginator("describe_instance_information").paginate(
        Filters=[
            {"Key": "tag:SSHResourceArn", "Values": [app_arn]},
            {"Key": f"tag:{OWNER_TAG}", "Values": [user]},
        ]
    )
    for page in pages:
        for instance in page["InstanceInformationList"]:
            ssm.deregister_managed_instance(InstanceId=instance["InstanceId"])
            gone.append(instance["InstanceId"])
    return gone


def tags(meta: dict[str, Any], user: str, creator: str) -> list[dict[str, str]]:
    """The tags sm-init-ssm puts on the activation (and so on the managed instance)."""
    return [
        {"Key": OWNER_TAG, "Value": user},
        {"Key": "SSHCreator", "Value": creator},
        {"Key": "SSHTimestamp", "Value": str(int(time.time()))},
        {"Key": "SSHResourceName", "Value": meta.get("ResourceName", "")},
        {"Key": "SSHResourceArn", "Value": meta["ResourceArn"]},
    ]


def local_endpoint() -> str | None:
    """The local Studio's control plane (it serves SSM there), if that is where SSM is."""
    url = os.environ.get("AWS_ENDPOINT_URL_SSM") or os.environ.get("AWS_ENDPOINT_URL", "")
    return url if url and urlparse(url).hostname == "127.0.0.1" else None


def register_with_agent(user: str) -> str:
    """sagemaker-ssh-helper's sm-init-ssm, then the agent in the background."""
    env = {
        **os.environ,
        "SSH_SSM_ROLE": ROLE,
        "SSH_OWNER_TAG": user,
        "PATH": f"{HELPER_BIN}:{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        [str(HELPER_BIN / "sm-init-ssm"), "--sudo"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"sm-init-ssm failed: {(done.stderr or done.stdout).strip()[-500:]}")
    instance = next(
        (w for w in done.stdout.split() if w.startswith("mi-")), "(instance id not printed)"
    )
    logs = Path.home() / ".smstudio" / "logs" / "ssm-agent.log"
    with logs.open("ab") as out:
        subprocess.Popen(
            ["sudo", "-n", "amazon-ssm-agent"], stdout=out, stderr=out, start_new_session=True
        )
    return instance


def register_locally(ssm: Any, endpoint: str, activation_tags: list[dict[str, str]]) -> str:
    made = ssm.create_activation(
        Description="Activation for Amazon SageMaker integration with SSH and IDEs",
        IamRole=ROLE,
        RegistrationLimit=1,
        Tags=activation_tags,
    )
    body = {
        "ActivationId": made["ActivationId"],
        "ActivationCode": made["ActivationCode"],
        "ComputerName": os.uname().nodename,
    }
    request = Request(
        f"{endpoint}/_local/ssm/register",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            # the agent registers where it runs: this app, as its credentials say
            "Authorization": os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN", ""),
        },
    )
    with urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["InstanceId"])


def main() -> int:
    if not METADATA.exists():
        log("INFO", "not in a Studio app (no resource metadata): no SSM registration")
        return 0
    meta = json.loads(METADATA.read_text())
    tools = ("amazon-ssm-agent", "aws")
    agent = all(shutil.which(t) for t in tools) and (HELPER_BIN / "sm-init-ssm").exists()
    endpoint = local_endpoint()
    if not agent and endpoint is None:
        log(
            "INFO",
            "no SSM agent/AWS CLI/sagemaker-ssh-helper in this image (build it with the bake "
            "variables SSM_AGENT_URL and AWSCLI_URL): SSH over SSM is not available",
        )
        return 0
    session = boto3.session.Session()
    sm, ssm = session.client("sagemaker"), session.client("ssm")
    user = owner(sm, meta)
    if user is None:
        log("INFO", "a shared space acts for no single user: no SSH registration (members "
            "use its terminal in the browser)")
        return 0
    gone = deregister_previous(ssm, meta["ResourceArn"], user)
    if gone:
        log("INFO", f"deregistered this app's earlier managed instances: {', '.join(gone)}")
    if agent:
        instance = register_with_agent(user)
    else:
        assert endpoint is not None
        creator = session.client("sts").get_caller_identity()["UserId"]
        instance = register_locally(ssm, endpoint, tags(meta, user, creator))
    log("INFO", f"registered with SSM as {instance} (SSHOwner={user})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as stop:
        if isinstance(stop.code, str):
            log("ERROR", stop.code)
            sys.exit(1)
        raise
    except Exception as exc:  # logged; the lifecycle script goes on
        log("ERROR", f"SSM registration failed: {exc!r}")
        sys.exit(1)
