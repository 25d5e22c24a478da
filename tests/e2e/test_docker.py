"""Docker from Studio, in the local Studio with real engines: a domain that turns Docker
access on gives new JupyterLab apps an engine of their own behind Studio's proxy. Images
come from the local ECR with the app's own credentials; builds and containers use the
`sagemaker` network, which is the app's (a notebook reaches a container on localhost);
compose works; Studio's refusals come with its words; an app made before Docker was on has
none; one user's engine, containers and images are invisible to another's app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from smstudio.core import config, dockerhost
from smstudio.images import push
from smstudio.local import engines, runtime
from smstudio.register import apply
from smstudio.workspaces import jupyter
from tests.e2e.conftest import Studio, container_of, local_studio, open_app, settle
from tests.emulator.conftest import TEAM, private_space, write_team

DOCKER_TEAM = TEAM.replace("[[users]]", "[docker]\naccess = true\n\n[[users]]", 1)
LIMIT = 120


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str], local_base: str
) -> Iterator[dict[str, Any]]:
    """The team applied without Docker, bob's app started; then applied with Docker on
    (the plan says apps must restart), and a small image pushed to the local ECR."""
    root = tmp_path_factory.mktemp("docker")
    with local_studio(root, write_team(root), built_images, LIMIT) as running:
        bob = running.user("bob").client("sagemaker")
        before = private_space(bob, running["domain"], "bob", "bob-before")
        bob.create_app(**before, ResourceSpec={"InstanceType": "ml.t3.medium"})
        assert settle(bob, before)["Status"] == "InService"
        team, base = config.load(write_team(root, DOCKER_TEAM, "docker.toml"))
        tag = built_images["base"].rsplit(":", 1)[1]
        made = apply.run(team, base, running["clients"], Console(stderr=True), tag=tag)
        notes = [c.reason for c in made if c.step == "domain settings"]
        assert notes and "restart running" in notes[0], made
        pushed = push.push(local_base, "local-base", "bookworm", running["clients"], Console(stderr=True))
        yield {"studio": running, "before": before, "base": pushed.uri}


def app_of(studio: Studio, user: str, space: str) -> tuple[Any, dict[str, str]]:
    sm = studio.user(user).client("sagemaker")
    app = private_space(sm, studio["domain"], user, space)
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    found = settle(sm, app)
    assert found["Status"] == "InService", found.get("FailureReason")
    return sm, app


def sh(box: Any, script: str, workdir: str = "/home/sagemaker-user") -> tuple[int, str]:
    """A terminal in the app: bash as its user, with the app's environment."""
    done = box.exec_run(["bash", "-lc", script], user="1000:100", workdir=workdir)
    return done.exit_code, done.output.decode(errors="replace")


LOGIN = (  # the app's own credentials (its execution role) for ECR, as in Studio
    "python3 -c 'import base64, boto3; d = boto3.client(\"ecr\").get_authorization_token()"
    "[\"authorizationData\"][0]; print(base64.b64decode(d[\"authorizationToken\"]).decode()"
    ".split(\":\", 1)[1])' | docker login --username AWS --password-stdin \"$(echo {base} | cut -d/ -f1)\""
)
DOCKERFILE = """FROM {base}
RUN echo one > /one
RUN echo two > /two
WORKDIR /srv
RUN echo served > index.html
CMD ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"]
"""
COMPOSE = """services:
  web:
    image: {base}
    network_mode: sagemaker
    command: ["python3", "-m", "http.server", "8001", "--bind", "127.0.0.1", "--directory", "/etc"]
  client:
    image: {base}
    network_mode: sagemaker
    depends_on: [web]
    command: ["python3", "-c", "import time, urllib.request as u\\nfor _ in range(100):\\n  try:\\n    print(u.urlopen('http://127.0.0.1:8001/hostname').status); break\\n  except OSError: time.sleep(0.1)"]
"""


