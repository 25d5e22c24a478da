"""The Studio contract rules on hand-made facts (no Docker)."""

from __future__ import annotations

import pytest

from smstudio.images.check.rules import (
    Expectation,
    FileOwner,
    HealthResult,
    ImageFacts,
    check_docker,
    evaluate,
    kernels_in_image,
    resolve_user,
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\nsagemaker-user:x:1000:100::/home/sagemaker-user:/bin/bash\n"
)
GROUP = "root:x:0:\nusers:x:100:\n"
KG = Expectation(app_types=frozenset({"KernelGateway"}), kernels=("python3",))
IDLE = '{"lastActiveTimestamp": "2026-11-30T08:00:00.123456z"}'  # as the activity monitor writes it


def facts(**overrides: object) -> ImageFacts:
    base = ImageFacts(
        os="linux",
        architecture="amd64",
        user="1000:100",
        passwd=PASSWD,
        group=GROUP,
        paths={"/usr/local/share/jupyter/kernels/python3/kernel.json", "/home/sagemaker-user"},
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


def codes(violations: list) -> list[str]:
    return [v.code for v in violations]


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", (0, 0)),
        ("root", (0, 0)),
        ("1000:100", (1000, 100)),
        ("sagemaker-user", (1000, 100)),
        ("sagemaker-user:users", (1000, 100)),
        ("1000", (1000, 100)),  # primary group from passwd
        ("4242", (4242, 0)),  # unknown numeric uid: gid 0, as Docker does
        ("1000:root", (1000, 0)),
    ],
)
def test_resolve_user(user: str, expected: tuple[int, int]) -> None:
    assert resolve_user(user, PASSWD, GROUP) == expected


def test_resolve_user_unknown_names() -> None:
    assert "not in the image's /etc/passwd" in str(resolve_user("nobody", PASSWD, GROUP))
    assert "not in the image's /etc/group" in str(resolve_user("1000:staff", PASSWD, GROUP))


def test_a_compliant_image_has_no_violations() -> None:
    assert evaluate(facts(), KG, HealthResult(True, "ok", idle=IDLE)) == []


def test_wrong_platform() -> None:
    (v,) = evaluate(facts(architecture="arm64"), Expectation())
    assert v.code == "platform" and "linux/arm64" in v.problem and "linux/amd64" in v.fix


def test_root_default_user_while_1000_100_declared() -> None:
    (v,) = evaluate(facts(user=""), Expectation())
    assert v.code == "default-user"
    assert "root (no USER) (0:0)" in v.problem and "declares 1000:100" in v.problem
    assert "USER 1000:100" in v.fix


def test_unsupported_declared_user() -> None:
    found = evaluate(facts(user="1000:1000"), Expectation(uid=1000, gid=1000))
    assert codes(found) == ["declared-user"]


def test_unresolvable_user() -> None:
    (v,) = evaluate(facts(user="jovyan"), Expectation())
    assert v.code == "default-user" and "jovyan" in v.problem


def test_high_ids_are_reported_with_layer_and_count() -> None:
    owners = [FileOwner(f"/data/f{i}", 70000, 100, 3) for i in range(7)]
    (v,) = evaluate(facts(high_id_files=owners), Expectation())
    assert v.code == "high-ids"
    assert "7 file(s)" in v.problem and "/data/f0 (70000:100, layer 3)" in v.problem
    assert "and 2 more" in v.problem and "chown" in v.fix


def test_files_under_the_mount_path() -> None:
    paths = {"/home/sagemaker-user", "/home/sagemaker-user/.bashrc", "/home/other/x"}
    (v,) = evaluate(facts(paths=paths), Expectation())
    assert v.code == "mount-path" and "/home/sagemaker-user/.bashrc" in v.problem
    assert "/home/other" not in v.problem
    # The mount point itself may exist (empty); a custom mount path is honoured.
    assert evaluate(facts(paths=paths), Expectation(mount_path="/home/other")) != []


