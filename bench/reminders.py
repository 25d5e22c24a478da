"""The reminder handler's time and AWS calls for a domain of 200 apps, against a baseline
of 20 from the same run: the local Studio in this process (gateway, control plane, moto;
no containers), reminders deployed by apply as the admin, apps of 10 users (a third in
their spaces) aged by the control plane's clock, a third of them past their threshold;
the handler runs with the Lambda role's own session and sends its emails to moto's SES.
No Docker needed.

    .venv/bin/python bench/reminders.py [--apps 200] [--baseline 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from smstudio.core import aws, config
from smstudio.local import adminapi
from smstudio.local.controlplane.operations import ControlPlane
from smstudio.local.controlplane.ssm import Ssm
from smstudio.local.controlplane.store import Store
from smstudio.local.gateway.identities import Identities
from smstudio.local.gateway.motohost import Moto
from smstudio.local.gateway.server import Gateway, GatewayServer
from smstudio.register import apply
from smstudio.teamops import reminders

USERS = 10
SERVICES = ("sagemaker", "sts", "iam", "ses", "events", "lambda", "logs", "ssm",
            "secretsmanager", "s3", "ecr")  # fmt: skip
TEAM = """
[domain]
name = "bench"
region = "us-east-1"
[defaults]
allowed_instance_types = ["ml.t3.medium", "ml.m5.large"]
[reminders]
sender = "ops@example.com"
admins = ["lead@example.com"]
[reminders.thresholds]
default = "1d"
"ml.t3.*" = "5d"
"""


def setup(state: Path) -> tuple[GatewayServer, dict[str, str], str]:
    Moto.reset()
    store = Store(state / "studio.json")
    plane = ControlPlane(store)
    moto = Moto(plane.account, None)
    identities = Identities(store, moto, plane.account)
    server = GatewayServer(Gateway(plane, Ssm(store, plane.account), moto, identities)).start()
    root = identities.root_key()
    users = "".join(f'[[users]]\nname = "u{n}"\nemail = "u{n}@example.com"\n' for n in range(USERS))
    path = state / "team.toml"
    path.write_text(TEAM + users)
    team, base = config.load(path)
    apply.run(team, base, clients(server, root), Console(stderr=True, quiet=True))
    sm = clients(server, root).client("sagemaker")
    return server, root, sm.list_domains()["Domains"][0]["DomainId"]


def clients(server: GatewayServer, keys: dict[str, str], hooks: Any = ()) -> aws.Aws:
    return aws.Aws(region="us-east-1", endpoints={s: server.url for s in SERVICES},
                   max_attempts=1, keys=keys, event_hooks=list(hooks))  # fmt: skip


def add_apps(server: GatewayServer, root: dict[str, str], domain_id: str, count: int,
             start: int) -> None:  # fmt: skip
    """`count` more apps: by user in turn; every third in the user's space; ages 2 h to
    7 d, so about a third are past their threshold."""
    sm = clients(server, root).client("sagemaker")
    for n in range(start, start + count):
        user, age = f"u{n % USERS}", [7200, 3 * 86400, 6 * 86400][n % 3]
        kind = "ml.t3.medium" if n % 2 else "ml.m5.large"
        adminapi.set_clock(server.url, root, -age)
        if n % 3 == 0:
            space = f"s{n}"
            sm.create_space(DomainId=domain_id, SpaceName=space,
                            OwnershipSettings={"OwnerUserProfileName": user},
                            SpaceSharingSettings={"SharingType": "Private"})  # fmt: skip
            sm.create_app(DomainId=domain_id, SpaceName=space, AppType="JupyterLab",
                          AppName="default", ResourceSpec={"InstanceType": kind})  # fmt: skip
        else:
            sm.create_app(DomainId=domain_id, UserProfileName=user, AppType="KernelGateway",
                          AppName=f"a{n}", ResourceSpec={"InstanceType": kind})  # fmt: skip
    adminapi.set_clock(server.url, root, 0)


Measured = tuple[float, Counter[str], int, int]


def measure(server: GatewayServer, root: dict[str, str], runs: int) -> Measured:
    """Median seconds of the handler, its calls (one run), apps seen, messages."""
    lam = clients(server, root).client("lambda")
    function = lam.get_function_configuration(FunctionName="smstudio-bench-reminders")
    settings = reminders.Settings.from_json(function["Environment"]["Variables"][reminders.ENV])
    made = server.gateway.identities.assume_as_service(
        function["Role"], "lambda.amazonaws.com", "bench", None, 3600)["Credentials"]  # fmt: skip
    keys = {k: made[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}
    seconds, calls = [], Counter[str]()
    report = None
    for _ in range(runs):
        counted: Counter[str] = Counter()

        def count(model: Any, _counted: Counter[str] = counted, **_: Any) -> None:
            _counted[f"{model.service_model.service_name}:{model.name}"] += 1

        made_clients = clients(server, keys, [("before-call.*.*", count)])
        sm, ses = made_clients.client("sagemaker"), made_clients.client("ses")
        started = time.perf_counter()
        report = reminders.run(sm, ses, settings)
        seconds.append(time.perf_counter() - started)
        calls = counted
    assert report is not None
    return statistics.median(seconds), calls, report.seen, len(report.messages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server, root, domain_id = setup(Path(folder))
        try:
            add_apps(server, root, domain_id, args.baseline, 0)
            small = measure(server, root, args.runs)
            add_apps(server, root, domain_id, args.apps - args.baseline, args.baseline)
            large = measure(server, root, args.runs)
        finally:
            server.stop()
    ops = sorted(set(small[1]) | set(large[1]))
    print(f"reminder handler, median of {args.runs} runs, as the Lambda role, local Studio")
    print(f"{'apps':>6}{'handler s':>11}{'calls':>7}{'messages':>10}  " +
          "  ".join(o.split(":")[1] for o in ops))  # fmt: skip
    for seen, (seconds, calls, found, messages) in ((args.baseline, small), (args.apps, large)):
        assert found == seen, (found, seen)
        cells = "  ".join(f"{calls.get(o, 0):>{len(o.split(':')[1])}}" for o in ops)
        print(f"{seen:>6}{seconds:>11.3f}{sum(calls.values()):>7}{messages:>10}  {cells}")


if __name__ == "__main__":
    main()
