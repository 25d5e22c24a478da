"""Kernel declaration, bake invocation and build-failure explanations (no Docker)."""

from __future__ import annotations

import json

import pytest

from smstudio.core import project
from smstudio.core.errors import SmstudioError
from smstudio.images import bake, buildlog, kernels
from smstudio.images.check import lint


def test_the_project_declares_valid_kernels() -> None:
    declared = kernels.declared_kernelspecs(project.project_root())
    assert [k.name for k in declared] == ["python3"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a kernelspec declaration"),
        (json.dumps({"kernelspecs": []}), "0 kernelspecs declared"),
        (json.dumps({"kernelspecs": [{"name": f"k{i}", "display_name": "K"} for i in range(6)]}),
         "6 kernelspecs declared"),
        (json.dumps({"kernelspecs": [{"name": "bad name", "display_name": "K"}]}),
         "not a valid kernelspec name"),
    ],
)  # fmt: skip
def test_bad_declarations_are_named(text: str, message: str) -> None:
    with pytest.raises(SmstudioError, match=message) as info:
        kernels.parse_declaration(text, "decl.json")
    assert "decl.json" in info.value.problem and info.value.fix


def test_bake_env_sets_only_given_variables() -> None:
    request = bake.BuildRequest(base_image="local:1", tag="t1")
    assert bake.bake_env(request, "2026-01-01T00:00:00Z") == {
        "BASE_IMAGE": "local:1", "TAG": "t1", "CREATED": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    assert bake.bake_command(request)[-1] == "default"


def test_unknown_target_is_refused() -> None:
    with pytest.raises(SmstudioError, match="unknown build target"):
        bake.validate_targets(("base", "rstudio"))


def test_parse_errors_are_explained() -> None:
    log = "#1 [internal] load build definition\nERROR: failed to solve: dockerfile parse error on line 3: unknown instruction: RUNN\n"
    err = buildlog.explain(log, "/tmp/b.log", None)
    assert "does not parse" in err.problem and "line 3" in err.problem and "/tmp/b.log" in err.fix


def test_unreachable_base_is_explained() -> None:
    log = ("#3 [base internal] load metadata for 127.0.0.1:9/nope:1\n"
           "ERROR: failed to solve: 127.0.0.1:9/nope:1: failed to resolve source metadata for "
           "127.0.0.1:9/nope:1: failed to do request: Head \"https://127.0.0.1:9/v2/nope/manifests/1\": "
           "dial tcp 127.0.0.1:9: connect: connection refused\n")  # fmt: skip
    err = buildlog.explain(log, "/tmp/b.log", "127.0.0.1:9/nope:1")
    assert "127.0.0.1:9/nope:1 cannot be pulled" in err.problem
    assert "smstudio images local-base" in err.fix


def test_failed_step_is_named() -> None:
    log = ("#12 [jupyterlab core 1/3] RUN pip install nope==0\n#12 ERROR: process \"/bin/bash -o "
           "pipefail -c pip install nope==0\" did not complete successfully: exit code: 1\n")  # fmt: skip
    err = buildlog.explain(log, "/tmp/b.log", None)
    assert "[jupyterlab core 1/3] RUN pip install nope==0" in err.problem
    assert "exit code 1" in err.problem


def test_expectation_comes_from_options_then_labels_then_declaration() -> None:
    labels = {"io.smstudio.image": "kernelgateway", "io.smstudio.app-types": "KernelGateway"}
    want = lint.expectation_for(labels, lint.CheckOptions(), ("python3",))
    assert want.app_types == {"KernelGateway"} and want.kernels == ("python3",)
    want = lint.expectation_for(labels, lint.CheckOptions(kernels=("R",)), ("python3",))
    assert want.kernels == ("R",)
    assert lint.expectation_for({}, lint.CheckOptions(), ()).app_types == frozenset()
    with pytest.raises(SmstudioError, match="unknown app type"):
        lint.expectation_for({}, lint.CheckOptions(app_types=("Rstudio",)), ())


def test_unreachable_registry_names_the_image_from_a_later_line() -> None:
    log = (
        '#4 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/debian/'
        'manifests/bookworm-slim": dial tcp: lookup registry-1.docker.io: no such host\n'
        "ERROR: failed to solve: debian:bookworm-slim: failed to resolve source metadata for "
        "docker.io/library/debian:bookworm-slim: failed to do request: no such host\n"
    )
    err = buildlog.explain(log, "/tmp/b.log", None)
    assert "the base image docker.io/library/debian:bookworm-slim cannot be pulled" in err.problem
    assert "--local-base" in err.fix
