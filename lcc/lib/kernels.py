#!/usr/bin/env python3
# Persisted kernels: the Python environments on the home (pipenv, venv, conda) get a
# kernelspec in ~/.local/share/jupyter/kernels, which Jupyter rescans on every request.
# Discovery reads the filesystem only; each interpreter runs at most once per sync, and not
# at all while its fingerprint matches the one cached in ~/.smstudio/kernels/state.json.
#   sync [--home PATH]   register, update and remove kernelspecs (exit 0 even if envs are broken)
#   register ENV_PATH    a sync that also covers ENV_PATH, wherever it is (smstudio-env)
# Standard library only, Python >= 3.10; no triple-quoted strings (the renderer drops lines).
import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Log = Callable[[str, str], None]
KERNELS = ".local/share/jupyter/kernels"
VERSION = "import sys;print('%d.%d'%sys.version_info[:2])"


@dataclass(frozen=True)
class Env:
    path: Path
    kind: str  # pipenv | venv | conda
    project: str


@dataclass
class SyncResult:
    registered: list[str] = field(default_factory=list)  # kernel names
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # environment paths
    probed: int = 0
    environments: int = 0


def logger(home: Path) -> Log:
    name = os.environ.get("SMSTUDIO_LOG_NAME") or "kernels"

    def log(level: str, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {level} {name}: {message}"
        print(line, flush=True)
        with contextlib.suppress(OSError):
            (home / ".smstudio/logs").mkdir(parents=True, exist_ok=True)
            with open(home / f".smstudio/logs/{name}.log", "a") as out:
                out.write(line + "\n")

    return log


def classify(path: Path, default: str = "") -> Env | None:
    # default: "pipenv" in WORKON_HOME, "venv" in ~/.venvs, "" for a path named directly
    with contextlib.suppress(OSError):  # an unreadable folder is no environment
        if not os.path.lexists(path / "bin/python"):  # one stat for most folders
            return None
        conda = (path / "conda-meta").is_dir()
        if not (conda or (path / "pyvenv.cfg").is_file()):
            return None
        if conda:
            return Env(path, "conda", path.name)
        if path.name == ".venv":
            pipenv = (path.parent / "Pipfile").is_file()
            return Env(path, "pipenv" if pipenv else "venv", path.parent.name)
        if default != "venv" and (path / ".project").is_file():
            return Env(path, "pipenv", Path((path / ".project").read_text().strip()).name)
        if default == "pipenv":
            return Env(path, "pipenv", re.sub(r"-[\w-]{8}$", "", path.name))
        return Env(path, "venv", path.name)
    return None


def _dirs(folder: Path) -> list[Path]:
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        found = [Path(e.path) for e in entries if e.is_dir() and e.name[0] != "."]
        return sorted(p for p in found if p.name != "node_modules")
    return []


def discover(home: Path) -> list[Env]:
    workon = Path(os.environ.get("WORKON_HOME") or home / ".local/share/virtualenvs").expanduser()
    found = [classify(p, "pipenv") for p in _dirs(workon)]
    for top in _dirs(home):
        found += [classify(p / ".venv") for p in [top, *_dirs(top)]]
    found += [classify(p, "venv") for p in _dirs(home / ".venvs")]
    found += [classify(p) for p in _dirs(home / ".conda/envs") if (p / "conda-meta").is_dir()]
    return list({env.path: env for env in found if env}.values())


def ipykernel(env: Path) -> list[str]:
    # the X.Y of each lib/pythonX.Y that holds ipykernel
    with contextlib.suppress(OSError):
        return sorted(p.parts[-3][6:] for p in env.glob("lib/python3.*/site-packages/ipykernel"))
    return []


def probe(python: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run = subprocess.run([python, "-I", "-S", "-c", VERSION], capture_output=True, timeout=15)
        out = run.stdout.decode(errors="replace").strip()
        return out if run.returncode == 0 and re.fullmatch(r"\d+\.\d+", out) else None
    return None


def fingerprint(env: Env) -> list[Any] | None:
    with contextlib.suppress(OSError):
        real = os.path.realpath(env.path / "bin/python")
        cfg = os.stat(env.path / ("conda-meta" if env.kind == "conda" else "pyvenv.cfg"))
        return [real, os.stat(real).st_size, os.stat(real).st_mtime_ns, cfg.st_mtime_ns]
    return None


def put(file: Path, text: str) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.with_name(f".{file.name}.{os.getpid()}").write_text(text)
    os.replace(file.with_name(f".{file.name}.{os.getpid()}"), file)


def check(envs: list[Env], home: Path) -> tuple[dict[Path, str | None], int]:
    # Each interpreter's X.Y (None: it does not run): cached, or probed in parallel.
    state, old, hits = home / ".smstudio/kernels/state.json", "", dict[str, Any]()
    prints = {env.path: fingerprint(env) for env in envs}
    with contextlib.suppress(Exception):
        old = state.read_text()
        hits = {k: v for k, v in json.loads(old).items() if v["fp"] == prints.get(Path(k))}
    versions = {env.path: hits.get(str(env.path), {}).get("python") for env in envs}
    todo = [e.path for e in envs if prints[e.path] and str(e.path) not in hits]
    with ThreadPoolExecutor(max(1, min(16, len(todo)))) as pool:
        for path, version in zip(todo, pool.map(lambda p: probe(p / "bin/python"), todo)):  # noqa: B905
            versions[path] = version
            if version:
                hits[str(path)] = {"fp": prints[path], "python": version}
    with contextlib.suppress(OSError):
        if json.dumps(hits, sort_keys=True) != old:
            put(state, json.dumps(hits, sort_keys=True))
    return versions, len(todo)


def problem(env: Env, wanted: list[str], python: str | None) -> str | None:
    # why the environment cannot have a kernel, and how to repair it; None when it can
    if python in wanted:
        return None
    why = f"is Python {python} but ipykernel is in {'/'.join(wanted)}" if python else "does not run"
    fix = f"python3 -m venv --clear {env.path}, then reinstall ipykernel and your packages"
    if env.kind != "venv":
        fix = f"conda create --force -p {env.path} python ipykernel, then reinstall packages"
    if env.kind == "pipenv":
        fix = f"smstudio-env repair {env.project} (recreates it from Pipfile.lock)"
    return f"{env.path}/bin/python {why} (the image's Python changed?); repair: {fix}"


def kernel_name(env: Env) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", env.project.lower())[:30].strip("-") or "env"
    return f"smstudio-{slug}-{hashlib.sha1(str(env.path).encode()).hexdigest()[:6]}"


def kernelspec(env: Env) -> str:
    spec = {
        "argv": [f"{env.path}/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({env.kind}: {env.project})",
        "language": "python",
        "metadata": {"smstudio": {"env": str(env.path), "kind": env.kind}},
    }
    return json.dumps(spec, indent=1) + "\n"


def sync(home: Path, log: Log | None = None, extra: Iterable[Path] = ()) -> SyncResult:
    log, started, result = log or logger(home), time.monotonic(), SyncResult()
    kernels, specs = home / KERNELS, dict[str, tuple[str, str]]()
    for folder in _dirs(kernels):  # ours: name -> (kernel.json, environment path)
        with contextlib.suppress(Exception):
            text = (folder / "kernel.json").read_text()
            specs[folder.name] = (text, json.loads(text)["metadata"]["smstudio"]["env"])
    # registered environments stay covered wherever they are
    extra = [*extra, *(Path(env) for _, env in specs.values())]
    envs = list({e.path: e for e in [*map(classify, extra), *discover(home)] if e}.values())
    wanted = {env.path: ipykernel(env.path) for env in envs}
    versions, result.probed = check([e for e in envs if wanted[e.path]], home)
    keep: set[str] = set()
    for env in (e for e in envs if wanted[e.path]):
        name, trouble = kernel_name(env), problem(env, wanted[env.path], versions[env.path])
        if trouble:
            result.broken.append(str(env.path))
            log("WARN", f"{env.kind} {env.project}: kernel not registered: {trouble}")
            continue
        keep.add(name)
        if specs.get(name, ("",))[0] == kernelspec(env):
            result.unchanged.append(name)
            continue
        try:
            put(kernels / name / "kernel.json", kernelspec(env))
            result.registered.append(name)
            log("INFO", f"registered {name} ({env.kind}: {env.project}, {env.path})")
        except OSError as exc:
            log("ERROR", f"{env.path}: {exc}")
    for name, (_, path) in specs.items():
        if name not in keep:
            state = wanted.get(Path(path))
            why = "gone" if state is None else "without ipykernel" if not state else "broken"
            why = why if why != "broken" or path in result.broken else "renamed"
            shutil.rmtree(kernels / name, ignore_errors=True)
            result.removed.append(name)
            log("INFO", f"removed {name}: environment {path} is {why}")
    result.environments = len(envs)
    log("INFO", f"{len(envs)} environments, {len(result.registered)} registered, "
        f"{len(result.unchanged)} unchanged, {len(result.removed)} removed, "
        f"{len(result.broken)} broken, {result.probed} interpreters checked in "
        f"{time.monotonic() - started:.2f}s")  # fmt: skip
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="kernels.py", description="kernelspecs for envs")
    parser.add_argument("command", choices=["sync", "register"])
    parser.add_argument("env", nargs="*", type=Path, help="register: environment folders")
    parser.add_argument("--home", type=Path, default=Path.home())
    args = parser.parse_intermixed_args()
    paths, failed = [p.absolute() for p in args.env], args.command == "register"
    try:  # a lifecycle script must never fail the app: sync exits 0
        broken = sync(args.home, extra=paths).broken
        failed = failed and any(str(p) in broken or not ipykernel(p) for p in paths)
    except Exception as exc:
        logger(args.home)("ERROR", f"kernels: {exc}")
    raise SystemExit(int(failed))
