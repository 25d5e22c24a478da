"""Rendering lifecycle scripts, and the rendered script's step runner run for real with
bash on this machine (no Docker: the container behaviour is in tests/e2e)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from smstudio.core import config, facts, project
from smstudio.register import desired, lcc

ROOT = project.project_root()
SCRIPTS = ["jupyterlab.sh", "kernelgateway.sh", "jupyterserver.sh"]
TEAM_FILE = ROOT / "bootstrap/team.example.toml"
SHELLCHECK = ROOT / ".venv/bin/shellcheck"


def example_team() -> config.Team:
    return config.load(TEAM_FILE)[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_rendered_scripts_fit_the_limit_and_inline_the_library(script: str) -> None:
    team = example_team().model_copy(
        update={
            "git": config.Git(
                host="git.example.com",
                repositories=[f"https://git.example.com/team/repo-{n}.git" for n in range(20)],
            )
        }
    )
    values = lcc.settings(team, "KernelGateway")
    plain = lcc.render(ROOT / "lcc" / script, values)
    assert '. "$SMSTUDIO_LCC_LIB' not in plain
    assert "log_info() {" in plain and "smstudio_lib_source() {" in plain
    content = desired.lcc_content(lcc.package(ROOT / "lcc" / script, values), script)
    assert len(content) <= facts.LCC_MAX_BASE64
    print(f"{script}: {len(plain.encode())} bytes rendered, {len(content)} base64 characters")
    packaged = base64.b64decode(content).decode()
    assert "SMSTUDIO_GIT_HOST=git.example.com" in packaged  # settings readable in the console
    assert packaged == lcc.package(ROOT / "lcc" / script, values)  # same bytes: same LCC name


def test_settings_come_from_the_team_file() -> None:
    team = example_team()
    kg, lab = lcc.settings(team, "KernelGateway"), lcc.settings(team, "JupyterLab")
    assert kg["SMSTUDIO_IDLE_MINUTES"] == "60" and "SMSTUDIO_IDLE_MINUTES" not in lab
    assert kg["SMSTUDIO_BUDGET"] == "120" and kg["SMSTUDIO_GIT_HOST"] == "github.com"
    with pytest.raises(ValueError, match="not setting names"):
        lcc.render(ROOT / "lcc/jupyterlab.sh", {"PATH": "/tmp"})


@pytest.mark.parametrize("script", SCRIPTS)
def test_rendered_scripts_pass_shellcheck(script: str, tmp_path: Path) -> None:
    rendered = tmp_path / script
    rendered.write_text(lcc.render(ROOT / "lcc" / script, lcc.settings(example_team(), "X")))
    done = subprocess.run([str(SHELLCHECK), str(rendered)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def run_packaged(
    tmp_path: Path, hooks: dict[str, str], **values: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    home = tmp_path / "home"
    (home / ".smstudio/on-start.d").mkdir(parents=True, exist_ok=True)
    for name, body in hooks.items():
        hook = home / ".smstudio/on-start.d" / name
        hook.write_text(body)
        hook.chmod(0o755)
    script = tmp_path / "on-start.sh"
    script.write_text(lcc.package(ROOT / "lcc/jupyterlab.sh", values))
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "SAGEMAKER_APP_TYPE": "JupyterLab"}
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done, time.monotonic() - started


def test_packaged_script_runs_standalone_and_survives_bad_hooks(tmp_path: Path) -> None:
    hooks = {
        "10-ok": "#!/bin/bash\necho hook says hi\n",
        "20-fails": "#!/bin/bash\necho about to fail\nexit 3\n",
        "30-hangs": '#!/bin/bash\necho hanging\necho $$ > "$HOME/hang.pid"\nexec sleep 300\n',
    }
    done, took = run_packaged(tmp_path, hooks, SMSTUDIO_HOOK_BUDGET="2", SMSTUDIO_BUDGET="30")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert took < 15, f"took {took:.1f}s"
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    for line in out.splitlines():
        if not line.startswith(("hook says", "about to", "hanging")):
            assert re.match(stamp + r" (INFO|WARN|ERROR) [\w.-]+: ", line), line
    assert "hook says hi" in out and re.search(r"INFO jupyterlab: hook .*10-ok: finished", out)
    assert re.search(r"ERROR jupyterlab: hook .*20-fails: failed with exit code 3", out)
    assert re.search(r"WARN jupyterlab: hook-30-hangs: still running after 2s, it continues", out)
    assert re.search(r"INFO jupyterlab: done in \d+\.\d{3}s", out)
    logs = tmp_path / "home/.smstudio/logs"
    assert "done in" in (logs / "on-start.log").read_text()
    assert "hanging" in (logs / "hook-30-hangs.log").read_text()
    assert (tmp_path / "home/.smstudio/lib/kernels.py").is_file()
    os.kill(int((tmp_path / "home/hang.pid").read_text()), 9)


def test_starter_content_is_copied_once_and_never_over_a_users_files(tmp_path: Path) -> None:
    """starter.py with a git repository (here a local one): its files arrive in a
    new home, `.git` does not, a file the user already has is kept, and once the marker
    is there nothing is fetched again."""
    repo, home = tmp_path / "repo", tmp_path / "home"
    (repo / "examples").mkdir(parents=True)
    (repo / "README.md").write_text("team readme\n")
    (repo / "examples/first.py").write_text("print(1)\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for step in (["init", "-q"], ["add", "."], ["commit", "-qm", "starter"]):
        subprocess.run([*git, *step], check=True)
    (home / ".smstudio").mkdir(parents=True)
    (home / "README.md").write_text("mine\n")
    env = {**os.environ, "HOME": str(home), "SMSTUDIO_LOG_NAME": "starter"}
    run = [str(ROOT / ".venv/bin/python"), str(ROOT / "lcc/lib/starter.py"), f"file://{repo}"]
    done = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 file(s) copied, 1 already here kept" in done.stdout
    assert (home / "README.md").read_text() == "mine\n"
    assert (home / "examples/first.py").read_text() == "print(1)\n"
    assert not (home / ".git").exists() and (home / ".smstudio/starter-done").exists()
    (home / "examples/first.py").unlink()
    again = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert "already copied" in again.stdout and not (home / "examples/first.py").exists()
