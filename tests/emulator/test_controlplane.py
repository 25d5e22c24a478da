"""The Studio control plane through boto3: realistic input, responses validated against
botocore's output shapes, SageMaker's error codes, pagination, persistence."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from smstudio.local.gateway.server import GatewayServer
from tests.emulator.conftest import ROLE, LocalAws, Registry, start

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/smstudio/jupyterlab"


def code_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def domain(sm: Any, **settings: Any) -> str:
    made = sm.create_domain(
        DomainName="ml-team",
        AuthMode="IAM",
        VpcId="vpc-0123456789abcdef0",
        SubnetIds=["subnet-0123456789abcdef0"],
        DefaultUserSettings={"ExecutionRole": ROLE, **settings},
    )
    return str(made["DomainId"])


def test_images_and_versions(sm: Any, registry: Registry) -> None:
    arn = sm.create_image(ImageName="smstudio-jupyterlab", RoleArn=ROLE, DisplayName="Lab")[
        "ImageArn"
    ]
    assert arn == "arn:aws:sagemaker:eu-west-1:123456789012:image/smstudio-jupyterlab"
    assert (
        code_of(sm.create_image, ImageName="smstudio-jupyterlab", RoleArn=ROLE)[0]
        == "ResourceInUse"
    )
    assert code_of(sm.describe_image, ImageName="nope")[0] == "ResourceNotFound"

    registry.pushed[f"{ECR}:1"] = "sha256:" + "a" * 64
    sm.create_image_version(ImageName="smstudio-jupyterlab", BaseImage=f"{ECR}:1", ClientToken="t1")
    sm.create_image_version(
        ImageName="smstudio-jupyterlab", BaseImage=f"{ECR}:missing", ClientToken="t2"
    )
    first = sm.describe_image_version(ImageName="smstudio-jupyterlab", Version=1)
    assert first["ImageVersionStatus"] == "CREATED" and first["ContainerImage"].endswith("a" * 64)
    latest = sm.describe_image_version(ImageName="smstudio-jupyterlab")
    assert latest["Version"] == 2 and latest["ImageVersionStatus"] == "CREATE_FAILED"
    assert "does not exist" in latest["FailureReason"]
    versions = sm.list_image_versions(ImageName="smstudio-jupyterlab")["ImageVersions"]
    assert sorted(v["Version"] for v in versions) == [1, 2]
    sm.delete_image_version(ImageName="smstudio-jupyterlab", Version=2)
    assert sm.describe_image_version(ImageName="smstudio-jupyterlab")["Version"] == 1
    sm.delete_image(ImageName="smstudio-jupyterlab")
    assert sm.list_images()["Images"] == []


def test_validation_errors_follow_the_model(sm: Any) -> None:
    code, message = code_of(sm.create_image, ImageName="bad name", RoleArn=ROLE)
    assert code == "ValidationException" and "regular expression pattern" in message
    big = base64.b64encode(b"#" * 13000).decode()
    code, message = code_of(
        sm.create_studio_lifecycle_config,
        StudioLifecycleConfigName="big",
        StudioLifecycleConfigContent=big,
        StudioLifecycleConfigAppType="JupyterLab",
    )
    assert code == "ValidationException" and "less than or equal to 16384" in message
    code, message = code_of(
        sm.create_studio_lifecycle_config,
        StudioLifecycleConfigName="plain",
        StudioLifecycleConfigContent="echo hi",
        StudioLifecycleConfigAppType="JupyterLab",
    )
    assert code == "ValidationException" and "base64" in message


def test_lifecycle_configs(sm: Any) -> None:
    content = base64.b64encode(b"#!/bin/bash\necho start\n").decode()
    arn = sm.create_studio_lifecycle_config(
        StudioLifecycleConfigName="on-start-abc",
        StudioLifecycleConfigContent=content,
        StudioLifecycleConfigAppType="JupyterLab",
        Tags=[{"Key": "managed-by", "Value": "smstudio"}],
    )["StudioLifecycleConfigArn"]
    described = sm.describe_studio_lifecycle_config(StudioLifecycleConfigName="on-start-abc")
    assert described["StudioLifecycleConfigContent"] == content
    listed = sm.list_studio_lifecycle_configs(AppTypeEquals="JupyterLab")["StudioLifecycleConfigs"]
    assert [c["StudioLifecycleConfigArn"] for c in listed] == [arn]
    assert (
        sm.list_studio_lifecycle_configs(AppTypeEquals="KernelGateway")["StudioLifecycleConfigs"]
        == []
    )
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "managed-by", "Value": "smstudio"}]
    domain_id = domain(sm, JupyterLabAppSettings={"LifecycleConfigArns": [arn]})
    assert (
        code_of(sm.delete_studio_lifecycle_config, StudioLifecycleConfigName="on-start-abc")[0]
        == "ResourceInUse"
    )
    sm.update_domain(
        DomainId=domain_id,
        DefaultUserSettings={"JupyterLabAppSettings": {"LifecycleConfigArns": []}},
    )
    sm.delete_studio_lifecycle_config(StudioLifecycleConfigName="on-start-abc")


def test_app_image_configs(sm: Any) -> None:
    kernel = {
        "KernelSpecs": [{"Name": "python3", "DisplayName": "Python 3"}],
        "FileSystemConfig": {
            "MountPath": "/home/sagemaker-user",
            "DefaultUid": 1000,
            "DefaultGid": 100,
        },
    }
    sm.create_app_image_config(AppImageConfigName="kg", KernelGatewayImageConfig=kernel)
    assert (
        sm.describe_app_image_config(AppImageConfigName="kg")["KernelGatewayImageConfig"] == kernel
    )
    lab = {"ContainerConfig": {"ContainerEntrypoint": ["/opt/smstudio/bin/start-jupyterlab"]}}
    sm.update_app_image_config(AppImageConfigName="kg", JupyterLabAppImageConfig=lab)
    updated = sm.describe_app_image_config(AppImageConfigName="kg")
    assert "KernelGatewayImageConfig" not in updated and updated["JupyterLabAppImageConfig"] == lab
    assert [c["AppImageConfigName"] for c in sm.list_app_image_configs()["AppImageConfigs"]] == [
        "kg"
    ]
    sm.delete_app_image_config(AppImageConfigName="kg")
    assert code_of(sm.describe_app_image_config, AppImageConfigName="kg")[0] == "ResourceNotFound"


def test_update_domain_merges_settings_and_replaces_lists(sm: Any) -> None:
    theirs = {"ImageName": "someone-elses", "AppImageConfigName": "theirs"}
    domain_id = domain(sm, KernelGatewayAppSettings={"CustomImages": [theirs]})
    ours = {"ImageName": "smstudio-kernelgateway", "AppImageConfigName": "ours"}
    sm.update_domain(
        DomainId=domain_id,
        DefaultUserSettings={"KernelGatewayAppSettings": {"CustomImages": [ours]}},
    )
    settings = sm.describe_domain(DomainId=domain_id)["DefaultUserSettings"]
    assert settings["ExecutionRole"] == ROLE  # untouched members stay
    assert settings["KernelGatewayAppSettings"]["CustomImages"] == [ours]  # lists are replaced
    assert sm.describe_domain(DomainId=domain_id)["Status"] == "InService"
    assert [d["DomainId"] for d in sm.list_domains()["Domains"]] == [domain_id]


def test_profiles_spaces_apps_and_their_rules(sm: Any) -> None:
    domain_id = domain(sm)
    arn = sm.create_user_profile(
        DomainId=domain_id,
        UserProfileName="alice",
        Tags=[{"Key": "studiouserid", "Value": "alice"}],
    )["UserProfileArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "studiouserid", "Value": "alice"}]
    assert (
        code_of(sm.create_user_profile, DomainId=domain_id, UserProfileName="alice")[0]
        == "ResourceInUse"
    )
    assert (
        code_of(sm.create_user_profile, DomainId="d-000000000000", UserProfileName="x")[0]
        == "ResourceNotFound"
    )
    sm.create_space(
        DomainId=domain_id,
        SpaceName="alice-lab",
        OwnershipSettings={"OwnerUserProfileName": "alice"},
        SpaceSharingSettings={"SharingType": "Private"},
    )
    spaces = sm.list_spaces(DomainIdEquals=domain_id)["Spaces"]
    assert spaces[0]["OwnershipSettingsSummary"] == {"OwnerUserProfileName": "alice"}

    app = {
        "DomainId": domain_id,
        "SpaceName": "alice-lab",
        "AppType": "JupyterLab",
        "AppName": "default",
    }
    sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})
    assert sm.describe_app(**app)["Status"] == "Pending"
    assert code_of(sm.create_app, **app)[0] == "ResourceInUse"
    assert code_of(sm.create_app, **{**app, "AppName": "other"})[0] == "ValidationException"
    assert code_of(sm.create_app, **app, UserProfileName="alice")[0] == "ValidationException"
    assert code_of(sm.delete_space, DomainId=domain_id, SpaceName="alice-lab")[0] == "ResourceInUse"
    listed = sm.list_apps(DomainIdEquals=domain_id, SpaceNameEquals="alice-lab")["Apps"]
    assert [(a["AppType"], a["Status"]) for a in listed] == [("JupyterLab", "Pending")]
    sm.delete_app(**app)
    assert sm.describe_app(**app)["Status"] == "Deleted"
    sm.delete_space(DomainId=domain_id, SpaceName="alice-lab")
    assert code_of(sm.delete_domain, DomainId=domain_id)[0] == "ResourceInUse"
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    sm.delete_domain(DomainId=domain_id)


def test_presigned_urls(sm: Any, server: GatewayServer) -> None:
    domain_id = domain(sm)
    for user in ("alice", "bob"):
        sm.create_user_profile(DomainId=domain_id, UserProfileName=user)
    url = sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="bob")["AuthorizedUrl"]
    assert url.startswith("http://127.0.0.1/auth?token=")
    assert (
        code_of(sm.create_presigned_domain_url, DomainId=domain_id, UserProfileName="eve")[0]
        == "ResourceNotFound"
    )
    # a private space opens only as its owner; a shared one as any member
    sm.create_space(DomainId=domain_id, SpaceName="alice-space",
                    OwnershipSettings={"OwnerUserProfileName": "alice"},
                    SpaceSharingSettings={"SharingType": "Private"})  # fmt: skip
    sm.create_space(DomainId=domain_id, SpaceName="team",
                    OwnershipSettings={"OwnerUserProfileName": "alice"},
                    SpaceSharingSettings={"SharingType": "Shared"})  # fmt: skip
    code, message = code_of(sm.create_presigned_domain_url, DomainId=domain_id,
                            UserProfileName="bob", SpaceName="alice-space")  # fmt: skip
    assert code == "ValidationException" and "private to user profile alice" in message
    assert sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="bob",
                                          SpaceName="team")["AuthorizedUrl"]  # fmt: skip


def test_pagination(sm: Any) -> None:
    for i in range(25):
        sm.create_image(ImageName=f"img-{i:02d}", RoleArn=ROLE)
    pages = list(sm.get_paginator("list_images").paginate(PaginationConfig={"PageSize": 10}))
    assert [len(p["Images"]) for p in pages] == [10, 10, 5]
    assert sorted(i["ImageName"] for p in pages for i in p["Images"]) == [
        f"img-{i:02d}" for i in range(25)
    ]
    assert code_of(sm.list_images, NextToken="not-a-token")[0] == "ValidationException"


def test_state_survives_a_restart(tmp_path: Path, local: LocalAws) -> None:
    """SageMaker's state and moto's (replayed from its journal) come back, the root key
    too; a user's session keeps working."""
    sm, iam = local.client("sagemaker"), local.client("iam")
    domain_id = domain(sm)
    iam.create_role(RoleName="kept", AssumeRolePolicyDocument="{}")
    alice = local.user(
        "alice", {"Effect": "Allow", "Action": "sagemaker:ListDomains", "Resource": "*"}
    )
    local.server.stop()
    again = LocalAws(start(tmp_path))
    try:
        assert again.root == local.root
        client = again.client("sagemaker")
        assert client.describe_domain(DomainId=domain_id)["DomainName"] == "ml-team"
        assert again.client("iam").get_role(RoleName="kept")["Role"]["RoleName"] == "kept"
        assert again.client("sagemaker", alice).list_domains()["Domains"]
    finally:
        again.server.stop()