def test_alices_app_builds_runs_and_composes_on_the_sagemaker_network(
    studio: dict[str, Any],
) -> None:
    running, base = studio["studio"], studio["base"]
    sm, app = app_of(running, "alice", "alice-docker")
    box = container_of(sm, app)
    code, out = sh(box, "docker version --format '{{.Client.APIVersion}}'")
    assert code == 0 and out.strip() == "1.41", out  # negotiated down to what Studio serves
    code, out = sh(box, LOGIN.format(base=base) + f" && docker pull {base}")
    assert code == 0 and "Login Succeeded" in out, out
    sh(box, f"mkdir -p web && cat > web/Dockerfile <<'EOF'\n{DOCKERFILE.format(base=base)}EOF")
    code, out = sh(box, "docker build --network sagemaker -t web ./web")
    assert code == 0, out
    code, out = sh(box, "docker run -d --name web --network sagemaker web")
    assert code == 0, out
    # a notebook in the app reaches the container on localhost
    url, browser = open_app(sm, app, "alice")
    fetch = ("import time, urllib.request as u\nfor _ in range(100):\n  try:\n"
             "    print(u.urlopen('http://127.0.0.1:8000/').read().decode().strip()); break\n"
             "  except OSError: time.sleep(0.1)")  # fmt: skip
    assert jupyter.run_in_server(url, fetch, session=browser) == "served"
    sh(box, f"mkdir -p pair && cat > pair/compose.yaml <<'EOF'\n{COMPOSE.format(base=base)}EOF")
    code, out = sh(box, "cd pair && docker compose up --exit-code-from client client web")
    assert code == 0 and "200" in out, out
    sh(box, "cd pair && docker compose down")

    refused = {
        "docker run --rm --privileged --network sagemaker web true": "[ContainerCreate] privileged mode is not allowed",
        "docker run --rm --network bridge web true": "only allows 'sagemaker' as network input",
        "docker run --rm web true": "only allows 'sagemaker' as network input",
        "docker build -t again ./web": "[ImageBuild] 'sagemaker' is the only user allowed network input",
        "docker network create mine": "only allows 'sagemaker' as network input",
    }  # fmt: skip
    for command, words in refused.items():
        code, out = sh(box, command)
        assert code != 0 and words in out, (command, out)


def test_an_app_made_before_docker_was_turned_on_has_none(studio: dict[str, Any]) -> None:
    running = studio["studio"]
    sm = running.user("bob").client("sagemaker")
    box = container_of(sm, studio["before"])
    code, out = sh(box, "docker version")
    assert code != 0 and "Cannot connect to the Docker daemon" in out, out
    assert "DOCKER_HOST" not in sh(box, "env")[1]


def test_one_users_engine_is_invisible_to_another(studio: dict[str, Any]) -> None:
    running, base = studio["studio"], studio["base"]
    alice_sm, alice_app = app_of(running, "alice", "alice-private")
    alice = container_of(alice_sm, alice_app)
    assert sh(alice, LOGIN.format(base=base) + f" && docker pull {base} && docker tag {base} alices-secret")[0] == 0
    code, out = sh(alice, "docker run -d --network sagemaker --name alices-server alices-secret "
                          "python3 -m http.server 8002")  # fmt: skip
    assert code == 0, out
    bob_sm, bob_app = app_of(running, "bob", "bob-docker")
    bob = container_of(bob_sm, bob_app)
    code, out = sh(bob, "docker ps -a --format '{{.Names}}'; docker images --format '{{.Repository}}'")
    assert code == 0 and "alices" not in out, out
    # alice's engine has no port and no socket bob can reach; her network is not his
    engine = [c for c in dockerhost.client().containers.list(
        filters={"label": f"{runtime.LABEL}={alice_sm.describe_app(**alice_app)['AppArn']}"})
        if engines.PART_LABEL in c.labels]  # fmt: skip
    assert len(engine) == 1 and not engine[0].attrs["HostConfig"]["PortBindings"]
    assert sh(bob, "ls /docker")[1].split() == ["proxy.sock"]
    alice_ip = next(iter(alice.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    probe = f"python3 -c \"import socket; socket.create_connection(('{alice_ip}', 8002), timeout=3)\""
    assert sh(bob, probe)[0] != 0
    assert sh(alice, "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 8002), timeout=3)\"")[0] == 0
    # the engine goes with the app; the space keeps its images
    alice_sm.delete_app(**alice_app)
    assert settle(alice_sm, alice_app)["Status"] == "Deleted"
    assert not engine[0].client.containers.list(all=True, filters={"id": engine[0].id})


def test_a_vpc_only_domain_takes_only_trusted_ecr_images(studio: dict[str, Any]) -> None:
    running, base = studio["studio"], studio["base"]
    running["sm"].update_domain(DomainId=running["domain"], AppNetworkAccessType="VpcOnly")
    try:
        sm, app = app_of(running, "alice", "alice-vpc")
        box = container_of(sm, app)
        code, out = sh(box, LOGIN.format(base=base) + f" && docker pull {base}")
        assert code == 0, out
        for command in ("docker pull python:3.11", f"docker tag {base} elsewhere/base && docker push elsewhere/base"):
            code, out = sh(box, command)
            assert code != 0 and "[ValidateVPCOnlyModeImage]" in out, (command, out)
        code, out = sh(box, f"docker tag {base} busybox && docker run --rm --network sagemaker busybox true")
        assert code != 0 and "[ValidateVPCOnlyModeImage] ContainerCreate of busybox" in out, out
        code, out = sh(box, f"docker run --rm --network sagemaker {base} true")
        assert code == 0, out
        sm.delete_app(**app)
        settle(sm, app)
    finally:
        running["sm"].update_domain(DomainId=running["domain"], AppNetworkAccessType="PublicInternetOnly")
