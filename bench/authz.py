"""What authorization costs per request in the local Studio: the same requests, made by a
user with smstudio's own user policy, timed with the gateway enforcing (SigV4 checked,
every action, resource and condition key evaluated) and with authorization switched off
(signatures still checked), in alternating batches of one run. Also the time the gateway
itself spends authenticating and authorizing. No Docker needed.

    .venv/bin/python bench/authz.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smstudio.core import aws
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.ssm import Ssm
from smstudio.local.controlplane.store import Store
from smstudio.local.gateway.identities import Identities
from smstudio.local.gateway.motohost import Moto
from smstudio.local.gateway.server import Gateway, GatewayServer
from smstudio.register import iam

REGION, ACCOUNT = "us-east-1", "123456789012"
TYPES = ["ml.t3.medium"]


def setup(state: Path) -> tuple[GatewayServer, aws.Aws, str]:
    """A gateway with a domain, alice's profile and space, and alice's role."""
    store = Store(state / "studio.json")
    plane = ControlPlane(store)
    moto = Moto(plane.account, None)
    identities = Identities(store, moto, plane.account)
    server = GatewayServer(Gateway(plane, Ssm(store, plane.account), moto, identities)).start()
    everything = {s: server.url for s in ("sagemaker", "ssm", "sts", "iam", "secretsmanager")}
    admin = aws.Aws(region=REGION, endpoints=everything, keys=identities.root_key())
    sm = admin.client("sagemaker")
    domain = sm.create_domain(DomainName="bench", AuthMode="IAM", SubnetIds=["subnet-1"],
                              VpcId="vpc-1", DefaultUserSettings={"ExecutionRole":
                              f"arn:aws:iam::{ACCOUNT}:role/x"})["DomainId"]  # fmt: skip
    sm.create_user_profile(DomainId=domain, UserProfileName="alice",
                           Tags=[{"Key": iam.TAG, "Value": "alice"}])  # fmt: skip
    sm.create_space(DomainId=domain, SpaceName="alice-space",
                    OwnershipSettings={"OwnerUserProfileName": "alice"},
                    SpaceSharingSettings={"SharingType": "Private"})  # fmt: skip
    names = iam.Names("bench")
    policy = iam.user_policy(iam.Scope(ACCOUNT, REGION, domain), TYPES)
    client = admin.client("iam")
    client.create_role(RoleName=names.user_role("alice"),
                       AssumeRolePolicyDocument=json.dumps(iam.user_trust_policy(ACCOUNT)),
                       Tags=[{"Key": iam.TAG, "Value": "alice"}])  # fmt: skip
    client.put_role_policy(RoleName=names.user_role("alice"), PolicyName="p",
                           PolicyDocument=json.dumps(policy))  # fmt: skip
    made = admin.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{names.user_role('alice')}", RoleSessionName="alice"
    )["Credentials"]
    keys = {k: made[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    return server, aws.Aws(region=REGION, endpoints=everything, keys=keys), domain


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="per kind of request and mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smstudio-bench-") as tmp:
        server, alice, domain = setup(Path(tmp))
        sm, ssm = alice.client("sagemaker"), alice.client("ssm")
        calls: dict[str, Callable[[], Any]] = {
            "DescribeSpace (own, resource tags)": lambda: sm.describe_space(
                DomainId=domain, SpaceName="alice-space"),
            "DescribeUserProfile (tag condition)": lambda: sm.describe_user_profile(
                DomainId=domain, UserProfileName="alice"),
            "ListApps (no resource)": lambda: sm.list_apps(DomainIdEquals=domain),
            "ssm DescribeInstanceInformation": ssm.describe_instance_information,
        }  # fmt: skip
        gateway = server.gateway
        timings: dict[tuple[str, bool], list[float]] = {}
        inside: list[float] = []
        for call in calls.values():  # warm up: connections, caches
            call()
        for batch in range(10):
            for enforce in ((True, False) if batch % 2 == 0 else (False, True)):
                gateway.enforce = enforce
                for name, call in calls.items():
                    for _ in range(args.requests // 10):
                        gateway.stats.seconds.clear()
                        started = time.perf_counter()
                        call()
                        took = time.perf_counter() - started
                        timings.setdefault((name, enforce), []).append(took)
                        if enforce:
                            inside += gateway.stats.seconds
        server.stop()
    ms = 1000.0
    print(f"{'request (as alice, smstudio user policy)':<40}{'enforcing':>22}{'not enforcing':>22}"
          f"{'overhead':>18}")  # fmt: skip
    columns = ("p50 ms", "p95 ms", "p50 ms", "p95 ms")
    print(f"{'':<40}" + "".join(f"{c:>11}" for c in columns) + f"{'p50 ms':>9}{'ratio':>9}")
    overheads = []
    for name in calls:
        on, off = timings[(name, True)], timings[(name, False)]
        p50_on, p50_off = statistics.median(on) * ms, statistics.median(off) * ms
        overheads.append(p50_on - p50_off)
        p95_on, p95_off = percentile(on, 0.95) * ms, percentile(off, 0.95) * ms
        print(f"{name:<40}{p50_on:>11.2f}{p95_on:>11.2f}{p50_off:>11.2f}{p95_off:>11.2f}"
              f"{p50_on - p50_off:>9.2f}{p50_on / p50_off:>8.2f}x")  # fmt: skip
    p50_inside, p95_inside = statistics.median(inside) * ms, percentile(inside, 0.95) * ms
    print(f"\nin the gateway, authenticate + authorize: p50 {p50_inside:.2f} ms, p95 "
          f"{p95_inside:.2f} ms ({len(inside)} requests)")  # fmt: skip
    worst = max(overheads)
    print(f"authorization overhead at p50: at most {worst:.2f} ms (goal <= 2 ms: "
          f"{'met' if worst <= 2 else 'NOT met'})")  # fmt: skip


if __name__ == "__main__":
    main()
