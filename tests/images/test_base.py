"""Base image tests; they also run on every image built on base."""

from __future__ import annotations

import re
from pathlib import Path

import testinfra
from rich.console import Console

from smstudio.core import dockerhost
from smstudio.images.check import lint
from tests.conftest import HOST_CA_DIR, TAG
from tests.helpers import TrackedContainers, sh

IMAGE = "base"


def test_meets_the_studio_contract(image: str) -> None:
    """Platform, default user, UID/GID <= 65535 in every layer, nothing under the home
    mount path, declared kernelspecs, JupyterLab health: whatever applies to the image; and
    what Docker access needs (`images check --docker`): the CLI, compose, no BuildKit."""
    assert lint.run(image, lint.CheckOptions(docker=True), Console(stderr=True)) == []


def test_default_user_is_sagemaker_user(image: str, containers: TrackedContainers) -> None:
    box = containers.sleeper(image)
    code, output = sh(box, "id -u; id -g; id -un; echo $SHELL")
    assert code == 0
    assert output.split() == ["1000", "100", "sagemaker-user", "/bin/bash"]
    host = testinfra.get_host(f"docker://{box.id}")
    user = host.user("sagemaker-user")
    assert (user.uid, user.gid, user.shell, user.home) == (
        1000,
        100,
        "/bin/bash",
        "/home/sagemaker-user",
    )
    assert host.run("sudo -n true").rc == 0, "passwordless sudo"
    assert host.run("sudo -n id -u").stdout.strip() == "0"


def test_home_mount_point_is_empty_and_owned_by_the_user(
    image: str, containers: TrackedContainers
) -> None:
    host = testinfra.get_host(f"docker://{containers.sleeper(image).id}")
    home = host.file("/home/sagemaker-user")
    assert home.is_directory and (home.uid, home.gid) == (1000, 100)
    assert home.listdir() == []


def test_tools_every_app_needs(image: str, containers: TrackedContainers) -> None:
    host = testinfra.get_host(f"docker://root@{containers.sleeper(image).id}")
    for package in ("git", "openssh-server", "openssh-client", "sudo", "ca-certificates"):
        assert host.package(package).is_installed, package
    for command in ("git --version", "ssh -V", "pipenv --version", "docker --version",
                    "docker compose version", "docker buildx version",
                    "python -c 'import ipykernel, debugpy'"):  # fmt: skip
        assert host.run(command).rc == 0, command
    version = host.run("python -c 'import sys; print(sys.version_info[:2])'").stdout
    assert tuple(int(x) for x in re.findall(r"\d+", version)) >= (3, 10)
    assert host.file("/usr/sbin/sshd").exists


def test_no_caches_or_test_suites_are_shipped(image: str, containers: TrackedContainers) -> None:
    """What the size goals cut stays cut: apt's caches, the packaging tools' bytecode, the
    packages' test suites; and what remains still works."""
    host = testinfra.get_host(f"docker://{containers.sleeper(image).id}")
    assert host.run("ls /var/cache/apt/*.bin /var/cache/apt/archives/*.deb").rc != 0
    site = "/opt/smstudio/venv/lib/python3.11/site-packages"
    assert host.run(f"find {site}/pip {site}/pipenv -name __pycache__ | grep -q .").rc != 0
    assert not host.file(f"{site}/tornado/test").exists
    assert host.run("pipenv --version && python -m virtualenv -q /tmp/v && /tmp/v/bin/pip -V").rc == 0


def test_user_can_pip_install_into_the_environment(
    image: str, containers: TrackedContainers
) -> None:
    code, output = sh(containers.sleeper(image), 'test -w "$VIRTUAL_ENV/lib" && command -v python')
    assert code == 0 and output.strip() == "/opt/smstudio/venv/bin/python"


def test_helpers_from_lcc_and_ssh_are_shipped(image: str, containers: TrackedContainers) -> None:
    box = containers.sleeper(image, tmpfs={"/home/sagemaker-user": "uid=1000,gid=100"})
    host = testinfra.get_host(f"docker://{box.id}")
    assert host.file("/opt/smstudio/lcc/lib/log.sh").exists
    assert host.file("/opt/smstudio/ssh/README.md").exists
    run = host.run("/opt/smstudio/lcc/jupyterlab.sh")
    assert run.rc == 0
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.search(stamp + r" INFO jupyterlab: done in \d+\.\d{3}s$", run.stdout, re.M)
    assert re.search(stamp + r" INFO kernels: ", run.stdout, re.M)
    assert (
        "INFO jupyterlab: done in"
        in host.file("/home/sagemaker-user/.smstudio/logs/on-start.log").content_string
    )
    assert host.file("/opt/smstudio/bin/smstudio-env").mode & 0o111
    for script in ("start.sh", "start-sshd.sh", "ssm_register.py", "authorized_keys.py"):
        assert host.file(f"/opt/smstudio/ssh/{script}").mode & 0o111, script
    # sshd runs an AuthorizedKeysCommand only when root owns it and no one else may write it
    keys = host.file("/opt/smstudio/ssh/authorized_keys.py")
    assert keys.uid == 0 and keys.mode & 0o022 == 0
    assert host.file("/opt/smstudio/bin/fetch-verified").mode & 0o111
    # Built offline: no SSM agent (its URL and checksum were not given), so neither its
    # registration scripts (sagemaker-ssh-helper); the ssh step says so and goes on.
    assert not host.exists("amazon-ssm-agent")
    assert not host.file("/opt/smstudio/ssh-helper").exists
    metadata = '{"DomainId": "d-1", "ResourceArn": "arn:app", "UserProfileName": "alice"}'
    box.exec_run(["sh", "-c", f"mkdir -p /opt/ml/metadata && echo '{metadata}' "
                  "> /opt/ml/metadata/resource-metadata.json"], user="root")  # fmt: skip
    run = host.run("/opt/smstudio/ssh/ssm_register.py")
    assert run.rc == 0 and "INFO ssh: no SSM agent" in run.stdout and "SSM_AGENT_URL" in run.stdout


def test_extra_ca_certificates_are_trusted(image: str, containers: TrackedContainers) -> None:
    """The build's extra-CA input (here: the host's CA folder) is trusted in the image."""
    host = testinfra.get_host(f"docker://{containers.sleeper(image).id}")
    bundle = host.file("/etc/ssl/certs/ca-certificates.crt").content_string
    certs = sorted(Path(HOST_CA_DIR).glob("*.crt"))
    assert certs, f"no CA certificates in {HOST_CA_DIR} to test with"
    for cert in certs:
        assert host.file(f"/usr/local/share/ca-certificates/{cert.name}").exists
        body = "".join(cert.read_text().split("-----")[2].split())
        assert body[:64] in "".join(bundle.split()), f"{cert.name} is not in the CA bundle"


def test_oci_labels(image: str, image_name: str) -> None:
    labels = dockerhost.get_image(image).labels
    assert labels["io.smstudio.image"] == image_name
    assert labels["org.opencontainers.image.version"] == TAG
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{40}", labels["org.opencontainers.image.revision"])
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["org.opencontainers.image.created"]
    )
    assert dockerhost.get_image(image).attrs["Architecture"] == "amd64"
