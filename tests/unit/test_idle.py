"""Studio's idle shutdown as the local Studio runs it, on plain data: which timeout an app
gets (the user's or domain's IdleSettings, a space's own within Min/Max) and how /api/idle
answers are read."""

from __future__ import annotations

from typing import Any

from smstudio.core.config import parse
from smstudio.local import runtime
from smstudio.register import desired

DOMAIN = "d-000000000001"


def store(domain_idle: dict[str, Any] | None, space_idle: int | None = None,
          kind: str = "JupyterLab") -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    key = f"{kind}AppSettings"
    settings = {key: {"AppLifecycleManagement": {"IdleSettings": domain_idle}}} if domain_idle else {}
    space_settings = ({key: {"AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": space_idle}}}}
                      if space_idle else {})  # fmt: skip
    data = {
        "domains": {DOMAIN: {"DefaultUserSettings": settings}},
        "spaces": {f"{DOMAIN}/lab": {"SpaceSharingSettings": {"SharingType": "Private"},
                                     "OwnershipSettings": {"OwnerUserProfileName": "alice"},
                                     "SpaceSettings": space_settings}},
        "user-profiles": {f"{DOMAIN}/alice": {"UserSettings": {}}},
    }  # fmt: skip
    app = {"DomainId": DOMAIN, "SpaceName": "lab", "AppType": kind, "AppName": "default"}
    return data, app


def test_the_timeout_comes_from_the_settings_and_a_space_may_choose_within_bounds() -> None:
    on = {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120,
          "MinIdleTimeoutInMinutes": 60, "MaxIdleTimeoutInMinutes": 240}  # fmt: skip
    assert runtime.idle_timeout(*store(on)) == 120
    assert runtime.idle_timeout(*store(on, 180)) == 180
    assert runtime.idle_timeout(*store(on, 600)) == 120  # outside the bounds: the default
    assert runtime.idle_timeout(*store(on, kind="CodeEditor")) == 120
    assert runtime.idle_timeout(*store({**on, "LifecycleManagement": "DISABLED"})) is None
    assert runtime.idle_timeout(*store(None)) is None
    data, app = store(on)
    assert runtime.idle_timeout(data, {**app, "AppType": "KernelGateway"}) is None


def test_idle_answers_are_read_as_studio_reads_them() -> None:
    assert runtime.last_active('{"lastActiveTimestamp": "2026-11-30T08:00:00.000000z"}') == 1796025600.0
    assert runtime.last_active('{"lastActiveTimestamp": "2026-11-30T08:00:00.000000Z"}') == 1796025600.0
    assert runtime.last_active("{}") is None and runtime.last_active("not json") is None


def test_apply_sets_idle_for_both_app_types_with_bounds_and_per_space() -> None:
    team = parse("""
[domain]
name = "t"
[defaults]
idle_timeout_minutes = 120
min_idle_timeout_minutes = 60
max_idle_timeout_minutes = 480
[[users]]
name = "alice"
email = "a@b.c"
[[spaces]]
name = "long-runs"
owner = "alice"
app_type = "CodeEditor"
idle_timeout_minutes = 480
""", "team.toml")  # fmt: skip
    idle = {"AppLifecycleManagement": {"IdleSettings": {
        "LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120,
        "MinIdleTimeoutInMinutes": 60, "MaxIdleTimeoutInMinutes": 480}}}  # fmt: skip
    assert desired.jupyterlab_settings(team) == idle
    assert desired.codeeditor_settings(team) == idle
    request = desired.space_request(team.spaces[0], team, "d-1")
    assert request["SpaceSettings"]["CodeEditorAppSettings"]["AppLifecycleManagement"] == {
        "IdleSettings": {"IdleTimeoutInMinutes": 480}}
