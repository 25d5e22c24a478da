"""The offline local base: debootstrapped bookworm with python3, venv and the CAs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import testinfra

from smstudio.core import dockerhost
from smstudio.images import localbase
from tests.helpers import TrackedContainers


def test_local_base_has_python_venv_and_the_extra_cas(
    local_base: str, containers: TrackedContainers
) -> None:
    image = dockerhost.get_image(local_base)
    assert image.labels["io.smstudio.local-base"] == "bookworm"
    assert image.attrs["Architecture"] == "amd64"
    host = testinfra.get_host(f"docker://{containers.sleeper(local_base).id}")
    assert (
        host.run("python3 -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 10)'").rc
        == 0
    )
    assert host.package("ca-certificates").is_installed
    for cert in Path(localbase.HOST_CA_DIR).glob("*.crt"):
        assert host.file(f"/usr/local/share/ca-certificates/smstudio/{cert.name}").exists
    assert host.run("ls /var/cache/apt/archives/*.deb").rc != 0, "apt cache was trimmed"
    # as the official slim images: no message catalogues or manuals, and apt keeps no caches
    assert image.labels["io.smstudio.local-base-version"] == localbase.VERSION
    assert host.run("ls -A /usr/share/locale /usr/share/man").stdout.split() == [
        "/usr/share/locale:", "/usr/share/man:"]
    assert host.run("apt-get update -q && apt-get install -y -q --no-install-recommends less && "
                    "ls /var/cache/apt/*.bin /var/cache/apt/archives/*.deb").rc != 0  # fmt: skip
    assert host.run("ls /usr/share/doc/less/").stdout.split() == ["copyright"]


def test_local_base_is_reused(local_base: str) -> None:
    done = subprocess.run([sys.executable, "-m", "smstudio.cli", "images", "local-base"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0
    assert "is present" in done.stderr and done.stdout.strip() == local_base


def test_debootstrap_command_and_certificates(tmp_path: Path) -> None:
    request = localbase.LocalBaseRequest(suite="trixie", mirror="http://mirror.example/debian")
    cmd = localbase.debootstrap_command(request, tmp_path / "rootfs")
    assert cmd[:3] == [
        "debootstrap",
        "--variant=minbase",
        "--include=python3,python3-venv,ca-certificates",
    ]
    assert cmd[3:] == ["trixie", str(tmp_path / "rootfs"), "http://mirror.example/debian"]
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "corp.crt").write_text("x")
    (tmp_path / "ca" / "notes.txt").write_text("x")
    assert localbase.extra_certificates(tmp_path / "ca") == [tmp_path / "ca" / "corp.crt"]
