"""KernelGateway: SageMaker's kernel gateway comes from outside the image; the image's
kernels must work under it."""

from __future__ import annotations

import pytest
import requests

from smstudio.core import project
from smstudio.images import kernels
from smstudio.local import kernel_gateway
from smstudio.workspaces import jupyter
from tests.helpers import TrackedContainers, http_ok, port_of, sh, wait_for

IMAGE = "kernelgateway"


@pytest.fixture(scope="session")
def gateway_volume(local_base: str) -> str:
    return kernel_gateway.ensure_volume(local_base)


def test_image_does_not_ship_a_kernel_gateway(image: str, containers: TrackedContainers) -> None:
    code, _ = sh(containers.sleeper(image), "python -c 'import kernel_gateway'")
    assert code != 0


def test_kernels_run_under_a_mounted_kernel_gateway(
    image: str, gateway_volume: str, containers: TrackedContainers
) -> None:
    declared = [k.name for k in kernels.declared_kernelspecs(project.project_root())]
    options = kernel_gateway.run_options(gateway_volume)
    app = containers.run(
        image,
        user="1000:100",
        tmpfs={"/home/sagemaker-user": "uid=1000,gid=100"},
        environment={**options.pop("environment"), "SAGEMAKER_APP_TYPE": "KernelGateway"},
        ports={"8888/tcp": ("127.0.0.1", None)},
        **options,
    )
    base = f"http://127.0.0.1:{port_of(app)}"
    specs = wait_for(http_ok(f"{base}/api/kernelspecs"), 60, "the kernel gateway").json()
    assert set(declared) <= set(specs["kernelspecs"]), specs
    for name in declared:
        kernel = requests.post(f"{base}/api/kernels", json={"name": name}, timeout=10)
        assert kernel.status_code == 201, kernel.text
        ws = f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/api/kernels/{kernel.json()['id']}/channels"
        assert jupyter.execute(ws, "1+1") == "2"
        assert (
            jupyter.execute(ws, "import sys; sys.executable") == "'/opt/smstudio/venv/bin/python'"
        )
    ps = sh(app, "ps -eo args")[1]
    assert "/opt/.sagemakerinternal/site/_smstudio_kernel_gateway.py" in ps
