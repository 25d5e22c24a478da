"""KernelGateway (Studio Classic): SageMaker brings its own kernel gateway and overrides
the image's entrypoint; each kernelspec the AppImageConfig lists must start under it and
run code."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from smstudio.images import localbase
from smstudio.images.check.rules import Expectation
from smstudio.local import kernel_gateway
from smstudio.workspaces import jupyter

APP = "KernelGateway"


@pytest.fixture(scope="module")
def gateway(
    pytestconfig: pytest.Config, expectation: Expectation, studio_app: Callable[..., str]
) -> str:
    if APP not in expectation.app_types:
        pytest.skip(f"not a {APP} image")
    runtime_base = pytestconfig.getoption("smstudio_runtime_base") or localbase.DEFAULT_TAG
    options = kernel_gateway.run_options(kernel_gateway.ensure_volume(runtime_base))
    return studio_app(APP, environment=options.pop("environment"), **options)


def test_declared_kernelspecs_exist(gateway: str, expectation: Expectation) -> None:
    specs = requests.get(f"{gateway}/api/kernelspecs", timeout=10).json()["kernelspecs"]
    assert expectation.kernels, "name the kernels the AppImageConfig lists (--kernel NAME)"
    missing = [k for k in expectation.kernels if k not in specs]
    assert not missing, f"kernelspecs {missing} are not in the image (it has {sorted(specs)})"


def test_each_kernel_runs_code(gateway: str, expectation: Expectation) -> None:
    for name in expectation.kernels:
        started = requests.post(f"{gateway}/api/kernels", json={"name": name}, timeout=30)
        assert started.status_code == 201, started.text
        kernel_id = started.json()["id"]
        ws = gateway.replace("http://", "ws://", 1) + f"/api/kernels/{kernel_id}/channels"
        try:
            assert jupyter.execute(ws, "1+1", timeout=90) == "2", name
        finally:
            requests.delete(f"{gateway}/api/kernels/{kernel_id}", timeout=10)
