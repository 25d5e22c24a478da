"""Studio's pages in a real browser (headless Chromium over the DevTools protocol), opened
the way a user opens them: the presigned URL alice's own role makes. Code Editor: the
workbench renders (its element is in the DOM, the screenshot is not blank) and a command
typed into its terminal runs in the space. JupyterLab: the launcher renders with no
announcement pop-up, and a notebook runs 1+1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import Browser, distinct_colours, save
from tests.e2e.conftest import Studio, container_of, local_studio, settle
from tests.e2e.test_codeeditor import CODE_TEAM, code_space
from tests.emulator.conftest import private_space, write_team

LIMIT = 120
CTRL, SHIFT = 2, 8


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("browser")
    with local_studio(root, write_team(root, CODE_TEAM), built_images, LIMIT) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Browser]:
    with Browser() as opened:
        yield opened


def presigned(studio: Studio, app: dict[str, str]) -> str:
    sm = studio.user("alice").client("sagemaker")
    return str(sm.create_presigned_domain_url(DomainId=app["DomainId"], UserProfileName="alice",
                                              SpaceName=app["SpaceName"])["AuthorizedUrl"])  # fmt: skip


def test_the_code_editor_workbench_renders_and_its_terminal_runs_python(
    studio: Studio, browser: Browser, tmp_path: Path
) -> None:
    sm = studio.user("alice").client("sagemaker")
    app = code_space(sm, studio["domain"], "alice", "alice-browser")
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService"
    browser.go(presigned(studio, app))
    browser.wait("!!document.querySelector('.monaco-workbench')", 90, "the workbench")
    browser.wait("!!document.querySelector('.part.editor')", 30, "the editor part")
    time.sleep(2)  # let it paint
    shot = save(browser.screenshot(), tmp_path / "workbench.png")
    assert distinct_colours(shot.read_bytes()) > 20, shot
    # a terminal (Ctrl+Shift+`), a command typed into it
    browser.key("`", "Backquote", 192, CTRL | SHIFT)
    browser.wait("!!document.querySelector('.terminal-wrapper .xterm')", 60, "a terminal")
    browser.wait("document.activeElement && document.activeElement.classList.contains('xterm-helper-textarea')",
                 30, "the terminal to take the keyboard")  # fmt: skip
    time.sleep(2)  # the shell's prompt
    browser.type("python -c 'print(1+1)' > /tmp/from-the-browser.txt")
    browser.enter()
    box = container_of(sm, app)

    def written() -> bytes:
        return bytes(box.exec_run(["cat", "/tmp/from-the-browser.txt"]).output)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and written() != b"2\n":
        time.sleep(0.5)
    assert written() == b"2\n"
    sm.delete_app(**app)
    settle(sm, app)


def test_jupyterlab_opens_on_the_launcher_without_news_and_runs_a_notebook(
    studio: Studio, browser: Browser, tmp_path: Path
) -> None:
    sm = studio.user("alice").client("sagemaker")
    app = private_space(sm, studio["domain"], "alice", "alice-lab-browser")
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert settle(sm, app)["Status"] == "InService"
    browser.go(presigned(studio, app))
    browser.wait("!!document.querySelector('.jp-LabShell .jp-Launcher')", 90, "the launcher")
    time.sleep(5)  # when the news question would come up
    assert not browser.value("document.body.innerText.includes('Jupyter news')")
    shot = save(browser.screenshot(), tmp_path / "launcher.png")
    assert distinct_colours(shot.read_bytes()) > 20, shot
    # a Python notebook from the launcher: 1+1 in its first cell
    browser.value("document.querySelector('.jp-Launcher .jp-LauncherCard[data-category=\"Notebook\"]').click()")
    browser.wait("!!document.querySelector('.jp-Notebook .jp-Cell .cm-content')", 60, "a notebook")
    browser.wait("!!document.querySelector('.jp-Notebook .jp-Cell .cm-content[contenteditable=\"true\"]')",
                 30, "an editable cell")  # fmt: skip
    # the kernel up (the toolbar's execution indicator idle) and the cell holding what was
    # typed, so a slow start shows as such rather than as a missing output
    browser.wait("(document.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}})"
                 ".dataset.status === 'idle'", 90, "the kernel idle")  # fmt: skip
    browser.value("document.querySelector('.jp-Notebook .jp-Cell .cm-content').focus()")
    browser.type("1+1")
    browser.wait("document.querySelector('.jp-Notebook .jp-Cell .cm-content').innerText.trim() "
                 "=== '1+1'", 30, "1+1 in the cell")  # fmt: skip
    browser.enter(SHIFT)
    found = browser.wait("(document.querySelector('.jp-OutputArea-output') || {}).innerText", 60,
                         "the cell's output")  # fmt: skip
    assert found.strip() == "2"
    sm.delete_app(**app)
    settle(sm, app)