def test_unimplemented_operations_and_bad_responses(sm: Any, server: GatewayServer) -> None:
    code, message = code_of(sm.list_training_jobs)
    assert code == "UnknownOperationException" and "ListTrainingJobs" in message
    server.plane.handlers["ListDomains"] = lambda p, ctx: {"Domains": "not-a-list"}
    code, message = code_of(sm.list_domains)
    assert code == "InternalFailure" and "does not fit the model" in message


def test_remaining_updates_listings_and_tags(sm: Any) -> None:
    arn = sm.create_image(ImageName="img", RoleArn=ROLE)["ImageArn"]
    assert sm.update_image(ImageName="img", DisplayName="Team image")["ImageArn"] == arn
    assert sm.describe_image(ImageName="img")["DisplayName"] == "Team image"
    sm.add_tags(
        ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}, {"Key": "cost", "Value": "a"}]
    )
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "cost", "Value": "b"}])  # same key: replaced
    tags = sorted(sm.list_tags(ResourceArn=arn)["Tags"], key=lambda t: t["Key"])
    assert tags == [{"Key": "cost", "Value": "b"}, {"Key": "team", "Value": "ml"}]
    sm.delete_tags(ResourceArn=arn, TagKeys=["cost"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert code_of(sm.list_tags, ResourceArn=arn + "-missing")[0] == "ResourceNotFound"

    domain_id = domain(sm)
    for name in ("alice", "bob", "carol"):
        sm.create_user_profile(DomainId=domain_id, UserProfileName=name)
    profiles = sm.list_user_profiles(DomainIdEquals=domain_id, UserProfileNameContains="o")[
        "UserProfiles"
    ]
    assert sorted(p["UserProfileName"] for p in profiles) == ["bob", "carol"]
    sm.create_space(
        DomainId=domain_id, SpaceName="shared", SpaceSharingSettings={"SharingType": "Shared"}
    )
    sm.update_space(DomainId=domain_id, SpaceName="shared",
                    SpaceSettings={"AppType": "JupyterLab", "JupyterLabAppSettings": {
                        "DefaultResourceSpec": {"InstanceType": "ml.t3.large"}}})  # fmt: skip
    settings = sm.describe_space(DomainId=domain_id, SpaceName="shared")["SpaceSettings"]
    assert settings["JupyterLabAppSettings"]["DefaultResourceSpec"]["InstanceType"] == "ml.t3.large"


def test_spaces_and_profiles_do_not_share_names(sm: Any) -> None:
    """App ARNs name a space or a profile in one place (app/<domain>/<name>/...): a space
    named like a profile, or the other way round, is refused."""
    domain_id = domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    code, message = code_of(sm.create_space, DomainId=domain_id, SpaceName="alice")
    assert code == "ValidationException" and "already the name of a user profile" in message
    sm.create_space(DomainId=domain_id, SpaceName="team")
    code, message = code_of(sm.create_user_profile, DomainId=domain_id, UserProfileName="team")
    assert code == "ValidationException" and "already the name of a space" in message


def test_a_spaces_idle_timeout_must_lie_within_the_domains_range(sm: Any) -> None:
    idle = {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120,
            "MinIdleTimeoutInMinutes": 60, "MaxIdleTimeoutInMinutes": 240}  # fmt: skip
    domain_id = domain(sm, CodeEditorAppSettings={"AppLifecycleManagement": {"IdleSettings": idle}})

    def settings(minutes: int) -> dict[str, Any]:
        return {"AppType": "CodeEditor", "CodeEditorAppSettings": {
            "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": minutes}}}}  # fmt: skip

    sm.create_space(DomainId=domain_id, SpaceName="ok", SpaceSettings=settings(240))
    with pytest.raises(botocore.exceptions.ClientError, match="outside the domain's range for CodeEditor apps") as refused:
        sm.create_space(DomainId=domain_id, SpaceName="long", SpaceSettings=settings(600))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError, match="MaxIdleTimeoutInMinutes 240"):
        sm.update_space(DomainId=domain_id, SpaceName="ok", SpaceSettings=settings(300))


