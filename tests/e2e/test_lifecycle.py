"""smstudio's lifecycle scripts in the local Studio, as a data scientist lives them:
environments and system packages back after every restart (packages even without the
network), bad hooks and packages never stopping an app, git with a token from Secrets
Manager, idle KernelGateway apps deleted, home usage reported."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from smstudio import cli
from smstudio.core import dockerhost, project
from smstudio.core.sagemaker import SageMaker
from smstudio.local import runtime
from smstudio.register import gittoken
from smstudio.workspaces import jupyter, usage
from tests.e2e.conftest import (
    Studio,
    container_of,
    cookie,
    local_studio,
    log_lines,
    open_app,
    settle,
)
from tests.emulator.conftest import private_space
from tests.helpers import sh, wait_for

LIMIT = 120  # seconds: the lifecycle time limit here (Studio's is 300)
STARTER_BUCKET = "sagemaker-us-east-1-123456789012"  # the team bucket apps may read
STARTER = {"README.md": "# Welcome to the team\n", "examples/first-steps.py": "print(1 + 1)\n"}
GIT_HOST = "git.test"
TOKEN = "tok-" + secrets.token_hex(8)
LCC = project.project_root() / "lcc"
TEAM = f"""
[domain]
name = "lcc-team"
[defaults]
instance_type = "ml.t3.medium"
allowed_instance_types = ["ml.t3.medium"]
idle_timeout_minutes = 60
kernel_gateway_idle_minutes = 0.25
[images.smstudio-jupyterlab]
target = "jupyterlab"
app_types = ["JupyterLab"]
[images.smstudio-kernelgateway]
target = "kernelgateway"
app_types = ["KernelGateway"]
[lifecycle]
JupyterLab = "{LCC}/jupyterlab.sh"
KernelGateway = "{LCC}/kernelgateway.sh"
[startup]
budget_seconds = 90
apt_budget_seconds = 60
hook_budget_seconds = 3
home_usage_every_hours = 0.002
[git]
host = "{GIT_HOST}"
repositories = ["https://{GIT_HOST}/team/notebooks.git"]
[starter]
s3 = "s3://{STARTER_BUCKET}/starter/"
[[users]]
name = "alice"
email = "alice@example.com"
git_name = "Alice Liddell"
[[users]]
name = "bob"
email = "bob@example.com"
[[users]]
name = "carol"
email = "carol@example.com"
"""
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def self_signed(host: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def git_server(
    tmp_path_factory: pytest.TempPathFactory, local_base: str
) -> Iterator[dict[str, Any]]:
    """An HTTPS git server every app's network gets (a shared service, labelled for the
    runtime), reachable as git.test, with one repository, accepting one token."""
    engine = dockerhost.client()
    folder = Path(__file__).parent / "gitserver"
    image, _ = engine.images.build(
        path=str(folder), tag="smstudio/test-gitserver:test", buildargs={"BASE_IMAGE": local_base}
    )
    tls = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(GIT_HOST)
    (tls / "cert.pem").write_bytes(cert)
    (tls / "key.pem").write_bytes(key)
    tls.chmod(0o755)
    (tls / "key.pem").chmod(0o644)
    server = engine.containers.run(
        image.id,
        command=["x-access-token", TOKEN],
        detach=True,
        volumes={str(tls): {"bind": "/srv/tls", "mode": "ro"}},
        labels={"io.smstudio.managed": "test", runtime.SERVICE_LABEL: GIT_HOST},
    )
    try:
        make_repo = (
            "set -e; git init -q --bare /srv/git/team/notebooks.git; "
            "git -C /srv/git/team/notebooks.git config http.receivepack true; "
            "d=$(mktemp -d); cd $d; git init -q -b main; echo hello > README.md; "
            "git add README.md; git -c user.name=t -c user.email=t@t commit -qm first; "
            "git push -q /srv/git/team/notebooks.git main; "
            "git -C /srv/git/team/notebooks.git symbolic-ref HEAD refs/heads/main"
        )
        done = server.exec_run(["bash", "-c", make_repo])
        assert done.exit_code == 0, done.output.decode()
        yield {"cert": cert.decode()}
    finally:
        server.remove(force=True)


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory,
    built_images: dict[str, str],
    git_server: dict[str, Any],
) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("lcc-studio")
    team = root / "team.toml"
    team.write_text(TEAM)
    with local_studio(root, team, built_images, LIMIT) as running:
        # the team's starter content, put in the team bucket by the admin
        s3 = running["clients"].client("s3")
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=STARTER_BUCKET)
        for key, body in STARTER.items():
            s3.put_object(Bucket=STARTER_BUCKET, Key=f"starter/{key}", Body=body.encode())
        yield running


def start(sm: Any, app: dict[str, str], timeout: float = LIMIT + 60) -> Any:
    """CreateApp (sm: the user's), wait for InService (asserting it), the app's container."""
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    found = settle(sm, app, timeout)
    assert found["Status"] == "InService", found.get("FailureReason")
    return container_of(sm, app)


def restart(sm: Any, app: dict[str, str]) -> Any:
    sm.delete_app(**app)
    assert settle(sm, app)["Status"] == "Deleted"
    return start(sm, app)


def lab(sm: Any, app: dict[str, str], user: str) -> tuple[str, requests.Session]:
    """The space's JupyterLab, opened through a presigned URL as `user`."""
    return open_app(sm, app, user)


def last_run(logs: Any, app: dict[str, str]) -> str:
    """The lifecycle log of the app's latest start."""
    text = "\n".join(log_lines(logs, app))
    return text[text.rfind(" start: app ") :]


def test_environments_come_back_after_a_restart(studio: Studio) -> None:
    sm, logs = studio.user("alice").client("sagemaker"), studio["logs"]
    app = private_space(sm, studio["domain"], "alice", "alice-envs")
    box = start(sm, app)

    code, out = sh(box, "smstudio-env new analysis tabulate")
    assert code == 0, out
    base, browser = lab(sm, app, "alice")
    specs = browser.get(base + "/api/kernelspecs", timeout=10).json()["kernelspecs"]
    (name,) = [k for k, v in specs.items() if "analysis" in v["spec"]["display_name"]]
    check = "import tabulate, sys; print(tabulate.__name__, sys.prefix)"
    assert "projects/analysis/.venv" in jupyter.run_in_server(base, check, name, session=browser)
    package = "~/projects/analysis/.venv/lib/python3*/site-packages/tabulate*"
    stat = f"stat -c '%i %Y' {package} | sort"
    before = sh(box, stat)[1]

    box = restart(sm, app)
    base, browser = lab(sm, app, "alice")
    specs = browser.get(base + "/api/kernelspecs", timeout=10).json()["kernelspecs"]
    assert name in specs
    assert "tabulate" in jupyter.run_in_server(base, check, name, session=browser)
    assert sh(box, stat)[1] == before  # nothing reinstalled
    run = last_run(logs, app)
    assert re.search(r"INFO kernels: .*1 unchanged", run), run

    # An environment whose interpreter is gone (the image's Python changed), and one that
    # is removed: skipped with the repair hint / kernelspec gone; a rerun changes nothing.
    broken = (
        "set -e; mkdir -p ~/.venvs/old/bin ~/.venvs/old/lib/python3.9/site-packages/ipykernel; "
        "printf 'home = /usr/bin\\nversion = 3.9.2\\n' > ~/.venvs/old/pyvenv.cfg; "
        "touch ~/.venvs/old/lib/python3.9/site-packages/ipykernel/__init__.py; "
        "ln -sf /usr/bin/python3.9 ~/.venvs/old/bin/python"
    )
    assert sh(box, broken)[0] == 0
    code, out = sh(box, "smstudio-env remove analysis")
    assert code == 0, out
    assert sh(box, "test -f ~/projects/analysis/Pipfile")[0] == 0  # the project is kept
    rerun = f"bash {runtime.LCC_PATH}"
    first = sh(box, rerun)[1]
    assert re.search(STAMP + r" WARN kernels: .*old.*python3 -m venv", first), first
    kernels = "cd ~/.local/share/jupyter/kernels && find . -type f | sort | xargs sha1sum"
    listing = sh(box, kernels)[1]
    assert name not in listing and "old" not in listing
    second = sh(box, rerun)[1]
    assert sh(box, kernels)[1] == listing
    assert re.search(r"INFO kernels: .*0 registered", second), second


def test_system_packages_come_back_without_the_network(studio: Studio) -> None:
    sm, logs, domain = studio.user("bob").client("sagemaker"), studio["logs"], studio["domain"]
    admin = studio["sm"]
    app = private_space(sm, domain, "bob", "bob-packages")
    box = start(sm, app)
    listing = "jq   # JSON on the command line\n\n# a comment line\ntree\n"
    assert sh(box, f"printf '{listing}' > ~/.smstudio/apt-packages")[0] == 0

    box = restart(sm, app)
    assert sh(box, "jq --version && tree --version")[0] == 0
    assert re.search(r"INFO apt: installed jq tree from the archive", last_run(logs, app))

    admin.update_domain(DomainId=domain, AppNetworkAccessType="VpcOnly")
    try:
        box = restart(sm, app)
        assert box.attrs["HostConfig"]["NetworkMode"] == "none"
        assert sh(box, "getent hosts deb.debian.org")[0] != 0  # really no network
        code, out = sh(box, "jq --version && tree --version")
        assert code == 0, out
        run = last_run(logs, app)
        assert re.search(r"INFO apt: installed jq tree from the cache on the home", run), run
    finally:
        admin.update_domain(DomainId=domain, AppNetworkAccessType="PublicInternetOnly")


def test_bad_packages_and_hooks_never_stop_an_app(studio: Studio) -> None:
    sm, logs = studio.user("carol").client("sagemaker"), studio["logs"]
    app = private_space(sm, studio["domain"], "carol", "carol-hooks")
    box = start(sm, app)
    setup = (
        "set -e; printf 'tree\\njqq-not-a-package\\nBad_Name\\n' > ~/.smstudio/apt-packages; "
        "mkdir -p ~/.smstudio/on-start.d; "
        "printf '#!/bin/bash\\necho failing hook\\nexit 1\\n' > ~/.smstudio/on-start.d/10-fails; "
        "printf '#!/bin/bash\\necho hanging hook\\nsleep 600\\n' > ~/.smstudio/on-start.d/20-hangs; "
        "chmod +x ~/.smstudio/on-start.d/*; "
        "printf 'echo legacy hook ran > ~/legacy.txt\\n' > ~/.on_start"
    )
    assert sh(box, setup)[0] == 0
    began = time.monotonic()
    box = restart(sm, app)
    took = time.monotonic() - began
    run = last_run(logs, app)
    assert re.search(r"ERROR apt: no package named 'jqq-not-a-package'", run), run
    assert re.search(r"ERROR apt: 'Bad_Name' .* is not a package name", run), run
    assert re.search(r"INFO apt: installed tree from the archive", run), run
    assert re.search(r"ERROR jupyterlab: hook .*10-fails: failed with exit code 1", run), run
    assert re.search(r"WARN jupyterlab: hook-20-hangs: still running after 3s", run), run
    assert sh(box, "cat ~/legacy.txt")[1].strip() == "legacy hook ran"
    done = re.search(r"INFO jupyterlab: done in (\d+\.\d+)s", run)
    assert done, run
    # Well inside the limit: the hanging hook cost its 3 s budget, not the limit.
    assert float(done[1]) < 45 and took < LIMIT, f"script {done[1]}s, restart {took:.0f}s"
    assert sh(box, "pgrep -f 'sleep 600'")[0] == 0  # the hanging hook carries on


def test_git_identity_token_helper_and_clone(studio: Studio, git_server: dict[str, Any]) -> None:
    alice = studio.user("alice")
    sm, logs, domain = alice.client("sagemaker"), studio["logs"], studio["domain"]
    # alice stores her token from her laptop, as herself
    assert gittoken.store(SageMaker(sm), alice.client("secretsmanager"), domain, "alice", TOKEN) == "created"
    assert gittoken.store(SageMaker(sm), alice.client("secretsmanager"), domain, "alice", TOKEN) == "updated"
    app = private_space(sm, domain, "alice", "alice-git")
    box = start(sm, app)
    # The test server's certificate is private: trust it the way a team with its own CA
    # would (the images trust their build's extra CAs; this one is made by the test).
    trust = (
        f"printf '%s' '{git_server['cert']}' > ~/git-test-ca.pem && "
        f"git config --global http.https://{GIT_HOST}/.sslCAInfo ~/git-test-ca.pem"
    )
    assert sh(box, trust)[0] == 0
    box = restart(sm, app)
    wait_for(
        lambda: sh(box, "test -f ~/notebooks/README.md")[0] == 0 or None,
        30,
        "the repository cloned at start",
    )
    assert sh(box, "cat ~/notebooks/README.md")[1].strip() == "hello"
    assert sh(box, "git config --global user.name")[1].strip() == "Alice Liddell"
    assert sh(box, "git config --global user.email")[1].strip() == "alice@example.com"
    code, out = sh(box, f"git ls-remote https://{GIT_HOST}/team/notebooks.git")
    assert code == 0 and "refs/heads/main" in out, out
    assert sh(box, f"grep -rIl -- {TOKEN} ~ 2>/dev/null")[1].strip() == ""  # not on the home
    # Another host never gets the token.
    asked = "printf 'protocol=https\\nhost=other.example\\n\\n' | git credential fill"
    code, out = sh(box, f"GIT_TERMINAL_PROMPT=0 {asked}")
    assert TOKEN not in out
    assert sh(box, "grep -q 'cloned into' ~/.smstudio/logs/git.log")[0] == 0
    assert "INFO git: identity Alice Liddell <alice@example.com>" in last_run(logs, app)


def test_idle_kernel_gateway_app_is_deleted_and_a_busy_one_is_not(studio: Studio) -> None:
    """Each app's idle checker deletes its own app with the app's own session (the
    execution role allows a KernelGateway app of its SourceIdentity only)."""
    sm, domain = studio["sm"], studio["domain"]
    idle = {"DomainId": domain, "UserProfileName": "bob", "AppType": "KernelGateway",
            "AppName": "bob-idle"}  # fmt: skip
    busy = {**idle, "UserProfileName": "carol", "AppName": "carol-busy"}
    carol = studio.user("carol").client("sagemaker")
    for app in (idle, busy):
        owner = studio.user(app["UserProfileName"]).client("sagemaker")
        owner.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    for app in (idle, busy):
        assert settle(sm, app)["Status"] == "InService"
    base, browser = open_app(carol, busy, "carol")
    started = browser.post(f"{base}/api/kernels", json={}, timeout=30)
    assert started.status_code == 201, started.text
    channels = base.replace("http://", "ws://") + f"/api/kernels/{started.json()['id']}/channels"
    deadline = time.monotonic() + 120
    idle_box = container_of(sm, idle)
    while sm.describe_app(**idle)["Status"] != "Deleted":
        if time.monotonic() > deadline:
            idle_log = sh(idle_box, "cat ~/.smstudio/logs/idle.log ~/.smstudio/logs/on-start.log")
            raise AssertionError(f"the idle app was not deleted within 120 s: {idle_log}")
        assert jupyter.execute(channels, "1 + 1", 30, cookie(browser)) == "2"  # someone works here
        time.sleep(2)
    assert sm.describe_app(**busy)["Status"] == "InService"
    box = container_of(sm, busy)
    assert re.search(r"INFO idle: deleting this app after 0.25 idle minutes",
                     sh(box, "cat ~/.smstudio/logs/idle.log")[1])  # fmt: skip
    carol.delete_app(**busy)


def test_home_usage_is_reported_per_user(studio: Studio) -> None:
    sm, domain = studio.user("bob").client("sagemaker"), studio["domain"]
    logs = studio["clients"].client("logs")  # the admin reads everyone's usage
    app = private_space(sm, domain, "bob", "bob-usage")
    box = start(sm, app)
    assert sh(box, "head -c 3000000 /dev/urandom > ~/blob.bin")[0] == 0
    box = restart(sm, app)
    report = wait_for(
        lambda: (u := usage.latest(logs, domain).get("bob-usage")) and u.bytes > 3_000_000 and u,
        60,
        "a home usage report above 3 MB",
    )
    assert report.files > 0 and report.app == "JupyterLab/default"
    # and again while the app runs (every 7 s here: home_usage_every_hours = 0.002)
    stream = {"logGroupName": usage.GROUP, "logStreamName": f"{domain}/bob-usage"}
    wait_for(lambda: len({json.loads(e["message"])["at"] for e in
                          logs.get_log_events(**stream)["events"]}) >= 3 or None,
             60, "three home usage reports from one start and the schedule")  # fmt: skip
    result = CliRunner().invoke(cli.app, ["status", "--all", "--team", str(studio["team"])])
    assert result.exit_code == 0, result.output
    assert re.search(r"bob-usage\s.*\d\.\d MB", result.output), result.output
    assert "carol" in result.output and "never" in result.output


def test_starter_content_arrives_once_and_never_overwrites(studio: Studio) -> None:
    """[starter] s3: copied into a new home at its first start, then the marker; a user's
    edit survives the next start, and nothing comes again."""
    sm, logs = studio.user("alice").client("sagemaker"), studio["logs"]
    app = private_space(sm, studio["domain"], "alice", "alice-starter")
    box = start(sm, app)
    assert sh(box, "cat ~/README.md ~/examples/first-steps.py")[1] == "".join(STARTER.values())
    assert "2 file(s) copied, 0 already here kept" in last_run(logs, app)
    assert sh(box, "echo 'my notes' > ~/README.md && rm ~/examples/first-steps.py")[0] == 0
    box = restart(sm, app)
    assert sh(box, "cat ~/README.md")[1] == "my notes\n"
    assert sh(box, "test -e ~/examples/first-steps.py")[0] != 0  # not brought back either
    assert re.search(r"INFO jupyterlab: starter: already in this home \(s3://", last_run(logs, app))
