"""A kernel gateway mounted into KernelGateway app containers from outside the image.

SageMaker runs its own kernel gateway (under /opt/.sagemakerinternal) in Studio Classic
KernelGateway apps, overriding the image's ENTRYPOINT/CMD: the image only supplies the
kernels. This module builds the same arrangement: a self-contained runtime in a volume,
and the docker run options that start it in any image. Like SageMaker's (where Studio
Classic's "image terminal" runs), it also serves the Jupyter Server terminals API
(kernel-gateway/launch.py): `smstudio exec` uses it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from smstudio.core import dockerhost
from smstudio.core.errors import SmstudioError

MOUNT = "/opt/.sagemakerinternal"
VERSION = "3.0.1"
IMAGE = f"smstudio/kernel-gateway-runtime:{VERSION}"
CONTEXT = Path(__file__).parent / "kernel-gateway"
# Libraries are resolved from the runtime itself (the image's glibc may differ).
LIBRARY_PATH = f"{MOUNT}/runtime/usr/lib/x86_64-linux-gnu:{MOUNT}/runtime/usr/lib"


def build_runtime(base_image: str) -> str:
    """Build the runtime image (cached by Docker) and return its id."""
    cmd = [
        "docker", "buildx", "build", "--load", "--platform", "linux/amd64",
        "--build-arg", f"BASE_IMAGE={base_image}",
        "--build-arg", f"KERNEL_GATEWAY_VERSION={VERSION}",
        "-t", IMAGE, str(CONTEXT),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SmstudioError(
            f"building the kernel gateway runtime from {base_image} failed:\n"
            + "\n".join(done.stderr.strip().splitlines()[-15:]),
            "check that the base image exists (smstudio images local-base) and that PyPI "
            "is reachable",
        )
    return str(dockerhost.client().images.get(IMAGE).id)


def ensure_volume(base_image: str) -> str:
    """A volume holding the runtime, named after the runtime image so a rebuild gets a
    fresh one. Docker fills a new named volume from the image's content at the mount."""
    image_id = build_runtime(base_image)
    name = f"smstudio-kernel-gateway-{image_id.split(':')[-1][:12]}"
    engine = dockerhost.client()
    if not engine.volumes.list(filters={"name": name}):
        engine.volumes.create(name, labels={"io.smstudio.kernel-gateway": VERSION})
        engine.containers.run(
            IMAGE, ["true"], remove=True, volumes={name: {"bind": MOUNT, "mode": "rw"}}
        )
    return name


def run_options(volume: str, port: int = 8888) -> dict[str, Any]:
    """docker run options that start the mounted kernel gateway in any image."""
    return {
        "entrypoint": [f"{MOUNT}/runtime/ld.so"],
        "command": [
            "--library-path",
            LIBRARY_PATH,
            f"{MOUNT}/runtime/python",
            "-s",
            "-S",
            f"{MOUNT}/site/_smstudio_kernel_gateway.py",
            "--KernelGatewayApp.ip=0.0.0.0",
            f"--KernelGatewayApp.port={port}",
            # Studio lists a KernelGateway app's running kernels (and idle checkers read
            # their last activity): the gateway's default hides the list.
            "--JupyterWebsocketPersonality.list_kernels=True",
        ],
        "environment": {"PYTHONHOME": f"{MOUNT}/runtime/usr"},
        "volumes": {volume: {"bind": MOUNT, "mode": "ro"}},
    }