def test_missing_kernel_is_case_sensitive() -> None:
    (v,) = evaluate(
        facts(), Expectation(app_types=frozenset({"KernelGateway"}), kernels=("Python3",))
    )
    assert v.code == "kernelspecs" and "Python3" in v.problem and "found: python3" in v.problem


def test_kernel_count_limits() -> None:
    six = tuple(f"k{i}" for i in range(6))
    for kernels in ((), six):
        (v,) = evaluate(
            facts(), Expectation(app_types=frozenset({"KernelGateway"}), kernels=kernels)
        )
        assert v.code == "kernelspecs" and "1 to 5" in v.problem


def test_kernels_are_not_checked_for_other_app_types() -> None:
    assert evaluate(facts(paths=set()), Expectation(app_types=frozenset({"JupyterLab"}))) == []


def test_kernels_on_jupyter_path_are_found() -> None:
    f = facts(env={"JUPYTER_PATH": "/opt/conda/share/jupyter"},
              paths={"/opt/conda/share/jupyter/kernels/conda-py/kernel.json",
                     "/usr/share/jupyter/kernels/ir/kernel.json",
                     "/usr/share/jupyter/kernels/nested/x/kernel.json"})  # fmt: skip
    assert kernels_in_image(f) == {"conda-py", "ir"}


def test_health_failure_is_a_violation() -> None:
    (v,) = evaluate(facts(), Expectation(), HealthResult(False, "exited"))
    assert (
        v.code == "jupyterlab-health" and "exited" in v.problem and "/jupyterlab/default" in v.fix
    )


def test_violations_come_in_a_stable_order() -> None:
    bad = facts(architecture="arm64", user="", high_id_files=[FileOwner("/x", 1, 70000, 1)],
                paths={"/home/sagemaker-user/x"})  # fmt: skip
    found = evaluate(bad, KG, HealthResult(False, "no answer"))
    assert codes(found) == [
        "platform", "default-user", "high-ids", "mount-path", "kernelspecs", "jupyterlab-health"
    ]  # fmt: skip


DOCKER = Expectation(docker=True)
WITH_DOCKER = {"/usr/local/bin/docker", "/usr/local/libexec/docker/cli-plugins/docker-compose"}


def test_docker_access_needs_the_cli_compose_and_the_classic_builder() -> None:
    assert check_docker(facts(), Expectation()) == []  # Docker not turned on: not asked
    assert codes(check_docker(facts(), DOCKER)) == ["docker-cli", "docker-compose", "docker-buildkit"]
    ready = facts(paths=WITH_DOCKER, env={"PATH": "/usr/local/bin:/usr/bin", "DOCKER_BUILDKIT": "0"})
    assert check_docker(ready, DOCKER) == []
    off_path = facts(paths=WITH_DOCKER, env={"PATH": "/usr/bin", "DOCKER_BUILDKIT": "0"})
    (missing,) = check_docker(off_path, DOCKER)
    assert missing.code == "docker-cli" and "docker-cli" in missing.fix
    assert codes(evaluate(ready, DOCKER)) == []


def test_new_studio_apps_must_answer_studios_idle_check() -> None:
    for kind in ("JupyterLab", "CodeEditor"):
        assert evaluate(facts(), Expectation(), HealthResult(True, "ok", kind, IDLE)) == []
        (v,) = evaluate(facts(), Expectation(), HealthResult(True, "ok", kind, None))
        assert v.code == "idle-endpoint" and "/api/idle: no answer" in v.problem
    (v,) = evaluate(facts(), Expectation(), HealthResult(True, "ok", "JupyterLab", "{}"))
    assert "lastActiveTimestamp" in v.problem and "jupyter-activity-monitor-extension" in v.fix
    (v,) = evaluate(facts(), Expectation(), HealthResult(False, "exited", "CodeEditor"))
    assert v.code == "codeeditor-health" and "/codeeditor/default/healthz" in v.problem
