"""Per-image tests in the style of jupyter/docker-stacks: a test module names the image
it was written for, and runs against that image and every image built on it."""

from __future__ import annotations

import pytest

PARENTS: dict[str, str | None] = {
    "base": None,
    "kernelgateway": "base",
    "jupyterlab": "base",
    "datascience": "jupyterlab",
    "codeeditor": "base",
}


def lineage(name: str) -> list[str]:
    """`name` and every image that descends from it."""

    def descends(child: str) -> bool:
        node: str | None = child
        while node is not None:
            if node == name:
                return True
            node = PARENTS[node]
        return False

    return [child for child in PARENTS if descends(child)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "image_name" in metafunc.fixturenames:
        written_for = getattr(metafunc.module, "IMAGE", "base")
        metafunc.parametrize("image_name", lineage(written_for))


@pytest.fixture
def image(image_name: str, built_images: dict[str, str]) -> str:
    return built_images[image_name]
