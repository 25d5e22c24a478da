"""A local base image made the way official Debian images are: debootstrap a minimal
rootfs and `docker import` it. Tests and CI build every image FROM it, offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from rich.console import Console
from rich.markup import escape

from smstudio.core import dockerhost
from smstudio.core.errors import SmstudioError

DEFAULT_TAG = "smstudio/local-base:bookworm"
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
PACKAGES = ("python3", "python3-venv", "ca-certificates")
# Trimmed after install: nothing here is needed to build or run the images.
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
        "usr/share/info", "usr/share/locale", "usr/share/groff", "usr/share/lintian",
        "usr/share/linda", "var/log")  # fmt: skip
# Bumped when what ensure() makes changes: an older local base is rebuilt.
VERSION = "2"
# The settings Debian's official (slim) images carry, so every later `apt-get install`
# keeps no package caches, downloads no translations and unpacks no docs, manuals or
# message catalogues (LANG is C.UTF-8): what the images build FROM in AWS behaves alike.
APT_CLEAN = (
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
    '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
    '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
    'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
)
SETTINGS = {
    "etc/apt/apt.conf.d/docker-clean": APT_CLEAN,
    "etc/apt/apt.conf.d/docker-no-languages": 'Acquire::Languages "none";\n',
    "etc/apt/apt.conf.d/docker-autoremove-suggests": (
        'Apt::AutoRemove::SuggestsImportant "false";\n'
    ),
    "etc/dpkg/dpkg.cfg.d/docker": "".join(
        f"path-exclude /usr/share/{d}/*\n"
        for d in ("doc", "man", "groff", "info", "lintian", "linda", "locale")
    )
    + "path-include /usr/share/doc/*/copyright\n",
}


@dataclass(frozen=True)
class LocalBaseRequest:
    tag: str = DEFAULT_TAG
    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR
    extra_ca_dir: Path | None = None
    rebuild: bool = False


def extra_certificates(folder: Path | None) -> list[Path]:
    """*.crt files to trust; by default the host's own local CAs (where an enterprise
    proxy's CA usually is)."""
    if folder is None:
        folder = HOST_CA_DIR if HOST_CA_DIR.is_dir() else None
    elif not folder.is_dir():
        raise SmstudioError(f"extra CA folder {folder} does not exist", "pass a folder of *.crt")
    return sorted(folder.rglob("*.crt")) if folder else []


def debootstrap_command(request: LocalBaseRequest, target: Path) -> list[str]:
    return [
        "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
        request.suite, str(target), request.mirror,
    ]  # fmt: skip


def import_changes(request: LocalBaseRequest) -> list[str]:
    return [
        'CMD ["/bin/bash"]',
        "ENV LANG=C.UTF-8",
        f"LABEL io.smstudio.local-base={request.suite}",
        f"LABEL io.smstudio.local-base-version={VERSION}",
    ]


def _preflight() -> None:
    if shutil.which("debootstrap") is None:
        raise SmstudioError(
            "debootstrap is not installed",
            "run scripts/setup-host.sh, or `apt-get install debootstrap`",
        )
    if os.geteuid() != 0:
        raise SmstudioError(
            "debootstrap needs root to build the local base image",
            "run `sudo smstudio images local-base`, or use a public base with --base-image",
        )


def _unmount_below(root: Path) -> None:
    """debootstrap mounts /proc and /sys in the target; a failed run can leave them."""
    prefix = str(root.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def ensure(request: LocalBaseRequest, console: Console) -> str:
    """Return the local base tag, building it unless it exists (or rebuild is asked)."""
    engine = dockerhost.client()
    if not request.rebuild:
        try:
            found = engine.images.get(request.tag)
        except docker.errors.ImageNotFound:
            found = None
        labels = (found.attrs.get("Config") or {}).get("Labels") or {} if found else {}
        if found is not None and labels.get("io.smstudio.local-base-version") == VERSION:
            console.print(f"local base {request.tag} is present (use --rebuild to remake it)")
            return request.tag
        if found is not None:
            console.print(f"local base {request.tag} is from an older smstudio: rebuilding it")
    _preflight()
    certs = extra_certificates(request.extra_ca_dir)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="smstudio-rootfs-", dir="/var/tmp"))
    rootfs = workdir / "rootfs"
    try:
        _debootstrap(request, rootfs, console)
        _trust(rootfs, certs)
        for sub in TRIM:
            shutil.rmtree(rootfs / sub, ignore_errors=True)
            (rootfs / sub).mkdir(parents=True, exist_ok=True)
        for name, text in SETTINGS.items():
            (rootfs / name).parent.mkdir(parents=True, exist_ok=True)
            (rootfs / name).write_text(text)
        _import(request, rootfs, console)
    finally:
        _unmount_below(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    size = engine.images.get(request.tag).attrs["Size"] / 1e6
    console.print(
        f"local base {request.tag} built in {time.monotonic() - started:.0f}s "
        f"({size:.0f} MB, {len(certs)} extra CA certificate(s))"
    )
    return request.tag


def _debootstrap(request: LocalBaseRequest, rootfs: Path, console: Console) -> None:
    tail: list[str] = []
    with (
        console.status(f"debootstrap {request.suite}", spinner="dots") as status,
        subprocess.Popen(
            debootstrap_command(request, rootfs), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        ) as proc,
    ):  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = [*tail[-19:], line.rstrip()]
            status.update(escape(f"debootstrap {request.suite}: {line.strip()[:90]}"))
        code = proc.wait()
    if code != 0:
        raise SmstudioError(
            f"debootstrap {request.suite} from {request.mirror} failed (exit {code}):\n"
            + "\n".join(tail),
            "check that the mirror is reachable and the suite name is right (--mirror, --suite)",
        )


def _trust(rootfs: Path, certs: list[Path]) -> None:
    if not certs:
        return
    target = rootfs / "usr/local/share/ca-certificates/smstudio"
    target.mkdir(parents=True, exist_ok=True)
    for cert in certs:
        shutil.copy2(cert, target / cert.name)
    subprocess.run(
        ["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True
    )


def _import(request: LocalBaseRequest, rootfs: Path, console: Console) -> None:
    changes = [arg for change in import_changes(request) for arg in ("--change", change)]
    with console.status(f"docker import {request.tag}", spinner="dots"):
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", "-", "."],
            stdout=subprocess.PIPE,
        )
        done = subprocess.run(
            ["docker", "import", "--platform", "linux/amd64", *changes, "-", request.tag],
            stdin=tar.stdout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if tar.stdout:
            tar.stdout.close()
        tar.wait()
    if done.returncode != 0 or tar.returncode != 0:
        raise SmstudioError(f"docker import failed: {done.stderr.strip()}", "check dockerd's log")
