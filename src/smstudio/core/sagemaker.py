"""SageMaker as the workspace side uses it (workspaces, SSH, whoami, git tokens): typed
calls in front of the boto3 client, in the manner of chalice's TypedAWSClient. A
missing thing is None, not an exception; lists are whole (every page); everything else
AWS refuses goes through to the CLI's one translation (smstudio.core.awserrors). Tests
can hand the workspace side a fake in its place.

(apply reads and writes through its own plan and executor: smstudio.register.)
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from smstudio.core import aws


class AppId(TypedDict, total=False):
    DomainId: str
    SpaceName: str
    UserProfileName: str
    AppType: str
    AppName: str


class App(AppId, total=False):
    AppArn: str
    Status: str
    FailureReason: str
    ResourceSpec: dict[str, Any]
    CreationTime: Any


class SpaceSummary(TypedDict, total=False):
    SpaceName: str
    Status: str
    OwnershipSettingsSummary: dict[str, str]
    SpaceSharingSettingsSummary: dict[str, str]
    SpaceSettingsSummary: dict[str, Any]


class SageMaker:
    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def of(cls, clients: aws.Aws) -> SageMaker:
        return cls(clients.client("sagemaker"))

    def _all(self, operation: str, key: str, **params: Any) -> list[Any]:
        pages = self.client.get_paginator(operation).paginate(**params)
        return [item for page in pages for item in page[key]]

    # --- domains and profiles --------------------------------------------------------

    def domain_id(self, name: str) -> str | None:
        for found in self._all("list_domains", "Domains"):
            if found["DomainName"] == name:
                return str(found["DomainId"])
        return None

    def profile(self, domain_id: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.describe_user_profile(DomainId=domain_id,
                                                          UserProfileName=name))  # fmt: skip
        except self.client.exceptions.ResourceNotFound:
            return None

    def profile_names(self, domain_id: str) -> list[str]:
        found = self._all("list_user_profiles", "UserProfiles", DomainIdEquals=domain_id)
        return [str(p["UserProfileName"]) for p in found]

    # --- spaces --------------------------------------------------------------------

    def space(self, domain_id: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.describe_space(DomainId=domain_id, SpaceName=name))
        except self.client.exceptions.ResourceNotFound:
            return None

    def spaces(self, domain_id: str) -> list[SpaceSummary]:
        return cast(list[SpaceSummary], self._all("list_spaces", "Spaces",
                                                  DomainIdEquals=domain_id))  # fmt: skip

    def create_private_space(self, domain_id: str, name: str, owner: str, tag: str) -> None:
        """A private space of `owner`'s, tagged with them (as their policy requires)."""
        self.client.create_space(
            DomainId=domain_id,
            SpaceName=name,
            OwnershipSettings={"OwnerUserProfileName": owner},
            SpaceSharingSettings={"SharingType": "Private"},
            Tags=[{"Key": tag, "Value": owner}],
        )

    # --- apps ------------------------------------------------------------------------

    def app(self, ident: AppId) -> App | None:
        try:
            return cast(App, self.client.describe_app(**ident))
        except self.client.exceptions.ResourceNotFound:
            return None

    def create_app(self, ident: AppId, instance_type: str) -> None:
        self.client.create_app(**ident, ResourceSpec={"InstanceType": instance_type})

    def delete_app(self, ident: AppId) -> None:
        self.client.delete_app(**ident)

    def apps(self, domain_id: str) -> list[App]:
        return cast(list[App], self._all("list_apps", "Apps", DomainIdEquals=domain_id))

    def presigned_url(self, domain_id: str, user: str, space: str | None = None) -> str:
        extra = {"SpaceName": space} if space else {}
        found = self.client.create_presigned_domain_url(
            DomainId=domain_id, UserProfileName=user, **extra
        )
        return str(found["AuthorizedUrl"])