def test_start_session_reaches_a_running_space_app_with_remote_access(
    sm: Any, server: GatewayServer
) -> None:
    domain_id = domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    sm.create_space(DomainId=domain_id, SpaceName="dev",
                    OwnershipSettings={"OwnerUserProfileName": "alice"},
                    SpaceSharingSettings={"SharingType": "Private"},
                    SpaceSettings={"AppType": "CodeEditor"})  # fmt: skip
    app = {"DomainId": domain_id, "SpaceName": "dev", "AppType": "CodeEditor", "AppName": "default"}
    arn = sm.create_app(**app, ResourceSpec={"InstanceType": "ml.t3.medium"})["AppArn"]
    space_arn = arn.split(":app/")[0] + f":space/{domain_id}/dev"
    code, message = code_of(sm.start_session, ResourceIdentifier=arn)
    assert code == "ValidationException" and "Remote access is not enabled for space dev" in message
    sm.update_space(DomainId=domain_id, SpaceName="dev", SpaceSettings={"RemoteAccess": "ENABLED"})
    summary = sm.list_spaces(DomainIdEquals=domain_id)["Spaces"][0]["SpaceSettingsSummary"]
    assert summary == {"AppType": "CodeEditor", "RemoteAccess": "ENABLED"}
    code, message = code_of(sm.start_session, ResourceIdentifier=arn)  # still Pending
    assert code == "ResourceNotFound" and "No app is InService in space dev" in message
    server.plane.app_status(arn, "InService")
    for target in (arn, space_arn):
        session = sm.start_session(ResourceIdentifier=target)
        assert session["StreamUrl"].endswith(f"/data-channel/{session['SessionId']}")
        # the data channel's answer: the app's sshd, once per token
        assert server.gateway.ssm.stream(session["SessionId"], session["TokenValue"]) == {
            "AppArn": arn, "Port": 2222}
        with pytest.raises(Exception, match="unknown session or wrong token"):
            server.gateway.ssm.stream(session["SessionId"], session["TokenValue"])
    missing = arn.replace("/dev/", "/nowhere/")
    assert code_of(sm.start_session, ResourceIdentifier=missing)[0] == "ResourceNotFound"
    bad = arn.split(":app/")[0] + f":user-profile/{domain_id}/alice"
    code, message = code_of(sm.start_session, ResourceIdentifier=bad)
    assert code == "ValidationException" and "not the ARN of a space" in message
