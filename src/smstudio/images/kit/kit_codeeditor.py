"""Code Editor (new Studio): the image serves VS Code's workbench under Studio's path."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from smstudio.images.check.rules import Expectation

APP = "CodeEditor"


@pytest.fixture(scope="module")
def codeeditor(expectation: Expectation, studio_app: Callable[..., str]) -> str:
    if APP not in expectation.app_types:
        pytest.skip(f"not a {APP} image")
    return studio_app(APP)


def test_the_workbench_answers(codeeditor: str) -> None:
    page = requests.get(f"{codeeditor}/codeeditor/default/", timeout=30)
    assert page.status_code == 200, page.text[:300]
    assert "workbench" in page.text, "no VS Code workbench in the page"
