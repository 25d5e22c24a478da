"""SageMaker Studio operations over a Store: images and versions, app image configs,
studio lifecycle configs, domains, user profiles, spaces, apps, presigned URLs, tags.

Each handler takes the request's params (already validated against the model) and
returns the response dict (validated before it is sent). App start/stop and image
resolution are delegated to the pluggable `AppRuntime` and `ImageResolver`, so this
module stays free of Docker.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from smstudio.core import facts
from smstudio.local.controlplane import model
from smstudio.local.controlplane.model import ApiError, in_use, invalid, not_found
from smstudio.local.controlplane.store import Store

DEFAULT_ACCOUNT = "123456789012"
LCC_MAX = facts.LCC_MAX_BASE64
READS = ("Describe", "List")  # operations that change nothing: no write to disk
Params = dict[str, Any]


class AppRuntime(Protocol):
    """Starts and stops app containers; reports status through `ControlPlane.app_status`."""

    def start(self, app: dict[str, Any]) -> None: ...
    def stop(self, app: dict[str, Any]) -> None: ...
    def delete_home(self, domain_id: str, space: str) -> None: ...


class ImageResolver(Protocol):
    """BaseImage URI -> (resolved URI with digest, None) or (None, failure reason)."""

    def __call__(self, base_image: str) -> tuple[str | None, str | None]: ...


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    region: str
    caller: str = ""  # the caller's aws:userid (whose session StartSession opens)


def _page(items: list[dict[str, Any]], params: Params, key: str) -> dict[str, Any]:
    """One page of a list, with NextToken as SageMaker returns it."""
    order = params.get("SortOrder", "Descending")
    sort_by = params.get("SortBy", "CreationTime")
    field = {"CreationTime": "CreationTime", "LastModifiedTime": "LastModifiedTime"}.get(
        sort_by,
        next((k for k in (items[0] if items else {}) if k.endswith("Name")), "CreationTime"),
    )
    items = sorted(
        items, key=lambda i: (i.get(field) is None, i.get(field)), reverse=order == "Descending"
    )
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.b64decode(params["NextToken"]).decode())
        except (ValueError, binascii.Error) as exc:
            raise invalid("Invalid pagination token") from exc
    size = params.get("MaxResults") or 10
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = base64.b64encode(str(start + size).encode()).decode()
    return out


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """UpdateDomain/UpdateUserProfile semantics: given settings replace stored ones member
    by member; lists (CustomImages, LifecycleConfigArns, ...) are replaced, not merged."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ControlPlane:
    def __init__(
        self,
        store: Store,
        account: str = DEFAULT_ACCOUNT,
        runtime: AppRuntime | None = None,
        resolver: ImageResolver | None = None,
        presign_base: str = "http://127.0.0.1",
    ) -> None:
        self.store = store
        self.account = account
        self.runtime = runtime
        self.resolver = resolver
        self.presign_base = presign_base
        self.handlers: dict[str, Callable[[Params, Context], dict[str, Any]]] = {
            name.removeprefix("op_"): getattr(self, name)
            for name in dir(self)
            if name.startswith("op_")
        }

    # --- plumbing -------------------------------------------------------------------

    def now(self) -> datetime:
        """The control plane's time: the machine's, shifted by what the local Studio's
        admin set (`set_clock`), so tests give apps ages without waiting."""
        shift = float(self.store.table("clock").get("shift_seconds", 0.0))
        return now() + timedelta(seconds=shift)

    def set_clock(self, shift_seconds: float) -> None:
        """Shift the time resources are stamped with from now on (0: the machine's)."""
        with self.store.lock:
            self.store.table("clock")["shift_seconds"] = float(shift_seconds)
            self.store.save()

    def handle(
        self, operation: str, params: Params, region: str, caller: str = ""
    ) -> dict[str, Any]:
        op = model.operation(operation)
        handler = self.handlers.get(operation)
        if handler is None:
            raise ApiError(
                "UnknownOperationException", f"the local Studio does not implement {operation}"
            )
        model.validate_input(op, params)
        with self.store.lock:
            result = handler(params, Context(region, caller))
            if not operation.startswith(READS):
                self.store.save()
        model.validate_output(op, result)
        return result

    def arn(self, ctx: Context, resource: str) -> str:
        return f"arn:aws:sagemaker:{ctx.region}:{self.account}:{resource}"

    def _get(self, kind: str, key: str, what: str) -> dict[str, Any]:
        found = self.store.table(kind).get(key)
        if found is None:
            raise not_found(what)
        return found  # type: ignore[no-any-return]

    def _create(self, kind: str, key: str, item: dict[str, Any], what: str) -> dict[str, Any]:
        table = self.store.table(kind)
        if key in table:
            raise in_use(f"{what} already exists")
        stamp = self.now()
        item = {**item, "CreationTime": stamp, "LastModifiedTime": stamp}
        table[key] = item
        if "Tags" in item:
            arn = next(v for k, v in item.items() if k.endswith("Arn") and k != "RoleArn")
            self.store.table("tags")[arn] = item.pop("Tags")
        return item

    @staticmethod
    def _out(operation: str, item: dict[str, Any]) -> dict[str, Any]:
        """The stored item as the operation's output shape has it."""
        members = model.operation(operation).output_shape.members
        return {k: item[k] for k in members if k in item}

    @staticmethod
    def _summaries(operation: str, key: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Items as the list operation's summary shape has them."""
        members = model.operation(operation).output_shape.members[key].member.members
        return [{k: i[k] for k in members if k in i} for i in items]

    @staticmethod
    def _pick(item: dict[str, Any], *keys: str) -> dict[str, Any]:
        return {k: item[k] for k in keys if k in item and item[k] is not None}

    # --- images and image versions --------------------------------------------------

    def op_CreateImage(self, p: Params, ctx: Context) -> dict[str, Any]:
        arn = self.arn(ctx, f"image/{p['ImageName']}")
        item = {
            **self._pick(p, "ImageName", "RoleArn", "Description", "DisplayName", "Tags"),
            "ImageArn": arn,
            "ImageStatus": "CREATED",
        }
        self._create("images", p["ImageName"], item, f"Image {p['ImageName']}")
        return {"ImageArn": arn}

    def op_DescribeImage(self, p: Params, ctx: Context) -> dict[str, Any]:
        return self._out(
            "DescribeImage",
            self._get("images", p["ImageName"], f"Image {p['ImageName']} does not exist."),
        )

    def op_ListImages(self, p: Params, ctx: Context) -> dict[str, Any]:
        items = [
            dict(i)
            for i in self.store.table("images").values()
            if p.get("NameContains", "") in i["ImageName"]
        ]
        return _page(
            self._summaries("ListImages", "Images", items),
            {**p, "SortBy": p.get("SortBy", "CREATION_TIME")},
            "Images",
        )

    def op_UpdateImage(self, p: Params, ctx: Context) -> dict[str, Any]:
        image = self._get("images", p["ImageName"], f"Image {p['ImageName']} does not exist.")
        image.update(self._pick(p, "Description", "DisplayName", "RoleArn"))
        image["LastModifiedTime"] = self.now()
        return {"ImageArn": image["ImageArn"]}

    def op_DeleteImage(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._get("images", p["ImageName"], f"Image {p['ImageName']} does not exist.")
        del self.store.table("images")[p["ImageName"]]
        versions = self.store.table("image-versions")
        for key in [k for k in versions if k.startswith(p["ImageName"] + "/")]:
            del versions[key]
        return {}

    def _versions(self, name: str) -> list[dict[str, Any]]:
        return [v for k, v in self.store.table("image-versions").items() if k.split("/")[0] == name]

    def op_CreateImageVersion(self, p: Params, ctx: Context) -> dict[str, Any]:
        image = self._get("images", p["ImageName"], f"Image {p['ImageName']} does not exist.")
        token = p.get("ClientToken")
        for version in self._versions(p["ImageName"]):  # idempotent, as SageMaker is
            if token and version.get("ClientToken") == token:
                return {"ImageVersionArn": version["ImageVersionArn"]}
        number = max((v["Version"] for v in self._versions(p["ImageName"])), default=0) + 1
        arn = self.arn(ctx, f"image-version/{p['ImageName']}/{number}")
        item: dict[str, Any] = {
            "BaseImage": p["BaseImage"],
            "ImageArn": image["ImageArn"],
            "ImageVersionArn": arn,
            "Version": number,
            "ImageVersionStatus": "CREATING",
            **({"ClientToken": token} if token else {}),
        }
        item = self._create("image-versions", f"{p['ImageName']}/{number}", item, "ImageVersion")
        if self.resolver is not None:
            resolved, reason = self.resolver(p["BaseImage"])
            if resolved:
                item.update(ImageVersionStatus="CREATED", ContainerImage=resolved)
            else:
                item.update(ImageVersionStatus="CREATE_FAILED", FailureReason=reason)
        return {"ImageVersionArn": arn}

    def _version(self, p: Params) -> dict[str, Any]:
        self._get("images", p["ImageName"], f"Image {p['ImageName']} does not exist.")
        versions = self._versions(p["ImageName"])
        if p.get("Version") is not None:
            versions = [v for v in versions if v["Version"] == p["Version"]]
        if not versions:
            raise not_found(
                f"ImageVersion {p['ImageName']}/{p.get('Version', 'latest')} does not exist."
            )
        return max(versions, key=lambda v: v["Version"])

    def op_DescribeImageVersion(self, p: Params, ctx: Context) -> dict[str, Any]:
        return self._out("DescribeImageVersion", self._version(p))

    def op_ListImageVersions(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._get("images", p["ImageName"], f"Image {p['ImageName']} does not exist.")
        items = [
            self._pick(
                v,
                "CreationTime",
                "FailureReason",
                "ImageArn",
                "ImageVersionArn",
                "ImageVersionStatus",
                "LastModifiedTime",
                "Version",
            )
            for v in self._versions(p["ImageName"])
        ]
        return _page(
            self._summaries("ListImageVersions", "ImageVersions", items), p, "ImageVersions"
        )

    def op_DeleteImageVersion(self, p: Params, ctx: Context) -> dict[str, Any]:
        version = self._version(p)
        del self.store.table("image-versions")[f"{p['ImageName']}/{version['Version']}"]
        return {}

    # --- app image configs ----------------------------------------------------------

    _AIC = ("KernelGatewayImageConfig", "JupyterLabAppImageConfig", "CodeEditorAppImageConfig")

    @staticmethod
    def _check_code_editor(p: Params) -> None:
        if "FileSystemConfig" in (p.get("CodeEditorAppImageConfig") or {}):
            raise ApiError(
                "ValidationException",
                "FileSystemConfig is not supported for CodeEditorAppImageConfig",
            )

    def op_CreateAppImageConfig(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._check_code_editor(p)
        name = p["AppImageConfigName"]
        arn = self.arn(ctx, f"app-image-config/{name}")
        item = {**self._pick(p, "AppImageConfigName", "Tags", *self._AIC), "AppImageConfigArn": arn}
        self._create("app-image-configs", name, item, f"AppImageConfig {name}")
        return {"AppImageConfigArn": arn}

    def op_DescribeAppImageConfig(self, p: Params, ctx: Context) -> dict[str, Any]:
        name = p["AppImageConfigName"]
        return self._out(
            "DescribeAppImageConfig",
            self._get("app-image-configs", name, f"AppImageConfig {name} does not exist."),
        )

    def op_UpdateAppImageConfig(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._check_code_editor(p)
        name = p["AppImageConfigName"]
        item = self._get("app-image-configs", name, f"AppImageConfig {name} does not exist.")
        for key in self._AIC:
            item.pop(key, None)
        item.update(self._pick(p, *self._AIC))
        item["LastModifiedTime"] = self.now()
        return {"AppImageConfigArn": item["AppImageConfigArn"]}

    def op_ListAppImageConfigs(self, p: Params, ctx: Context) -> dict[str, Any]:
        items = [
            dict(i)
            for i in self.store.table("app-image-configs").values()
            if p.get("NameContains", "") in i["AppImageConfigName"]
        ]
        return _page(
            self._summaries("ListAppImageConfigs", "AppImageConfigs", items), p, "AppImageConfigs"
        )

    def op_DeleteAppImageConfig(self, p: Params, ctx: Context) -> dict[str, Any]:
        name = p["AppImageConfigName"]
        self._get("app-image-configs", name, f"AppImageConfig {name} does not exist.")
        del self.store.table("app-image-configs")[name]
        return {}

    # --- studio lifecycle configs ---------------------------------------------------

    def op_CreateStudioLifecycleConfig(self, p: Params, ctx: Context) -> dict[str, Any]:
        name, content = p["StudioLifecycleConfigName"], p["StudioLifecycleConfigContent"]
        if len(content) > LCC_MAX:
            raise invalid(
                f"StudioLifecycleConfigContent is {len(content)} characters; the limit is {LCC_MAX}"
            )
        try:
            base64.b64decode(content, validate=True)
        except binascii.Error as exc:
            raise invalid("StudioLifecycleConfigContent must be base64-encoded") from exc
        arn = self.arn(ctx, f"studio-lifecycle-config/{name}")
        item = {
            **self._pick(
                p,
                "StudioLifecycleConfigName",
                "StudioLifecycleConfigContent",
                "StudioLifecycleConfigAppType",
                "Tags",
            ),
            "StudioLifecycleConfigArn": arn,
        }
        self._create("lifecycle-configs", name, item, f"StudioLifecycleConfig {name}")
        return {"StudioLifecycleConfigArn": arn}

    def op_DescribeStudioLifecycleConfig(self, p: Params, ctx: Context) -> dict[str, Any]:
        name = p["StudioLifecycleConfigName"]
        return dict(
            self._get("lifecycle-configs", name, f"StudioLifecycleConfig {name} does not exist.")
        )

    def op_ListStudioLifecycleConfigs(self, p: Params, ctx: Context) -> dict[str, Any]:
        items = [
            self._pick(
                i,
                "StudioLifecycleConfigArn",
                "StudioLifecycleConfigName",
                "CreationTime",
                "LastModifiedTime",
                "StudioLifecycleConfigAppType",
            )
            for i in self.store.table("lifecycle-configs").values()
            if p.get("NameContains", "") in i["StudioLifecycleConfigName"]
            and p.get("AppTypeEquals", i["StudioLifecycleConfigAppType"])
            == i["StudioLifecycleConfigAppType"]
        ]
        return _page(
            self._summaries("ListStudioLifecycleConfigs", "StudioLifecycleConfigs", items),
            p,
            "StudioLifecycleConfigs",
        )

    def op_DeleteStudioLifecycleConfig(self, p: Params, ctx: Context) -> dict[str, Any]:
        name = p["StudioLifecycleConfigName"]
        item = self._get("lifecycle-configs", name, f"StudioLifecycleConfig {name} does not exist.")
        arn = item["StudioLifecycleConfigArn"]
        users = [*self.store.table("domains").values(), *self.store.table("user-profiles").values()]
        for holder in users:
            settings = holder.get("DefaultUserSettings") or holder.get("UserSettings") or {}
            for app_settings in settings.values():
                if isinstance(app_settings, dict) and arn in app_settings.get(
                    "LifecycleConfigArns", []
                ):
                    raise in_use(f"StudioLifecycleConfig {name} is attached and cannot be deleted")
        del self.store.table("lifecycle-configs")[name]
        return {}

    # --- domains --------------------------------------------------------------------

    def op_CreateDomain(self, p: Params, ctx: Context) -> dict[str, Any]:
        domain_id = "d-" + "".join(
            secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12)
        )
        arn = self.arn(ctx, f"domain/{domain_id}")
        item = {
            **self._pick(
                p,
                "DomainName",
                "AuthMode",
                "DefaultUserSettings",
                "SubnetIds",
                "VpcId",
                "DefaultSpaceSettings",
                "DomainSettings",
                "AppNetworkAccessType",
                "Tags",
            ),
            "DomainId": domain_id,
            "DomainArn": arn,
            "Status": "InService",
            "HomeEfsFileSystemId": "fs-" + secrets.token_hex(8),
            "Url": f"{self.presign_base}/studio/{domain_id}",
        }
        self._create("domains", domain_id, item, f"Domain {p['DomainName']}")
        return {"DomainArn": arn, "DomainId": domain_id, "Url": item["Url"]}

    def _domain(self, domain_id: str) -> dict[str, Any]:
        return self._get("domains", domain_id, f"Domain {domain_id} does not exist.")

    def op_DescribeDomain(self, p: Params, ctx: Context) -> dict[str, Any]:
        return self._out("DescribeDomain", self._domain(p["DomainId"]))

    def op_ListDomains(self, p: Params, ctx: Context) -> dict[str, Any]:
        items = [
            self._pick(
                d,
                "DomainArn",
                "DomainId",
                "DomainName",
                "Status",
                "CreationTime",
                "LastModifiedTime",
                "Url",
            )
            for d in self.store.table("domains").values()
        ]
        return _page(self._summaries("ListDomains", "Domains", items), p, "Domains")

    def op_UpdateDomain(self, p: Params, ctx: Context) -> dict[str, Any]:
        domain = self._domain(p["DomainId"])
        for key in ("DefaultUserSettings", "DefaultSpaceSettings"):
            if key in p:
                domain[key] = _merge(domain.get(key, {}), p[key])
        if "DomainSettingsForUpdate" in p:
            domain["DomainSettings"] = _merge(
                domain.get("DomainSettings", {}), p["DomainSettingsForUpdate"]
            )
        for key in ("AppNetworkAccessType", "SubnetIds", "VpcId"):  # new apps only
            if key in p:
                domain[key] = p[key]
        domain["LastModifiedTime"] = self.now()
        return {"DomainArn": domain["DomainArn"]}

    def op_DeleteDomain(self, p: Params, ctx: Context) -> dict[str, Any]:
        domain = self._domain(p["DomainId"])
        if any(k.startswith(domain["DomainId"] + "/") for k in self.store.table("user-profiles")):
            raise in_use(f"Domain {domain['DomainId']} has user profiles; delete them first")
        del self.store.table("domains")[domain["DomainId"]]
        return {}

    # --- user profiles and spaces ---------------------------------------------------

    def _not_taken_by(self, kind: str, domain_id: str, name: str) -> None:
        """Spaces and user profiles share the names in a domain's app ARNs
        (app/<domain>/<space or profile>/...): one name, one owner."""
        if f"{domain_id}/{name}" in self.store.table(kind):
            what = "a space" if kind == "spaces" else "a user profile"
            raise invalid(f"{name} is already the name of {what} in domain {domain_id}")

    def op_CreateUserProfile(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._domain(p["DomainId"])
        name = p["UserProfileName"]
        self._not_taken_by("spaces", p["DomainId"], name)
        arn = self.arn(ctx, f"user-profile/{p['DomainId']}/{name}")
        item = {
            **self._pick(p, "DomainId", "UserProfileName", "UserSettings", "Tags"),
            "UserProfileArn": arn,
            "Status": "InService",
            "HomeEfsFileSystemUid": str(200000 + len(self.store.table("user-profiles"))),
        }
        self._create("user-profiles", f"{p['DomainId']}/{name}", item, f"UserProfile {name}")
        return {"UserProfileArn": arn}

    def _profile(self, domain_id: str, name: str) -> dict[str, Any]:
        self._domain(domain_id)
        return self._get(
            "user-profiles", f"{domain_id}/{name}", f"UserProfile {name} does not exist."
        )

    def op_DescribeUserProfile(self, p: Params, ctx: Context) -> dict[str, Any]:
        return self._out("DescribeUserProfile", self._profile(p["DomainId"], p["UserProfileName"]))

    def op_UpdateUserProfile(self, p: Params, ctx: Context) -> dict[str, Any]:
        profile = self._profile(p["DomainId"], p["UserProfileName"])
        if "UserSettings" in p:
            profile["UserSettings"] = _merge(profile.get("UserSettings", {}), p["UserSettings"])
        profile["LastModifiedTime"] = self.now()
        return {"UserProfileArn": profile["UserProfileArn"]}

    def op_ListUserProfiles(self, p: Params, ctx: Context) -> dict[str, Any]:
        items = [
            self._pick(
                u, "DomainId", "UserProfileName", "Status", "CreationTime", "LastModifiedTime"
            )
            for u in self.store.table("user-profiles").values()
            if p.get("DomainIdEquals", u["DomainId"]) == u["DomainId"]
            and p.get("UserProfileNameContains", "") in u["UserProfileName"]
        ]
        return _page(self._summaries("ListUserProfiles", "UserProfiles", items), p, "UserProfiles")

    def _live_apps(self, domain_id: str, **owner: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.store.table("apps").values()
            if a["DomainId"] == domain_id
            and a["Status"] not in ("Deleted", "Failed")
            and all(a.get(k) == v for k, v in owner.items())
        ]

    def op_DeleteUserProfile(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._profile(p["DomainId"], p["UserProfileName"])
        if self._live_apps(p["DomainId"], UserProfileName=p["UserProfileName"]):
            raise in_use(f"UserProfile {p['UserProfileName']} has apps; delete them first")
        owned = [  # SageMaker: its apps and the spaces it owns go first
            s["SpaceName"]
            for s in self.store.table("spaces").values()
            if s["DomainId"] == p["DomainId"]
            and (s.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
            == p["UserProfileName"]
        ]
        if owned:
            raise in_use(
                f"UserProfile {p['UserProfileName']} owns spaces ({', '.join(sorted(owned))}); "
                "delete them first"
            )
        del self.store.table("user-profiles")[f"{p['DomainId']}/{p['UserProfileName']}"]
        return {}

    def _check_space_idle(self, domain_id: str, space: str, settings: dict[str, Any]) -> None:
        """A space's own idle timeout must lie within the domain's Min/MaxIdleTimeout."""
        domain = self._domain(domain_id)
        for kind in ("JupyterLab", "CodeEditor"):
            key = facts.SETTINGS_KEY[kind]
            own = ((settings.get(key) or {}).get("AppLifecycleManagement") or {}).get(
                "IdleSettings"
            ) or {}
            minutes = own.get("IdleTimeoutInMinutes")
            if minutes is None:
                continue
            bounds = (
                ((domain.get("DefaultUserSettings") or {}).get(key) or {}).get(
                    "AppLifecycleManagement"
                )
                or {}
            ).get("IdleSettings") or {}
            low = bounds.get("MinIdleTimeoutInMinutes", 60)
            high = bounds.get("MaxIdleTimeoutInMinutes", 525600)
            if not low <= minutes <= high:
                raise invalid(
                    f"IdleTimeoutInMinutes {minutes} of space {space} is outside the domain's "
                    f"range for {kind} apps: MinIdleTimeoutInMinutes {low}, "
                    f"MaxIdleTimeoutInMinutes {high}"
                )

    def op_CreateSpace(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._domain(p["DomainId"])
        self._check_space_idle(p["DomainId"], p["SpaceName"], p.get("SpaceSettings") or {})
        owner = (p.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
        if owner:
            self._profile(p["DomainId"], owner)
        name = p["SpaceName"]
        self._not_taken_by("user-profiles", p["DomainId"], name)
        arn = self.arn(ctx, f"space/{p['DomainId']}/{name}")
        item = {
            **self._pick(
                p,
                "DomainId",
                "SpaceName",
                "SpaceSettings",
                "OwnershipSettings",
                "SpaceSharingSettings",
                "SpaceDisplayName",
                "Tags",
            ),
            "SpaceArn": arn,
            "Status": "InService",
        }
        self._create("spaces", f"{p['DomainId']}/{name}", item, f"Space {name}")
        return {"SpaceArn": arn}

    def _space(self, domain_id: str, name: str) -> dict[str, Any]:
        self._domain(domain_id)
        return self._get("spaces", f"{domain_id}/{name}", f"Space {name} does not exist.")

    def op_DescribeSpace(self, p: Params, ctx: Context) -> dict[str, Any]:
        return self._out("DescribeSpace", self._space(p["DomainId"], p["SpaceName"]))

    def op_UpdateSpace(self, p: Params, ctx: Context) -> dict[str, Any]:
        space = self._space(p["DomainId"], p["SpaceName"])
        self._check_space_idle(p["DomainId"], p["SpaceName"], p.get("SpaceSettings") or {})
        if "SpaceSettings" in p:
            space["SpaceSettings"] = _merge(space.get("SpaceSettings", {}), p["SpaceSettings"])
        space["LastModifiedTime"] = self.now()
        return {"SpaceArn": space["SpaceArn"]}

    def op_ListSpaces(self, p: Params, ctx: Context) -> dict[str, Any]:
        items = [
            self._pick(
                s,
                "DomainId",
                "SpaceName",
                "Status",
                "CreationTime",
                "LastModifiedTime",
                "SpaceDisplayName",
                "OwnershipSettings",
                "SpaceSharingSettings",
                "SpaceSettings",
            )
            for s in self.store.table("spaces").values()
            if p.get("DomainIdEquals", s["DomainId"]) == s["DomainId"]
            and p.get("SpaceNameContains", "") in s["SpaceName"]
        ]
        for item in items:
            if "OwnershipSettings" in item:
                item["OwnershipSettingsSummary"] = item.pop("OwnershipSettings")
            if "SpaceSharingSettings" in item:
                item["SpaceSharingSettingsSummary"] = {
                    "SharingType": item.pop("SpaceSharingSettings")["SharingType"]
                }
            settings = item.pop("SpaceSettings", None) or {}
            summary = self._pick(settings, "AppType", "RemoteAccess")
            if summary:  # SpaceSettingsSummary: the app type, remote access, storage
                item["SpaceSettingsSummary"] = summary
        return _page(self._summaries("ListSpaces", "Spaces", items), p, "Spaces")

    def op_DeleteSpace(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._space(p["DomainId"], p["SpaceName"])
        if self._live_apps(p["DomainId"], SpaceName=p["SpaceName"]):
            raise in_use(f"Space {p['SpaceName']} has apps; delete them first")
        del self.store.table("spaces")[f"{p['DomainId']}/{p['SpaceName']}"]
        if self.runtime is not None:
            self.runtime.delete_home(p["DomainId"], p["SpaceName"])
        return {}

    # --- apps -----------------------------------------------------------------------

    @staticmethod
    def _app_key(p: Params) -> str:
        owner = p.get("SpaceName") or p.get("UserProfileName") or ""
        return f"{p['DomainId']}/{owner}/{p['AppType']}/{p['AppName']}"

    def op_CreateApp(self, p: Params, ctx: Context) -> dict[str, Any]:
        if bool(p.get("SpaceName")) == bool(p.get("UserProfileName")):
            raise invalid("Specify exactly one of UserProfileName or SpaceName")
        if p.get("SpaceName"):
            self._space(p["DomainId"], p["SpaceName"])
            if p["AppType"] in facts.SPACE_APP_TYPES and p["AppName"] != facts.SPACE_APP_NAME:
                raise invalid(f"{p['AppType']} apps in a space must be named 'default'")
        else:
            self._profile(p["DomainId"], p["UserProfileName"])
        key = self._app_key(p)
        existing = self.store.table("apps").get(key)
        if existing and existing["Status"] not in ("Deleted", "Failed"):
            raise in_use(
                f"App {p['AppName']} of type {p['AppType']} already exists ({existing['Status']})"
            )
        owner = p.get("SpaceName") or p.get("UserProfileName")
        arn = self.arn(ctx, f"app/{p['DomainId']}/{owner}/{p['AppType'].lower()}/{p['AppName']}")
        self.store.table("apps").pop(key, None)
        item = {
            **self._pick(
                p,
                "DomainId",
                "UserProfileName",
                "SpaceName",
                "AppType",
                "AppName",
                "ResourceSpec",
                "Tags",
            ),
            "AppArn": arn,
            "Status": "Pending",
        }
        if p.get("UserProfileName"):  # a profile's tags are added to the apps it launches
            profile_arn = self.arn(ctx, f"user-profile/{p['DomainId']}/{p['UserProfileName']}")
            inherited = list(self.store.table("tags").get(profile_arn, []))
            given = {t["Key"] for t in p.get("Tags", [])}
            tags = [t for t in inherited if t["Key"] not in given] + list(p.get("Tags", []))
            if tags:
                item["Tags"] = tags
        item = self._create("apps", key, item, f"App {p['AppName']}")
        if self.runtime is not None:
            self.runtime.start(dict(item))
        return {"AppArn": arn}

    def _app(self, p: Params) -> dict[str, Any]:
        return self._get(
            "apps", self._app_key(p), f"App {p['AppName']} of type {p['AppType']} does not exist."
        )

    def op_DescribeApp(self, p: Params, ctx: Context) -> dict[str, Any]:
        return self._out("DescribeApp", self._app(p))

    def op_ListApps(self, p: Params, ctx: Context) -> dict[str, Any]:
        items = [
            self._pick(
                a,
                "DomainId",
                "UserProfileName",
                "SpaceName",
                "AppType",
                "AppName",
                "Status",
                "CreationTime",
                "ResourceSpec",
            )
            for a in self.store.table("apps").values()
            if p.get("DomainIdEquals", a["DomainId"]) == a["DomainId"]
            and p.get("UserProfileNameEquals", a.get("UserProfileName")) == a.get("UserProfileName")
            and p.get("SpaceNameEquals", a.get("SpaceName")) == a.get("SpaceName")
        ]
        return _page(self._summaries("ListApps", "Apps", items), p, "Apps")

    def op_DeleteApp(self, p: Params, ctx: Context) -> dict[str, Any]:
        app = self._app(p)
        if app["Status"] in ("Deleted", "Deleting"):
            raise in_use(f"App {p['AppName']} is already {app['Status']}")
        app["Status"] = "Deleting"
        app["LastModifiedTime"] = self.now()
        if self.runtime is not None:
            self.runtime.stop(dict(app))
        else:
            app["Status"] = "Deleted"
        return {}

    def app_status(
        self, app_arn: str, status: str, reason: str | None = None, endpoint: str | None = None
    ) -> None:
        """The runtime's report of an app's new status (Pending -> InService/Failed,
        Deleting -> Deleted) and, once serving, where it answers locally."""
        with self.store.lock:
            for app in self.store.table("apps").values():
                if app["AppArn"] == app_arn:
                    app["Status"] = status
                    app["LastModifiedTime"] = self.now()
                    if reason:
                        app["FailureReason"] = reason
            endpoints = self.store.table("endpoints")
            if endpoint and status == "InService":
                endpoints[app_arn] = endpoint
            else:
                endpoints.pop(app_arn, None)
            self.store.save()

    def follow_presigned(self, token: str) -> str | None:
        """Which app a presigned URL opens in the local Studio: the user's (or the
        space's) running app, by its ARN. None when the token is unknown, used or expired,
        or nothing is running there."""
        with self.store.lock:
            grant = self.store.table("presigned").pop(token, None)
            self.store.save()
            if grant is None or grant["Expires"] < self.now().timestamp():
                return None
            endpoints = self.store.table("endpoints")
            for app in self.store.table("apps").values():
                mine = app["DomainId"] == grant["DomainId"] and (
                    app.get("SpaceName") == grant["SpaceName"]
                    if grant["SpaceName"]
                    else app.get("UserProfileName") == grant["UserProfileName"]
                )
                if mine and app["Status"] == "InService" and app["AppArn"] in endpoints:
                    return str(app["AppArn"])
        return None

    # --- remote access -------------------------------------------------------------

    def _remote_target(self, identifier: str, ctx: Context) -> dict[str, Any]:
        """The running space app a StartSession's ResourceIdentifier names: the app's ARN
        (app/<domain>/<space>/<type>/<name>) or its space's (space/<domain>/<space>)."""
        prefix = self.arn(ctx, "")
        kind, _, path = identifier.removeprefix(prefix).partition("/")
        parts = path.split("/")
        if not identifier.startswith(prefix) or kind not in ("app", "space"):
            raise invalid(
                f"ResourceIdentifier {identifier} is not the ARN of a space or a space's app "
                f"in {self.account} {ctx.region}"
            )
        if len(parts) != {"app": 4, "space": 2}[kind]:
            raise invalid(f"ResourceIdentifier {identifier} is not a well-formed {kind} ARN")
        domain_id, space_name = parts[0], parts[1]
        self._domain(domain_id)
        space = self.store.table("spaces").get(f"{domain_id}/{space_name}")
        if space is None:
            raise not_found(f"Space {space_name} does not exist.")
        settings = space.get("SpaceSettings") or {}
        if settings.get("RemoteAccess") != "ENABLED":
            raise invalid(
                f"Remote access is not enabled for space {space_name}. Set "
                "SpaceSettings.RemoteAccess to ENABLED with UpdateSpace, then start a session."
            )
        running = [
            a for a in self._live_apps(domain_id, SpaceName=space_name)
            if a["Status"] == "InService"
            and (kind == "space" or a["AppArn"] == identifier)
            and a["AppType"] in facts.SPACE_APP_TYPES
        ]  # fmt: skip
        if not running:
            raise not_found(
                f"No app is InService in space {space_name} for {identifier}; start the "
                "space's app, then start a session."
            )
        return running[0]

    def op_StartSession(self, p: Params, ctx: Context) -> dict[str, Any]:
        """A remote IDE's session into a space's app: its sshd (127.0.0.1:2222 in the
        app), through the same data channel as Session Manager's, one use per token."""
        app = self._remote_target(p["ResourceIdentifier"], ctx)
        session_id = f"{ctx.caller.rsplit(':', 1)[-1] or 'session'}-{secrets.token_hex(8)}"
        token = secrets.token_urlsafe(24)
        self.store.table("ssm-sessions")[session_id] = {
            "Target": p["ResourceIdentifier"],
            "AppArn": app["AppArn"],
            "TokenValue": token,
            "DocumentName": "",
            "Parameters": {"portNumber": [str(facts.SSHD_PORT)]},
            "Owner": ctx.caller,
            "Started": self.now(),
        }
        return {
            "SessionId": session_id,
            "TokenValue": token,
            "StreamUrl": f"wss://ssmmessages.{ctx.region}.amazonaws.com/v1/data-channel/{session_id}",
        }

    # --- access and tags ------------------------------------------------------------

    def op_CreatePresignedDomainUrl(self, p: Params, ctx: Context) -> dict[str, Any]:
        self._profile(p["DomainId"], p["UserProfileName"])
        if p.get("SpaceName"):
            space = self._space(p["DomainId"], p["SpaceName"])
            owner = (space.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
            sharing = (space.get("SpaceSharingSettings") or {}).get("SharingType", "Private")
            if sharing != "Shared" and owner != p["UserProfileName"]:
                raise invalid(
                    f"Space {p['SpaceName']} is private to user profile {owner}; "
                    f"{p['UserProfileName']} cannot open it"
                )
        token = secrets.token_urlsafe(24)
        self.store.table("presigned")[token] = {
            "DomainId": p["DomainId"],
            "UserProfileName": p["UserProfileName"],
            "SpaceName": p.get("SpaceName"),
            "Expires": self.now().timestamp() + p.get("ExpiresInSeconds", 300),
        }
        return {"AuthorizedUrl": f"{self.presign_base}/auth?token={token}"}

    def _tagged(self, arn: str) -> list[dict[str, str]]:
        for table in (
            "images",
            "app-image-configs",
            "lifecycle-configs",
            "domains",
            "user-profiles",
            "spaces",
            "apps",
        ):
            for item in self.store.table(table).values():
                if arn in (v for k, v in item.items() if k.endswith("Arn")):
                    return self.store.table("tags").setdefault(arn, [])  # type: ignore[no-any-return]
        raise not_found(f"Resource {arn} does not exist.")

    def op_AddTags(self, p: Params, ctx: Context) -> dict[str, Any]:
        tags = self._tagged(p["ResourceArn"])
        keys = {t["Key"] for t in p["Tags"]}
        tags[:] = [t for t in tags if t["Key"] not in keys] + p["Tags"]
        return {"Tags": p["Tags"]}

    def op_ListTags(self, p: Params, ctx: Context) -> dict[str, Any]:
        return _page(
            list(self._tagged(p["ResourceArn"])),
            {**p, "SortOrder": "Ascending"},
            "Tags",
        )

    def op_DeleteTags(self, p: Params, ctx: Context) -> dict[str, Any]:
        tags = self._tagged(p["ResourceArn"])
        tags[:] = [t for t in tags if t["Key"] not in p["TagKeys"]]
        return {}
