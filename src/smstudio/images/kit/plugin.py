"""The kit's pytest plugin (`-p smstudio.images.kit.plugin`): what image to test and how
Studio would run it, as fixtures that the kit's tests and a team's own tests share.

Fixtures: `image` (the reference), `expectation` (user, home, app types, kernels),
`host` (testinfra, inside a container of the image as its declared user), `studio_app`
(a factory: the image started as a Studio app of a type, its base URL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from smstudio.core import containers, dockerhost
from smstudio.core.facts import HEALTH_PATH
from smstudio.images.check import lint, probe
from smstudio.images.check.rules import Expectation


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smstudio", "smstudio image test kit")
    group.addoption("--smstudio-image", required=True, help="the image under test")
    group.addoption(
        "--smstudio-app-type",
        action="append",
        default=[],
        help="app types it serves (default: its io.smstudio.app-types label)",
    )
    group.addoption(
        "--smstudio-kernel",
        action="append",
        default=[],
        help="kernelspecs its AppImageConfig lists (KernelGateway)",
    )
    group.addoption("--smstudio-uid", type=int, default=1000)
    group.addoption("--smstudio-gid", type=int, default=100)
    group.addoption("--smstudio-mount-path", default="/home/sagemaker-user")
    group.addoption("--smstudio-docker", action="store_true", default=False)
    group.addoption(
        "--smstudio-runtime-base",
        default=None,
        help="a Debian image to build the mounted kernel gateway from",
    )


def _opt(config: pytest.Config, name: str) -> Any:
    return config.getoption(f"smstudio_{name}")


@pytest.fixture(scope="session")
def image(pytestconfig: pytest.Config) -> str:
    ref = str(_opt(pytestconfig, "image"))
    dockerhost.get_image(ref)  # a clear error when it is not built
    return ref


@pytest.fixture(scope="session")
def check_options(pytestconfig: pytest.Config) -> lint.CheckOptions:
    return lint.CheckOptions(
        uid=_opt(pytestconfig, "uid"),
        gid=_opt(pytestconfig, "gid"),
        mount_path=_opt(pytestconfig, "mount_path"),
        app_types=tuple(_opt(pytestconfig, "app_type")),
        kernels=tuple(_opt(pytestconfig, "kernel")),
        health=False,  # the app tests start it for real
        docker=_opt(pytestconfig, "docker"),
    )


@pytest.fixture(scope="session")
def expectation(image: str, check_options: lint.CheckOptions) -> Expectation:
    labels = dockerhost.get_image(image).labels or {}
    return lint.expectation_for(labels, check_options, lint.declared_kernels())


@pytest.fixture(scope="session")
def host(image: str, expectation: Expectation) -> Iterator[Any]:
    """testinfra's host: a container of the image as Studio's user, doing nothing."""
    import testinfra  # the kit's one dependency beyond smstudio's

    with containers.running(
        image,
        entrypoint=["sleep", "infinity"],
        command=[],
        user=f"{expectation.uid}:{expectation.gid}",
        tmpfs={expectation.mount_path: f"uid={expectation.uid},gid={expectation.gid}"},
        labels={containers.LABEL: "images-test"},
    ) as container:
        yield testinfra.get_host(f"docker://{container.id}")


@pytest.fixture(scope="session")
def studio_app(image: str, expectation: Expectation) -> Iterator[Callable[..., str]]:
    """start(app_type, **docker_run_options) -> the app's base URL on 127.0.0.1, once
    its health endpoint answers; every container is removed at the end."""
    with ExitStack() as stack:

        def start(app_type: str, timeout: float = 120, **extra: Any) -> str:
            options = probe.studio_run_options(expectation, app_type)
            options["environment"] = {**options["environment"], **extra.pop("environment", {})}
            container = stack.enter_context(containers.running(image, **options, **extra))
            port = containers.published_port(container, "8888/tcp")
            if port is None:  # it stopped before Docker published its port
                pytest.fail(
                    f"{app_type}: {HEALTH_PATH[app_type]} did not answer 200: the app stopped "
                    f"at once; {containers.exit_summary(container)}\n"
                    + containers.logs_tail(container)
                )
            base = f"http://127.0.0.1:{port}"
            health = base + HEALTH_PATH[app_type]
            answered = containers.poll(
                lambda: probe.answers(health),
                timeout,
                alive=lambda: containers.is_running(container),
            )
            if not answered:
                pytest.fail(
                    f"{health} did not answer 200 within {timeout:.0f}s; "
                    + containers.exit_summary(container)
                    + "\n"
                    + containers.logs_tail(container)
                )
            return base

        yield start
