"""What apply will register, built purely: LCC content/names, app image configs, merges."""

from __future__ import annotations

import base64

import pytest

from smstudio.core import config, project
from smstudio.core.config import Image
from smstudio.core.errors import SmstudioError
from smstudio.images import kernels
from smstudio.register import desired

ARN = "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/"
LAB = Image(target="jupyterlab", app_types=["JupyterLab"])


def test_a_lifecycle_script_round_trips() -> None:
    path = project.project_root() / "lcc/jupyterlab.sh"
    content = desired.lcc_content(path.read_text(), str(path))
    assert base64.b64decode(content).decode() == path.read_text()


def test_oversized_script_names_itself_and_its_size() -> None:
    script = "#!/bin/bash\n" + "echo padding-padding-padding\n" * 500
    with pytest.raises(SmstudioError) as info:
        desired.lcc_content(script, "lcc/huge.sh")
    assert "lcc/huge.sh is" in info.value.problem and "at most 16384" in info.value.problem
    assert str(len(script)) in info.value.problem and "into the image" in info.value.fix


def test_crlf_scripts_are_refused() -> None:
    with pytest.raises(SmstudioError, match="CRLF"):
        desired.lcc_content("echo hi\r\n", "lcc/win.sh")


def test_lcc_names_change_with_content_and_fit_sagemaker() -> None:
    one, two = desired.lcc_name("JupyterLab", "YQ=="), desired.lcc_name("JupyterLab", "Yg==")
    assert one != two and one == desired.lcc_name("JupyterLab", "YQ==")
    assert one.startswith("smstudio-jupyterlab-") and len(one) <= 63


def test_kernel_gateway_config_uses_the_one_declaration() -> None:
    declared = kernels.declared_kernelspecs(project.project_root())
    config = desired.kernel_gateway_config(
        Image(target="kernelgateway", app_types=["KernelGateway"]), declared
    )
    assert config["KernelSpecs"] == [{"Name": "python3", "DisplayName": "Python 3 (smstudio)"}]
    assert config["FileSystemConfig"] == {
        "MountPath": "/home/sagemaker-user",
        "DefaultUid": 1000,
        "DefaultGid": 100,
    }


def test_jupyterlab_container_config_limits() -> None:
    config = desired.jupyterlab_config(LAB, ["--ServerApp.log_level=INFO"], {"A": "1"})
    assert config["ContainerConfig"] == {
        "ContainerEntrypoint": ["/opt/smstudio/bin/start-jupyterlab"],
        "ContainerArguments": ["--ServerApp.log_level=INFO"],
        "ContainerEnvironmentVariables": {"A": "1"},
    }
    with pytest.raises(SmstudioError, match="Studio allows 50 of at most 64"):
        desired.jupyterlab_config(LAB, ["--x=" + "y" * 70])
    with pytest.raises(SmstudioError, match="Studio allows 25"):
        desired.jupyterlab_config(LAB, env={f"V{i}": "1" for i in range(26)})


def test_merges_never_drop_what_smstudio_does_not_own() -> None:
    theirs = {"ImageName": "data-eng", "AppImageConfigName": "data-eng"}
    old_ours = {"ImageName": "smstudio-jupyterlab", "AppImageConfigName": "old"}
    new_ours = {"ImageName": "smstudio-jupyterlab", "AppImageConfigName": "new"}
    assert desired.merge_custom_images([theirs, old_ours], [new_ours]) == [theirs, new_ours]
    current = [ARN + "their-config", ARN + "smstudio-jupyterlab-aaaa"]
    assert desired.merge_lifecycle_arns(current, [ARN + "smstudio-jupyterlab-bbbb"]) == [
        ARN + "their-config",
        ARN + "smstudio-jupyterlab-bbbb",
    ]


def test_app_settings_update_is_none_when_nothing_changes() -> None:
    ours = [{"ImageName": "smstudio-jupyterlab", "AppImageConfigName": "lab"}]
    lcc = ARN + "smstudio-jupyterlab-aaaa"
    first = desired.app_settings_update({}, ours, [lcc], lcc)
    assert first == {
        "CustomImages": ours,
        "LifecycleConfigArns": [lcc],
        "DefaultResourceSpec": {"LifecycleConfigArn": lcc},
    }
    assert desired.app_settings_update(first, ours, [lcc], lcc) is None
    theirs = {
        "CustomImages": [{"ImageName": "x", "AppImageConfigName": "x"}],
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
    }
    merged = desired.app_settings_update(theirs, ours, [lcc], lcc)
    assert merged is not None
    assert merged["CustomImages"][0]["ImageName"] == "x"
    assert merged["DefaultResourceSpec"] == {
        "InstanceType": "ml.t3.medium",
        "LifecycleConfigArn": lcc,
    }


def test_app_age_is_short_and_readable() -> None:
    from datetime import UTC, datetime, timedelta

    from smstudio.workspaces.apps import age

    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert [
        age(now - d, now)
        for d in (timedelta(seconds=5), timedelta(minutes=3), timedelta(hours=2), timedelta(days=4))
    ] == ["5s", "3m", "2h", "4d"]


def test_jupyterlab_idle_settings_and_repositories_come_from_the_team() -> None:
    team = config.parse(
        '[domain]\nname = "t"\n[defaults]\nidle_timeout_minutes = 90\n'
        '[git]\nrepositories = ["https://git.example.com/a/b.git"]\n',
        "team.toml",
    )
    assert desired.jupyterlab_settings(team) == {
        "AppLifecycleManagement": {
            "IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 90}
        },
        "CodeRepositories": [{"RepositoryUrl": "https://git.example.com/a/b.git"}],
    }
    bare = config.parse('[domain]\nname = "t"\n', "team.toml")
    assert desired.jupyterlab_settings(bare) == {}
    update = desired.app_settings_update({}, [], [], None, desired.jupyterlab_settings(team))
    assert update is not None and update["CodeRepositories"]
    assert (
        desired.app_settings_update(update, [], [], None, desired.jupyterlab_settings(team)) is None
    )


def test_profile_tags_carry_the_git_identity() -> None:
    user = config.User(name="alice", email="a@example.com", git_name="Alice L")
    assert desired.profile_tags(user) == [
        {"Key": "studiouserid", "Value": "alice"},
        {"Key": "smstudio:git-name", "Value": "Alice L"},
        {"Key": "smstudio:git-email", "Value": "a@example.com"},
        {"Key": "smstudio:email", "Value": "a@example.com"},
    ]


def test_bad_git_and_startup_settings_are_named() -> None:
    with pytest.raises(SmstudioError) as info:
        config.parse(
            '[domain]\nname = "t"\n[git]\nrepositories = ["git@github.com:a/b.git"]\n'
            "[startup]\nbudget_seconds = 400\n",
            "team.toml",
        )
    assert "git.repositories[0]" in info.value.problem
    assert "startup.budget_seconds" in info.value.problem
