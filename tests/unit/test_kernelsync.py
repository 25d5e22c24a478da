"""Persisted kernels (lcc/lib/kernels.py) and smstudio-env, on real environments made in a
temporary home: venvs from `python -m venv --without-pip` with a stand-in ipykernel
package, pipenv layouts, a fake conda env; no Docker, no package installs."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
KERNELS_PY = ROOT / "lcc/lib/kernels.py"
SMSTUDIO_ENV = ROOT / "lcc/bin/smstudio-env"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHON = os.path.realpath(sys.executable)  # the interpreter itself, not this venv's link
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
ARGV_TAIL = ["-m", "ipykernel_launcher", "-f", "{connection_file}"]


@pytest.fixture
def k(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of kernels.py per test, loaded from its path like the tools do."""
    monkeypatch.delenv("WORKON_HOME", raising=False)
    monkeypatch.delenv("SMSTUDIO_LOG_NAME", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ in lcc/lib
    spec = importlib.util.spec_from_file_location("smstudio_kernels_under_test", KERNELS_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def add_ipykernel(env: Path, version: str = PY) -> None:
    package = env / f"lib/python{version}/site-packages/ipykernel"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")


def make_venv(path: Path, ipykernel: bool = True) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    if ipykernel:
        add_ipykernel(path)
    return path


def make_conda(path: Path) -> Path:
    (path / "conda-meta").mkdir(parents=True)
    (path / "bin").mkdir()
    (path / "bin/python").symlink_to(PYTHON)
    add_ipykernel(path)
    return path


def make_home(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """One environment of every kind the sync finds, and one without ipykernel."""
    home = tmp_path / "home"
    workon = make_venv(home / ".local/share/virtualenvs/alpha-AbCd1234")
    (workon / ".project").write_text(f"{home}/work/alpha\n")
    (home / "projects/beta").mkdir(parents=True)
    (home / "projects/beta/Pipfile").write_text("[packages]\n")
    envs = {
        "alpha": workon,
        "beta": make_venv(home / "projects/beta/.venv"),
        "gamma": make_venv(home / "gamma/.venv"),
        "delta": make_venv(home / ".venvs/delta"),
        "epsilon": make_conda(home / ".conda/envs/epsilon"),
        "plain": make_venv(home / ".venvs/plain", ipykernel=False),
    }
    return home, envs


DISPLAY = {
    "alpha": "Python (pipenv: alpha)",
    "beta": "Python (pipenv: beta)",
    "gamma": "Python (venv: gamma)",
    "delta": "Python (venv: delta)",
    "epsilon": "Python (conda: epsilon)",
}


def listed_kernels(home: Path) -> dict[str, dict[str, Any]]:
    """What a Jupyter server lists from the user data dir: <data>/kernels/<name>/kernel.json
    with a valid kernel name (jupyter_client's rule); unreadable ones are skipped."""
    found = {}
    for spec in sorted((home / ".local/share/jupyter/kernels").glob("*/kernel.json")):
        name = spec.parent.name
        if re.fullmatch(r"[a-z0-9._-]+", name, re.IGNORECASE):
            try:
                found[name] = json.loads(spec.read_text())
            except ValueError:
                continue
    return found


def ours(home: Path) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in listed_kernels(home).items() if "smstudio" in s.get("metadata", {})}


def snapshot(home: Path) -> dict[str, tuple[bytes, int]]:
    folder = home / ".local/share/jupyter/kernels"
    return {
        str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def counting_probe(k: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    calls: Counter[str] = Counter()
    real = k.probe

    def probe(python: Path) -> str | None:
        calls[str(python)] += 1
        return real(python)  # type: ignore[no-any-return]

    monkeypatch.setattr(k, "probe", probe)
    return calls


def test_every_kind_is_registered_as_a_kernel_the_server_lists(
    k: ModuleType, tmp_path: Path
) -> None:
    home, envs = make_home(tmp_path)
    found = {env.path: env for env in k.discover(home)}
    assert set(found) == set(envs.values())
    assert {env.project: env.kind for env in found.values()} == {
        "alpha": "pipenv", "beta": "pipenv", "gamma": "venv", "delta": "venv",
        "epsilon": "conda", "plain": "venv",
    }  # fmt: skip

    result = k.sync(home)
    assert len(result.registered) == 5 and result.broken == [] and result.removed == []
    assert result.environments == 6 and result.probed == 5
    specs = listed_kernels(home)
    assert sorted(s["display_name"] for s in specs.values()) == sorted(DISPLAY.values())
    for name, spec in specs.items():
        assert re.fullmatch(r"smstudio-[a-z0-9-]{1,30}-[0-9a-f]{6}", name), name
        project = spec["display_name"].split(": ")[1].rstrip(")")
        env = envs[project]
        assert spec["argv"] == [f"{env}/bin/python", *ARGV_TAIL]
        assert spec["language"] == "python"
        assert spec["metadata"]["smstudio"]["env"] == str(env)
        assert spec["metadata"]["smstudio"]["kind"] in {"pipenv", "venv", "conda"}
        if project != "epsilon":  # a real venv: its kernel's python imports its ipykernel
            where = subprocess.run(
                [*spec["argv"][:1], "-c", "import ipykernel; print(ipykernel.__file__)"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert where.startswith(str(env)), where


def test_an_environment_without_ipykernel_gets_no_kernel(k: ModuleType, tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_venv(home / ".venvs/plain", ipykernel=False)
    had = make_venv(home / ".venvs/had")
    assert len(k.sync(home).registered) == 1
    for package in had.glob("lib/python*/site-packages/ipykernel"):
        (package / "__init__.py").unlink()
        package.rmdir()
    result = k.sync(home)
    assert ours(home) == {} and len(result.removed) == 1 and result.probed == 0
    assert "without ipykernel" in (home / ".smstudio/logs/kernels.log").read_text()


def test_broken_interpreters_are_skipped_with_the_repair_hint(
    k: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, envs = make_home(tmp_path)
    assert len(k.sync(home).registered) == 5
    # beta's interpreter is gone (the image's Python moved); delta's ipykernel is for
    # another Python than the one its bin/python runs
    (envs["beta"] / "bin/python").unlink()
    (envs["beta"] / "bin/python").symlink_to(tmp_path / "gone/python3.9")
    (envs["delta"] / f"lib/python{PY}").rename(envs["delta"] / "lib/python3.99")
    capsys.readouterr()

    result = k.sync(home)
    assert sorted(result.broken) == sorted([str(envs["beta"]), str(envs["delta"])])
    assert len(result.removed) == 2 and result.registered == [] and len(result.unchanged) == 3
    assert {s["display_name"] for s in ours(home).values()} == {
        DISPLAY["alpha"],
        DISPLAY["gamma"],
        DISPLAY["epsilon"],
    }
    out = capsys.readouterr().out
    beta = re.search(rf"^{STAMP} WARN kernels: pipenv beta: kernel not registered: .*$", out, re.M)
    assert beta and f"{envs['beta']}/bin/python does not run" in beta[0]
    assert "repair: smstudio-env repair beta (recreates it from Pipfile.lock)" in beta[0]
    delta = re.search(rf"^{STAMP} WARN kernels: venv delta: .*$", out, re.M)
    assert delta and f"is Python {PY} but ipykernel is in 3.99" in delta[0]
    assert f"python3 -m venv --clear {envs['delta']}" in delta[0]
    assert re.search(rf"^{STAMP} INFO kernels: removed smstudio-beta-\w+: .* is broken$", out, re.M)
    assert out in (home / ".smstudio/logs/kernels.log").read_text()


def test_a_removed_environment_loses_its_kernel_and_foreign_kernels_stay(
    k: ModuleType, tmp_path: Path
) -> None:
    home, envs = make_home(tmp_path)
    kernels = home / ".local/share/jupyter/kernels"
    foreign = {
        "ir": {"argv": ["R"], "display_name": "R", "language": "R"},
        "other": {"argv": ["x"], "display_name": "X", "language": "python",
                  "metadata": {"debugger": True, "env": str(envs["gamma"])}},
    }  # fmt: skip
    for name, spec in foreign.items():
        (kernels / name).mkdir(parents=True)
        (kernels / name / "kernel.json").write_text(json.dumps(spec))
    (kernels / "broken-json").mkdir()
    (kernels / "broken-json/kernel.json").write_text("{not json")
    before = {p: p.read_bytes() for p in kernels.rglob("kernel.json")}

    k.sync(home)
    shutil.rmtree(home / "gamma")
    shutil.rmtree(envs["epsilon"])
    result = k.sync(home)
    assert len(result.removed) == 2
    assert {s["display_name"] for s in ours(home).values()} == {
        DISPLAY["alpha"],
        DISPLAY["beta"],
        DISPLAY["delta"],
    }
    assert {p: p.read_bytes() for p in before} == before
    log = (home / ".smstudio/logs/kernels.log").read_text()
    assert f"environment {envs['gamma']} is gone" in log


def test_a_second_sync_rewrites_nothing_and_runs_no_interpreter(
    k: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, envs = make_home(tmp_path)
    calls = counting_probe(k, monkeypatch)
    first = k.sync(home)
    assert first.probed == 5 and sum(calls.values()) == 5
    before = snapshot(home)
    time.sleep(0.01)
    second = k.sync(home)
    assert snapshot(home) == before  # same bytes, same mtimes
    assert second.probed == 0 and sum(calls.values()) == 5
    assert second.registered == [] and sorted(second.unchanged) == sorted(first.registered)

    # a changed fingerprint (here pyvenv.cfg; an image update changes bin/python's target)
    # checks that one interpreter again, once
    cfg = envs["delta"] / "pyvenv.cfg"
    os.utime(cfg, ns=(cfg.stat().st_atime_ns, cfg.stat().st_mtime_ns + 10**9))
    third = k.sync(home)
    assert third.probed == 1 and calls[f"{envs['delta']}/bin/python"] == 2
    assert snapshot(home) == before
    assert k.sync(home).probed == 0


def test_each_interpreter_runs_at_most_once_per_sync(
    k: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, envs = make_home(tmp_path)
    (envs["beta"] / "bin/python").unlink()
    (envs["beta"] / "bin/python").symlink_to(envs["gamma"] / "bin/python")
    os.rename(envs["delta"] / f"lib/python{PY}", envs["delta"] / "lib/python3.99")
    calls = counting_probe(k, monkeypatch)
    result = k.sync(home)
    assert result.broken == [str(envs["delta"])]
    assert calls and max(calls.values()) == 1 and result.probed == sum(calls.values()) == 5
    calls.clear()
    (envs["alpha"] / "bin/python").unlink()  # a dangling link is broken without running it
    (envs["alpha"] / "bin/python").symlink_to(tmp_path / "missing")
    result = k.sync(home)
    assert sorted(result.broken) == sorted([str(envs["alpha"]), str(envs["delta"])])
    assert sum(calls.values()) == 0  # delta's (working) interpreter is cached too


def test_two_hundred_environments_sync_fast_with_a_warm_cache(
    k: ModuleType, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    for n in range(200):
        env = home / f".venvs/env{n:03d}"
        (env / "bin").mkdir(parents=True)
        (env / "pyvenv.cfg").write_text(f"home = {Path(PYTHON).parent}\n")
        (env / "bin/python").symlink_to(PYTHON)
        add_ipykernel(env)
    lines: list[str] = []
    first = k.sync(home, log=lambda level, message: lines.append(message))
    assert len(first.registered) == 200 and first.probed == 200
    started = time.monotonic()
    second = k.sync(home, log=lambda level, message: lines.append(message))
    took = time.monotonic() - started
    print(f"warm sync of 200 environments: {took:.3f}s; {lines[-1]}")
    assert len(second.unchanged) == 200 and second.probed == 0
    assert took < 1.0


def test_the_script_runs_fed_on_stdin_as_the_lifecycle_script_runs_it(tmp_path: Path) -> None:
    text = KERNELS_PY.read_text()
    assert '"""' not in text and "'''" not in text  # the renderer strips comments and blanks
    rendered = tmp_path / "kernels-rendered.py"
    rendered.write_text("".join(line + "\n" for line in text.splitlines()
                                if line.strip() and not line.strip().startswith("#")))  # fmt: skip
    home, envs = make_home(tmp_path)
    (envs["gamma"] / "bin/python").unlink()
    (envs["gamma"] / "bin/python").symlink_to(tmp_path / "missing")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "elsewhere")}
    with rendered.open() as source:
        done = subprocess.run([sys.executable, "-", "sync", "--home", str(home)], stdin=source,
                              capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for line in lines:
        assert re.fullmatch(rf"{STAMP} (INFO|WARN|ERROR) kernels: .+", line), line
    summary = rf"{STAMP} INFO kernels: 6 environments, 4 registered, 0 unchanged, 0 removed, 1 broken, 4 interpreters checked in \d+\.\d\ds"
    assert re.fullmatch(summary, lines[-1]), lines[-1]
    assert "WARN kernels: venv gamma: kernel not registered" in done.stdout
    assert (home / ".smstudio/logs/kernels.log").read_text() == done.stdout
    assert len(ours(home)) == 4


def test_register_covers_an_environment_anywhere_and_sync_keeps_it(
    k: ModuleType, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    deep = make_venv(home / "a/b/c/.venv")
    plain = make_venv(home / "a/b/plain", ipykernel=False)
    assert k.discover(home) == []
    run = [sys.executable, str(KERNELS_PY), "register", "--home", str(home)]
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "SMSTUDIO_LOG_NAME": "env"}
    done = subprocess.run([*run, str(deep)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [s["display_name"] for s in ours(home).values()] == ["Python (venv: c)"]
    assert "INFO env: registered smstudio-c-" in (home / ".smstudio/logs/env.log").read_text()
    assert k.sync(home).unchanged and len(ours(home)) == 1
    failed = subprocess.run([*run, str(plain)], capture_output=True, text=True, env=env)
    assert failed.returncode == 1


# smstudio-env, run as a program with a fake home (and a fake pipenv where it installs)


def smstudio_env(home: Path, *args: str, path: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{path}{os.pathsep if path else ''}{os.environ['PATH']}", "HOME": str(home)}
    return subprocess.run([sys.executable, str(SMSTUDIO_ENV), *args], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def test_list_shows_every_environment_and_how_to_repair(k: ModuleType, tmp_path: Path) -> None:
    home, envs = make_home(tmp_path)
    k.sync(home)
    (envs["beta"] / "bin/python").unlink()
    (envs["beta"] / "bin/python").symlink_to(tmp_path / "gone/python3.9")
    done = smstudio_env(home, "list")
    assert done.returncode == 0, done.stderr
    rows = {
        line.split()[1]: line for line in done.stdout.splitlines()[1:] if not line.startswith(" ")
    }
    assert set(rows) == {"alpha", "beta", "gamma", "delta", "epsilon", "plain"}
    for project, kind in [("alpha", "pipenv"), ("gamma", "venv"), ("epsilon", "conda")]:
        assert rows[project].split()[0] == kind
        assert re.search(rf"smstudio-{project}-[0-9a-f]{{6}}\s+{envs[project]}$", rows[project])
    assert "broken" in rows["beta"] and "no ipykernel" in rows["plain"]
    assert (
        "-> " in done.stdout
        and "smstudio-env repair beta (recreates it from Pipfile.lock)" in done.stdout
    )
    assert f"{envs['plain']}/bin/python -m pip install ipykernel" in done.stdout


def test_remove_drops_the_environment_and_kernel_but_keeps_the_project(
    k: ModuleType, tmp_path: Path
) -> None:
    home, envs = make_home(tmp_path)
    k.sync(home)
    (home / "projects/beta/analysis.py").write_text("print('mine')\n")
    done = smstudio_env(home, "remove", "beta")
    assert done.returncode == 0, done.stderr
    assert not envs["beta"].exists()
    assert (home / "projects/beta/Pipfile").is_file() and (
        home / "projects/beta/analysis.py"
    ).is_file()
    assert "Python (pipenv: beta)" not in {s["display_name"] for s in ours(home).values()}
    assert len(ours(home)) == 4
    assert f"rm -rf {home / 'projects/beta'}" in done.stdout
    assert "smstudio-env repair beta" in done.stdout
    missing = smstudio_env(home, "remove", "nothing-here")
    assert missing.returncode == 2 and "smstudio-env list" in missing.stderr


@pytest.mark.parametrize("name", ["bad name", "_under", ".hidden", "a/b", "x" * 64])
def test_new_refuses_an_invalid_name(tmp_path: Path, name: str) -> None:
    done = smstudio_env(tmp_path, "new", name)
    assert done.returncode == 2
    assert "is not a valid project name" in done.stderr and "fix:" in done.stderr
    assert not (tmp_path / "projects").exists()


FAKE_PIPENV = """#!{python}
# pipenv's side effects for smstudio-env's tests: an in-project venv, Pipfile, lock
import os, pathlib, subprocess, sys
args, here = sys.argv[1:], pathlib.Path.cwd()
with open(os.environ["HOME"] + "/pipenv-calls", "a") as log:
    log.write(" ".join(args) + " | in-project=" + os.environ.get("PIPENV_VENV_IN_PROJECT", "") + "\\n")
if args == ["--venv"]:
    print(here / ".venv")
    sys.exit(0)
if "nope-not-a-package" in args:
    print("ERROR: No matching distribution found for nope-not-a-package")
    sys.exit(1)
python = args[args.index("--python") + 1]
subprocess.run([python, "-m", "venv", "--without-pip", str(here / ".venv")], check=True)
package = here / ".venv/lib/python{version}/site-packages/ipykernel"
package.mkdir(parents=True)
(package / "__init__.py").write_text("")
if args[0] == "install":
    (here / "Pipfile").write_text("[packages]\\n")
    (here / "Pipfile.lock").write_text("{{}}\\n")
"""


def test_new_and_repair_with_a_stand_in_pipenv(tmp_path: Path) -> None:
    home, fake = tmp_path / "home", tmp_path / "bin"
    fake.mkdir()
    home.mkdir()
    (fake / "pipenv").write_text(FAKE_PIPENV.format(python=PYTHON, version=PY))
    (fake / "pipenv").chmod(0o755)
    (fake / "python3").symlink_to(PYTHON)

    done = smstudio_env(home, "new", "demo", "tabulate", path=str(fake))
    assert done.returncode == 0, done.stdout + done.stderr
    venv = home / "projects/demo/.venv"
    (name, spec), = ours(home).items()  # fmt: skip
    assert (
        spec["display_name"] == "Python (pipenv: demo)" and spec["argv"][0] == f"{venv}/bin/python"
    )
    assert f'kernel "Python (pipenv: demo)" ({name}) is ready' in done.stdout
    calls = (home / "pipenv-calls").read_text()
    assert f"install --python {fake / 'python3'} ipykernel tabulate | in-project=1" in calls

    again = smstudio_env(home, "new", "demo", path=str(fake))
    assert again.returncode == 2 and "smstudio-env repair demo" in again.stderr

    (venv / "bin/python").unlink()  # the image's Python changed under the environment
    (venv / "bin/python").symlink_to(tmp_path / "old/python3.9")
    assert "smstudio-env repair demo" in smstudio_env(home, "list", path=str(fake)).stdout
    repaired = smstudio_env(home, "repair", "demo", path=str(fake))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert os.path.realpath(venv / "bin/python") != str(tmp_path / "old/python3.9")
    assert "sync --dev --python" in (home / "pipenv-calls").read_text()
    assert list(ours(home)) == [name]

    failed = smstudio_env(home, "new", "oops", "nope-not-a-package", path=str(fake))
    assert failed.returncode == 1
    assert "No matching distribution" in failed.stdout and "pipenv install" in failed.stderr
    assert not (home / "projects/oops").exists()

    (home / "projects/demo/Pipfile.lock").unlink()
    nolock = smstudio_env(home, "repair", "demo", path=str(fake))
    assert nolock.returncode == 2 and "no Pipfile.lock" in nolock.stderr


def test_help_explains_every_command(tmp_path: Path) -> None:
    done = smstudio_env(tmp_path, "--help")
    assert done.returncode == 0
    for command in ("new", "list", "repair", "remove"):
        assert command in done.stdout
        assert smstudio_env(tmp_path, command, "--help").returncode == 0
