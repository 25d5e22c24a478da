"""Shared fixtures: the images under test are built once per session FROM the local base,
so the suite runs offline; Docker's build cache is reused when present."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from rich.console import Console

from smstudio.images import bake, localbase
from tests.helpers import TrackedContainers

TAG = os.environ.get("SMSTUDIO_TEST_TAG", "test")
HOST_CA_DIR = "/usr/local/share/ca-certificates"


@pytest.fixture(scope="session")
def local_base() -> str:
    return localbase.ensure(localbase.LocalBaseRequest(), Console(stderr=True))


@pytest.fixture(scope="session")
def built_images(local_base: str) -> dict[str, str]:
    """Every image target, built once (group `all`), tagged smstudio/<name>:test. The
    host's CA folder goes through bake's extra-CA input, as an enterprise proxy's would."""
    request = bake.BuildRequest(
        targets=("all",), base_image=local_base, tag=TAG, extra_ca_dir=HOST_CA_DIR
    )
    bake.build(request, Console(stderr=True))
    return {name: f"smstudio/{name}:{TAG}" for name in bake.TARGETS}


@pytest.fixture
def containers() -> Iterator[TrackedContainers]:
    tracked = TrackedContainers()
    try:
        yield tracked
    finally:
        tracked.remove_all()
