"""Studio's Docker proxy (the local Studio's): its decisions on requests the docker CLI
really sends (tests/unit/data/docker_requests.json), and its server between a client and
an engine on Unix sockets (bodies rewritten, every request on a connection checked, a
hijacked stream piped both ways)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smstudio.local import dockerproxy
from smstudio.local.dockerproxy import Rules, decide

RECORDED = json.loads((Path(__file__).parent / "data/docker_requests.json").read_text())["requests"]
ACCOUNT = "123456789012"
OPEN = Rules()
VPC_ONLY = Rules(vpc_only=True, trusted_accounts=(ACCOUNT, "210987654321"))


def recorded(command: str) -> dict[str, Any]:
    return next(r for r in RECORDED if r["command"] == command)


def judge(command: str, rules: Rules = OPEN) -> dockerproxy.Verdict:
    request = recorded(command)
    body = json.dumps(request["body"]).encode() if request["body"] is not None else None
    return decide(request["method"], request["target"], body, rules)


ECR_RUN = (f"docker run --rm --network sagemaker -p 8080:8080 -v /home/sagemaker-user/data:/data "
           f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/smstudio/base:test true")  # fmt: skip
REFUSED = [
    ("docker run --rm busybox true", "[ContainerCreate]", "only allows 'sagemaker' as network input"),
    ("docker run --rm --network bridge busybox true", "[ContainerCreate]", "only allows 'sagemaker'"),
    ("docker run --rm --privileged --network sagemaker busybox true", "[ContainerCreate]",
     "privileged mode is not allowed"),
    ("docker run --rm --network sagemaker --device /dev/null busybox true", "[ContainerCreate]",
     "host devices are not allowed"),
    ("docker run --rm --network sagemaker -v /var/run/docker.sock:/var/run/docker.sock busybox true",
     "[ContainerCreate]", "bind mount of /var/run/docker.sock refused"),
    ("docker build -t x ctx", "[ImageBuild]", "'sagemaker' is the only user allowed network input"),
    ("DOCKER_BUILDKIT=1 docker build -t x ctx", "[ImageBuild]", "DOCKER_BUILDKIT=0"),
    ("docker network create mynet", "[NetworkCreate]", "only allows 'sagemaker'"),
    ("docker exec --privileged abc true", "[ContainerExec]", "privileged mode is not allowed"),
]  # fmt: skip


@pytest.mark.parametrize(("command", "operation", "words"), REFUSED)
def test_studio_refuses_what_it_refuses_with_its_words(command: str, operation: str, words: str) -> None:
    verdict = judge(command)
    assert verdict.refused and verdict.status == 403
    assert verdict.message.startswith(operation) and words in verdict.message


def test_the_sagemaker_network_is_the_apps_own_network() -> None:
    verdict = judge(ECR_RUN)
    assert not verdict.refused and verdict.body is not None
    sent = json.loads(verdict.body)
    assert sent["HostConfig"]["NetworkMode"] == "host"  # the engine shares the app's network
    assert sent["HostConfig"]["Binds"] == ["/home/sagemaker-user/data:/data"]
    build = judge("docker build --network sagemaker -t x ctx")
    assert not build.refused and "networkmode=host" in build.target and "t=x" in build.target


@pytest.mark.parametrize(
    "command",
    ["docker version", "docker exec abc true", f"docker pull {ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/smstudio/base:test",
     "docker pull python:3.11", "docker push 999999999999.dkr.ecr.us-east-1.amazonaws.com/x:1"],
)  # fmt: skip
def test_everything_else_passes_as_it_came(command: str) -> None:
    verdict = judge(command)
    assert not verdict.refused and verdict.target == recorded(command)["target"] and verdict.body is None


def test_a_vpc_only_domain_takes_only_trusted_accounts_ecr_images() -> None:
    assert not judge(f"docker pull {ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/smstudio/base:test", VPC_ONLY).refused
    assert not judge(ECR_RUN, VPC_ONLY).refused
    for command in ("docker pull python:3.11", "docker push 999999999999.dkr.ecr.us-east-1.amazonaws.com/x:1"):
        verdict = judge(command, VPC_ONLY)
        assert verdict.refused and verdict.message.startswith("[ValidateVPCOnlyModeImage]"), command
        assert "trusted accounts (123456789012, 210987654321)" in verdict.message
    busybox = json.dumps({"Image": "busybox", "HostConfig": {"NetworkMode": "sagemaker"}}).encode()
    verdict = decide("POST", "/v1.41/containers/create", busybox, VPC_ONLY)
    assert verdict.refused and "[ValidateVPCOnlyModeImage] ContainerCreate of busybox" in verdict.message


def test_a_query_does_not_hide_a_create_from_the_rules() -> None:
    assert dockerproxy.inspects_body("POST", "/v1.41/containers/create?name=web")
    request = recorded(ECR_RUN)
    verdict = decide("POST", request["target"] + "?name=web", json.dumps(request["body"]).encode(), OPEN)
    assert not verdict.refused and verdict.target.endswith("?name=web")


def test_api_versions_as_studio_serves_them() -> None:
    assert not decide("HEAD", "/_ping", None, OPEN).refused
    moved = decide("GET", "/version", None, OPEN)
    assert moved.status == 301 and moved.headers["Location"] == "/v1.41/version"
    newer = decide("GET", "/v1.45/version", None, OPEN)
    assert newer.status == 400 and "Maximum supported API version is 1.41" in newer.message
    assert decide("GET", "/v1.41/swarm", None, OPEN).refused
    assert decide("POST", "/v1.41/plugins/pull", None, OPEN).refused
    assert decide("POST", "/v1.41/networks/host/connect", b"{}", OPEN).refused


# --- the server, between a client and an engine on Unix sockets ---------------------------


class Engine:
    """A stand-in engine: records each request (head and body) and answers it; an attach
    request is hijacked and echoed back."""

    def __init__(self, path: str) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(conn,), daemon=True).start()

    def one(self, conn: socket.socket) -> None:
        request = dockerproxy.Request(conn.makefile("rb"))
        body = request.body(1 << 20)
        self.requests.append((f"{request.method} {request.target}",
                              {k.lower(): v for k, v in request.headers}, body))  # fmt: skip
        if "/attach" in request.target:
            conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            while data := request.reader.read1(1024):
                conn.sendall(data.upper())
            conn.close()
            return
        answer = b'{"Id":"c1"}'
        conn.sendall(b"HTTP/1.1 201 Created\r\nApi-Version: 1.45\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))  # fmt: skip
        conn.close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    engine = Engine(str(tmp_path / "engine.sock"))
    listener = dockerproxy.serve(str(tmp_path / "proxy.sock"), str(tmp_path / "engine.sock"), OPEN)
    yield str(tmp_path / "proxy.sock"), engine
    listener.close()
    engine.sock.close()


def exchange(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(path)
        client.sendall(data)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    return received


def test_a_request_is_sent_on_rewritten_and_its_answer_comes_back(proxy: tuple[str, Engine]) -> None:
    path, engine = proxy
    body = json.dumps(recorded(ECR_RUN)["body"]).encode()
    # chunked, with a second request pipelined behind it: that one is never sent unchecked
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    sneaky = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\n{}"
    answer = exchange(path, b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\n"
                      b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" + chunked + sneaky)  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 201 Created") and b"Api-Version: 1.41" in answer
    assert answer.endswith(b'{"Id":"c1"}')
    ((line, headers, sent),) = engine.requests
    assert line == "POST /v1.41/containers/create" and headers["connection"] == "close"
    assert json.loads(sent)["HostConfig"]["NetworkMode"] == "host"
    assert int(headers["content-length"]) == len(sent)


def test_a_refusal_is_a_docker_error_and_nothing_reaches_the_engine(proxy: tuple[str, Engine]) -> None:
    path, engine = proxy
    body = json.dumps(recorded("docker run --rm --privileged --network sagemaker busybox true")["body"]).encode()
    answer = exchange(path, b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 403 Forbidden")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"].startswith("[ContainerCreate] privileged")
    assert engine.requests == []


def test_an_attach_is_hijacked_and_piped_both_ways(proxy: tuple[str, Engine]) -> None:
    path, _ = proxy
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(path)
        client.sendall(b"POST /v1.41/containers/c1/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: d\r\n"
                       b"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(1024)
        assert head.startswith(b"HTTP/1.1 101")
        client.sendall(b"hello")
        client.shutdown(socket.SHUT_WR)
        echoed = head.split(b"\r\n\r\n", 1)[1]
        while chunk := client.recv(1024):
            echoed += chunk
    assert echoed == b"HELLO"


def test_a_refused_upload_is_read_before_the_refusal(proxy: tuple[str, Engine]) -> None:
    path, engine = proxy
    context = b"x" * (2 << 20)  # a build context larger than the socket buffers
    answer = exchange(path, b"POST /v1.41/build?t=x&version=1 HTTP/1.1\r\nHost: d\r\nContent-Length: "
                      + str(len(context)).encode() + b"\r\n\r\n" + context)  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 403") and b"only user allowed network input" in answer
    assert engine.requests == []


REMOTE = Rules(kind="remote", mountable=())


def test_a_remote_engine_is_the_users_own_but_never_privileged() -> None:
    for command in ("docker run --rm busybox true", "docker run --rm --network bridge busybox true",
                    "docker build -t x ctx", "DOCKER_BUILDKIT=1 docker build -t x ctx",
                    "docker network create mynet", "docker pull python:3.11", "docker exec abc true"):
        verdict = judge(command, REMOTE)
        assert not verdict.refused and verdict.body is None, command
    for command, words in (
        ("docker run --rm --privileged --network sagemaker busybox true", "privileged mode"),
        ("docker run --rm --network sagemaker --device /dev/null busybox true", "host devices"),
        ("docker run --rm --network sagemaker -v /var/run/docker.sock:/var/run/docker.sock busybox true",
         "bind mount of /var/run/docker.sock refused"),
        ("docker exec --privileged abc true", "privileged mode"),
    ):  # fmt: skip
        verdict = judge(command, REMOTE)
        assert verdict.refused and words in verdict.message, command
    assert decide("GET", "/v1.41/swarm", None, REMOTE).refused
