"""The planner on plain data: no Docker, no endpoint. A small model of the account
carries out a plan's calls, so "apply, then plan again" is checked here too."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from smstudio.core import facts
from smstudio.core.config import Team, parse
from smstudio.core.errors import BadInput
from smstudio.register import iam
from smstudio.register.plan import (
    DOMAIN_ID,
    Change,
    ImageInput,
    Inputs,
    LifecycleInput,
    Options,
    Plan,
    plan,
)
from smstudio.register.state import State, differences

ACCOUNT, REGION = "123456789012", "eu-west-1"
TEAM = """
[domain]
name = "ml-team"
region = "eu-west-1"

[defaults]
idle_timeout_minutes = 60

[images.smstudio-jupyterlab]
target = "jupyterlab"
app_types = ["JupyterLab"]

[lifecycle]
JupyterLab = "lcc/jupyterlab.sh"

[[users]]
name = "alice"
email = "alice@example.com"

[[users]]
name = "bob"
email = "bob@example.com"
"""
NAMES = iam.Names("ml-team")
MANAGED = {facts.MANAGED_BY_TAG: "ml-team"}


def team(text: str = TEAM) -> Team:
    return parse(text, "team.toml")


def inputs(image_id: str = "sha256:" + "1" * 64) -> Inputs:
    config = {"JupyterLabAppImageConfig": {"FileSystemConfig": {"MountPath": facts.HOME}}}
    return Inputs(
        {"smstudio-jupyterlab": ImageInput("smstudio/jupyterlab:dev", image_id, config)},
        {"JupyterLab": LifecycleInput("smstudio-jupyterlab-abc", "ZWNobw==", "jupyterlab.sh")},
    )


def empty() -> State:
    return State(ACCOUNT, REGION)


def steps(result: Plan) -> list[tuple[str, str, str]]:
    return [(c.step, c.action, c.target) for c in result.changes]


class Account:
    """What AWS would hold after a plan's calls, as a State (enough of it for smstudio's
    calls; the domain gets id d-000000000001)."""

    def __init__(self, state: State) -> None:
        self.state = copy.deepcopy(state)
        self.outputs: dict[str, str] = {}

    def run(self, result: Plan) -> State:
        for change in result.changes:
            for call in change.calls:
                params = json.loads(json.dumps(call.params).replace(
                    DOMAIN_ID, self.outputs.get("domain_id", DOMAIN_ID)))  # fmt: skip
                answer = getattr(self, call.op)(**params) or {}
                for name, key in call.save.items():
                    self.outputs[name] = answer[key]
        return self.state

    # IAM
    def create_role(self, RoleName: str, AssumeRolePolicyDocument: str, Tags: list[Any],
                    MaxSessionDuration: int = 3600) -> None:  # fmt: skip
        self.state.roles[RoleName] = {
            "arn": f"arn:aws:iam::{ACCOUNT}:role/{RoleName}",
            "trust": json.loads(AssumeRolePolicyDocument), "max_session": MaxSessionDuration,
            "tags": {t["Key"]: t["Value"] for t in Tags}, "inline": {}, "attached": []}  # fmt: skip

    def put_role_policy(self, RoleName: str, PolicyName: str, PolicyDocument: str) -> None:
        self.state.roles[RoleName]["inline"][PolicyName] = json.loads(PolicyDocument)

    def update_assume_role_policy(self, RoleName: str, PolicyDocument: str) -> None:
        self.state.roles[RoleName]["trust"] = json.loads(PolicyDocument)

    def tag_role(self, RoleName: str, Tags: list[Any]) -> None:
        self.state.roles[RoleName]["tags"].update({t["Key"]: t["Value"] for t in Tags})

    def create_policy(self, PolicyName: str, PolicyDocument: str, Tags: list[Any]) -> None:
        self.state.policies[PolicyName] = {
            "arn": f"arn:aws:iam::{ACCOUNT}:policy/{PolicyName}",
            "document": json.loads(PolicyDocument), "default": "v1", "versions": []}  # fmt: skip

    def attach_role_policy(self, RoleName: str, PolicyArn: str) -> None:
        self.state.roles[RoleName]["attached"].append(PolicyArn)

    def detach_role_policy(self, RoleName: str, PolicyArn: str) -> None:
        self.state.roles[RoleName]["attached"].remove(PolicyArn)

    def delete_role(self, RoleName: str) -> None:
        assert not self.state.roles[RoleName]["attached"], "IAM: detach first"
        assert not self.state.roles[RoleName]["inline"], "IAM: delete its policies first"
        del self.state.roles[RoleName]

    def delete_role_policy(self, RoleName: str, PolicyName: str) -> None:
        del self.state.roles[RoleName]["inline"][PolicyName]

    def create_open_id_connect_provider(self, Url: str, ClientIDList: list[str],
                                        Tags: list[Any]) -> None:  # fmt: skip
        host = Url.removeprefix("https://")
        self.state.oidc_providers.append(f"arn:aws:iam::{self.state.account}:oidc-provider/{host}")

    def delete_policy(self, PolicyArn: str) -> None:
        del self.state.policies[PolicyArn.rsplit("/", 1)[-1]]

    # SageMaker
    def create_image(self, ImageName: str, RoleArn: str, Tags: list[Any]) -> None:
        self.state.images[ImageName] = {
            "arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:image/{ImageName}",
            "tags": {t["Key"]: t["Value"] for t in Tags}, "latest": None}  # fmt: skip

    def push_image_version(self, ImageName: str, ImageId: str, **_: Any) -> None:
        latest = self.state.images[ImageName]["latest"] or {"version": 0}
        self.state.images[ImageName]["latest"] = {
            "version": latest["version"] + 1, "status": "CREATED", "image": "x", "config": ImageId}  # fmt: skip

    def create_app_image_config(self, AppImageConfigName: str, Tags: list[Any],
                                **config: Any) -> None:  # fmt: skip
        self.state.app_image_configs[AppImageConfigName] = {"arn": "x", "config": config}

    def create_studio_lifecycle_config(self, StudioLifecycleConfigName: str, **_: Any) -> None:
        self.state.lifecycle_configs.append(StudioLifecycleConfigName)

    def create_domain(self, DomainName: str, DefaultUserSettings: dict[str, Any],
                      DomainSettings: dict[str, Any], **_: Any) -> dict[str, str]:  # fmt: skip
        self.state.domain = {"id": "d-000000000001", "name": DomainName, "arn": "x",
                             "settings": DefaultUserSettings, "efs": "fs-1",
                             "identity": DomainSettings["ExecutionRoleIdentityConfig"],
                             "docker": DomainSettings.get("DockerSettings", {})}  # fmt: skip
        return {"DomainId": "d-000000000001"}

    def wait_domain(self, DomainId: str) -> None:
        assert self.state.domain and DomainId == self.state.domain["id"]

    def update_domain(self, DomainId: str, DefaultUserSettings: dict[str, Any] | None = None,
                      DomainSettingsForUpdate: dict[str, Any] | None = None) -> None:  # fmt: skip
        assert self.state.domain
        self.state.domain["settings"].update(DefaultUserSettings or {})  # per settings key
        settings = DomainSettingsForUpdate or {}
        if "ExecutionRoleIdentityConfig" in settings:
            self.state.domain["identity"] = settings["ExecutionRoleIdentityConfig"]
        if "DockerSettings" in settings:  # the structure is replaced as a whole
            self.state.domain["docker"] = settings["DockerSettings"]

    def create_user_profile(self, DomainId: str, UserProfileName: str, Tags: list[Any]) -> None:
        assert DomainId == "d-000000000001"
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:user-profile/{DomainId}/{UserProfileName}"
        self.state.profiles[UserProfileName] = {"arn": arn,
                                                "tags": {t["Key"]: t["Value"] for t in Tags}}  # fmt: skip

    def add_tags(self, ResourceArn: str, Tags: list[Any]) -> None:
        for profile in self.state.profiles.values():
            if profile["arn"] == ResourceArn:
                profile["tags"].update({t["Key"]: t["Value"] for t in Tags})

    def create_space(self, DomainId: str, SpaceName: str, OwnershipSettings: dict[str, str],
                     SpaceSharingSettings: dict[str, str], Tags: list[Any],
                     SpaceSettings: dict[str, Any], **_: Any) -> None:  # fmt: skip
        self.state.spaces[SpaceName] = {
            "owner": OwnershipSettings["OwnerUserProfileName"],
            "sharing": SpaceSharingSettings["SharingType"],
            "remote_access": SpaceSettings.get("RemoteAccess", "DISABLED"),
            "tags": {t["Key"]: t["Value"] for t in Tags}}  # fmt: skip

    def update_space(self, DomainId: str, SpaceName: str, SpaceSettings: dict[str, Any]) -> None:
        if "RemoteAccess" in SpaceSettings:
            self.state.spaces[SpaceName]["remote_access"] = SpaceSettings["RemoteAccess"]

    def delete_space(self, DomainId: str, SpaceName: str) -> None:
        del self.state.spaces[SpaceName]
        self.state.apps = [a for a in self.state.apps if a.get("SpaceName") != SpaceName]

    def delete_user_profile(self, DomainId: str, UserProfileName: str) -> None:
        assert not [s for s in self.state.spaces.values() if s["owner"] == UserProfileName]
        del self.state.profiles[UserProfileName]

    def delete_secret(self, SecretId: str, ForceDeleteWithoutRecovery: bool) -> None:
        self.state.secrets = {u: a for u, a in self.state.secrets.items() if a != SecretId}
        self.state.access_keys = {u: a for u, a in self.state.access_keys.items() if a != SecretId}

    def deregister_managed_instance(self, InstanceId: str) -> None:
        for user, found in list(self.state.registrations.items()):
            self.state.registrations[user] = [i for i in found if i != InstanceId]
            if not self.state.registrations[user]:
                del self.state.registrations[user]


def applied(text: str = TEAM, state: State | None = None) -> State:
    first = plan(team(text), inputs(), state or empty())
    return Account(state or empty()).run(first)


# --- creation ------------------------------------------------------------------------


def test_an_empty_account_gets_everything_in_order() -> None:
    result = plan(team(), inputs(), empty())
    order = ["iam role", "image", "image version", "app image config", "lifecycle config",
             "domain", "iam role policy", "domain defaults", "iam user policy", "user profile"]  # fmt: skip
    seen = [s for s in dict.fromkeys(c.step for c in result.changes)]
    assert [s for s in seen if s in order] == order
    roles = [c.target for c in result.changes if c.step == "iam role"]
    assert roles == [NAMES.execution_role, NAMES.image_role, NAMES.ssm_instance_role,
                     NAMES.user_role("alice"), NAMES.user_role("bob")]  # fmt: skip
    domain = next(c for c in result.changes if c.step == "domain")
    assert domain.calls[0].save == {"domain_id": "DomainId"}
    # what needs the new domain names it by the placeholder, and depends on its creation
    profile = next(c for c in result.changes if c.step == "user profile")
    assert profile.calls[0].params["DomainId"] == DOMAIN_ID and domain.id in profile.depends_on
    policy = next(c for c in result.changes if c.target == NAMES.user_policy("alice"))
    assert f"app/{DOMAIN_ID}/" in policy.calls[0].params["PolicyDocument"]
    assert result.kept == []


def test_every_dependency_comes_first_and_ids_are_unique() -> None:
    result = plan(team(), inputs(), empty())
    ids = [c.id for c in result.changes]
    assert len(ids) == len(set(ids))
    for position, change in enumerate(result.changes):
        assert all(ids.index(d) < position for d in change.depends_on), change.id


def test_the_plan_is_deterministic_and_survives_json() -> None:
    first, second = plan(team(), inputs(), empty()), plan(team(), inputs(), empty())
    assert first == second
    again = [Change.from_json(json.loads(json.dumps(c.to_json()))) for c in first.changes]
    assert again == first.changes


def test_what_smstudio_makes_is_tagged_with_its_team() -> None:
    result = plan(team(), inputs(), empty())
    for change in result.changes:
        for call in change.calls:
            if call.op.startswith("create_") and "Tags" in call.params:
                tags = {t["Key"]: t["Value"] for t in call.params["Tags"]}
                assert tags.get(facts.MANAGED_BY_TAG) == "ml-team", change.id


# --- no change -----------------------------------------------------------------------


def test_after_apply_the_plan_is_empty() -> None:
    after = applied()
    result = plan(team(), inputs(), after)
    assert result.changes == [] and result.kept == []


# --- updates and drift ---------------------------------------------------------------


def test_a_rebuilt_image_gets_one_version_and_nothing_else() -> None:
    result = plan(team(), inputs("sha256:" + "2" * 64), applied())
    assert steps(result) == [("image version", "create", "smstudio-jupyterlab")]
    assert "another image" in result.changes[0].reason
    call = result.changes[0].calls[0]
    assert call.op == "push_image_version" and call.params["ImageId"].endswith("2" * 64)


def test_a_version_left_creating_is_waited_for_not_duplicated() -> None:
    state = applied()
    state.images["smstudio-jupyterlab"]["latest"]["status"] = "CREATING"
    result = plan(team(), inputs(), state)
    assert steps(result) == [("image version", "wait", "smstudio-jupyterlab")]


def test_policy_changes_become_a_new_version_keeping_at_most_five() -> None:
    state = applied()
    state.policies[NAMES.user_policy("alice")]["versions"] = ["v1", "v2", "v3", "v4"]
    text = TEAM.replace("idle_timeout_minutes = 60", "idle_timeout_minutes = 60\n"
                        'allowed_instance_types = ["ml.t3.medium", "ml.m5.large"]')  # fmt: skip
    result = plan(team(text), inputs(), state)
    change = next(c for c in result.changes if c.target == NAMES.user_policy("alice"))
    assert change.action == "new version"
    assert [c.op for c in change.calls] == ["delete_policy_version", "create_policy_version"]
    assert change.calls[0].params["VersionId"] == "v1"


def test_role_drift_is_shown_and_repaired() -> None:
    state = applied()
    role = state.roles[NAMES.execution_role]
    role["trust"] = {"Version": "2012-10-17", "Statement": []}
    del role["tags"][facts.MANAGED_BY_TAG]
    result = plan(team(), inputs(), state)
    assert steps(result) == [("iam role trust", "update", NAMES.execution_role),
                             ("iam role", "tag", NAMES.execution_role)]  # fmt: skip
    assert all(c.reason.startswith("drift:") for c in result.changes)
    assert plan(team(), inputs(), Account(state).run(result)).changes == []


def test_a_domain_without_user_identity_is_set_to_it() -> None:
    state = applied()
    assert state.domain is not None
    state.domain["identity"] = "DISABLED"
    result = plan(team(), inputs(), state)
    assert steps(result) == [("domain settings", "update", "d-000000000001")]


DOCKER = TEAM.replace("[[users]]", "[docker]\naccess = true\n\n[[users]]", 1)


def test_docker_access_is_set_on_a_new_domain() -> None:
    result = plan(team(DOCKER), inputs(), empty())
    create = next(c for c in result.changes if c.step == "domain")
    assert create.calls[0].params["DomainSettings"] == {
        "ExecutionRoleIdentityConfig": "USER_PROFILE_NAME",
        "DockerSettings": {"EnableDockerAccess": "ENABLED"},
    }
    assert plan(team(DOCKER), inputs(), Account(empty()).run(result)).changes == []


def test_docker_turned_on_later_merges_and_says_apps_must_restart() -> None:
    state = applied()
    assert state.domain is not None
    # another tool's trusted account and rootless choice, which the team file leaves out
    state.domain["docker"] = {"RootlessDocker": "ENABLED", "VpcOnlyTrustedAccounts": ["111111111111"]}
    text = DOCKER.replace("access = true", 'access = true\ntrusted_accounts = ["222222222222"]')
    result = plan(team(text), inputs(), state)
    assert steps(result) == [("domain settings", "update", "d-000000000001")]
    (change,) = result.changes
    assert change.detail == "docker" and "restart running" in change.reason
    assert change.calls[0].params["DomainSettingsForUpdate"] == {"DockerSettings": {
        "RootlessDocker": "ENABLED", "EnableDockerAccess": "ENABLED",
        "VpcOnlyTrustedAccounts": ["111111111111", "222222222222"]}}  # fmt: skip
    assert plan(team(text), inputs(), Account(state).run(result)).changes == []


def test_without_a_docker_table_the_domains_docker_settings_are_left_alone() -> None:
    state = applied()
    assert state.domain is not None
    state.domain["docker"] = {"EnableDockerAccess": "ENABLED"}
    assert plan(team(), inputs(), state).changes == []
    off = plan(team(DOCKER.replace("access = true", "access = false")), inputs(), state)
    assert "turned off" in off.changes[0].reason


# --- merges ----------------------------------------------------------------------------


def test_domain_defaults_keep_everyone_elses_entries() -> None:
    theirs = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:studio-lifecycle-config/data-eng-setup"
    state = empty()
    state.domain = {"id": "d-000000000009", "name": "ml-team", "arn": "x", "efs": "fs-9",
                    "identity": "USER_PROFILE_NAME", "settings": {
                        "ExecutionRole": "arn:aws:iam::123456789012:role/theirs",
                        "JupyterLabAppSettings": {
                            "CustomImages": [{"ImageName": "data-eng",
                                              "AppImageConfigName": "data-eng"}],
                            "LifecycleConfigArns": [theirs]}}}  # fmt: skip
    result = plan(team(), inputs(), state)
    assert not [c for c in result.changes if c.step == "domain"]  # found, not created
    update = next(c for c in result.changes if c.step == "domain defaults")
    lab = update.calls[0].params["DefaultUserSettings"]["JupyterLabAppSettings"]
    assert [i["ImageName"] for i in lab["CustomImages"]] == ["data-eng", "smstudio-jupyterlab"]
    assert lab["LifecycleConfigArns"][0] == theirs and len(lab["LifecycleConfigArns"]) == 2
    assert update.calls[0].params["DomainId"] == "d-000000000009"


# --- deletions ---------------------------------------------------------------------------


def leaving_bob() -> State:
    """bob as the account has him after an apply, with a space, an app, a git token and
    an SSM registration; then dropped from the team file."""
    state = applied(TEAM)
    state.spaces["bob-space"] = {"owner": "bob", "sharing": "Private"}
    state.apps = [{"SpaceName": "bob-space", "AppType": "JupyterLab", "AppName": "default"}]
    state.secrets["bob"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bob-x"
    state.access_keys["bob"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bob-k"
    state.registrations["bob"] = ["mi-0123456789abcdef0"]
    return state


WITHOUT_BOB = TEAM.split("[[users]]\nname = \"bob\"")[0]


def test_a_user_left_out_is_kept_without_prune_and_the_plan_says_what_prune_deletes() -> None:
    result = plan(team(WITHOUT_BOB), inputs(), leaving_bob())
    assert result.changes == []
    [kept] = result.kept
    assert (kept.step, kept.target, kept.action) == ("user", "bob", "keep")
    for part in ("1 app(s)", "space bob-space", "user profile bob", NAMES.user_role("bob"),
                 NAMES.user_policy("bob"), NAMES.user_access_policy("bob"), "git token bob",
                 "remote-access keys bob", "mi-0123456789abcdef0"):  # fmt: skip
        assert part in kept.detail, part


def test_prune_offboards_a_user_in_order_and_keeps_the_home() -> None:
    state = leaving_bob()
    result = plan(team(WITHOUT_BOB), inputs(), state, Options(prune=True))
    assert steps(result) == [
        ("space", "delete", "bob-space"),
        ("user profile", "delete", "bob"),
        ("iam role", "delete", NAMES.user_role("bob")),
        ("iam user policy", "delete", NAMES.user_access_policy("bob")),
        ("iam user policy", "delete", NAMES.user_policy("bob")),
        ("git token", "delete", "bob"),
        ("remote-access keys", "delete", "bob"),
        ("ssm registration", "delete", "mi-0123456789abcdef0"),
    ]
    role = result.changes[2]
    assert [c.op for c in role.calls] == ["detach_role_policy"] * 2 + ["delete_role"]
    assert [k.step for k in result.kept] == ["home"] and "kept" in result.kept[0].reason
    after = Account(state).run(result)
    assert "bob" not in after.profiles and NAMES.user_role("bob") not in after.roles
    assert "alice" in after.profiles and NAMES.user_role("alice") in after.roles
    assert plan(team(WITHOUT_BOB), inputs(), after, Options(prune=True)).changes == []


def test_a_profile_smstudio_did_not_make_is_never_deleted() -> None:
    state = applied()
    state.profiles["carol"] = {"arn": "x", "tags": {"studiouserid": "carol"}}  # another tool's
    result = plan(team(), inputs(), state, Options(prune=True))
    assert result.changes == [] and result.kept == []


def test_an_existing_principal_loses_the_policy_and_tag_but_is_not_deleted() -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:user/bob.smith"
    state = applied()
    policies = [state.policies[p]["arn"] for p in NAMES.user_policies("bob")]
    del state.roles[NAMES.user_role("bob")]
    state.principals[arn] = {"kind": "user", "name": "bob.smith", "attached": policies,
                             "tags": {"studiouserid": "bob"}}  # fmt: skip
    result = plan(team(WITHOUT_BOB), inputs(), state, Options(prune=True))
    user = next(c for c in result.changes if c.step == "iam user")
    assert [c.op for c in user.calls] == ["detach_user_policy"] * 2 + ["untag_user"]
    assert not [c for c in result.changes if c.step == "iam role"]


def test_an_image_left_out_is_deleted_only_when_smstudio_made_it() -> None:
    state = applied()
    state.images["old"] = {"arn": "x", "tags": MANAGED, "latest": None}
    state.images["data-eng"] = {"arn": "y", "tags": {}, "latest": None}  # another tool's
    assert state.domain is not None
    lab = state.domain["settings"]["JupyterLabAppSettings"]
    lab["CustomImages"] = [{"ImageName": "old", "AppImageConfigName": "old"},
                           *lab["CustomImages"]]  # fmt: skip
    state.app_image_configs["old"] = {"arn": "z", "config": {}}
    kept = plan(team(), inputs(), state)
    assert kept.changes == [] and [(k.step, k.target) for k in kept.kept] == [("image", "old")]
    pruned = plan(team(), inputs(), state, Options(prune=True))
    assert steps(pruned) == [("domain defaults", "update", "ml-team"),
                             ("image", "delete", "old")]  # fmt: skip
    entries = pruned.changes[0].calls[0].params["DefaultUserSettings"]["JupyterLabAppSettings"]
    assert [i["ImageName"] for i in entries["CustomImages"]] == ["smstudio-jupyterlab"]
    assert [c.op for c in pruned.changes[1].calls] == ["delete_app_image_config", "delete_image"]


def test_a_declared_space_is_replaced_when_its_owner_changes() -> None:
    text = TEAM + '\n[[spaces]]\nname = "churn"\nowner = "alice"\nsharing = "Shared"\n'
    state = applied(text)
    state.spaces["churn"]["owner"] = "bob"
    result = plan(team(text), inputs(), state)
    assert steps(result) == [("space", "replace", "churn")] and result.replacing
    assert [c.op for c in result.changes[0].calls] == ["delete_space", "create_space"]


def test_remote_access_follows_the_team_file() -> None:
    text = TEAM + '\n[[spaces]]\nname = "dev"\nowner = "alice"\nsharing = "Private"\n'
    on = text + "remote_access = true\n"
    created = plan(team(on), inputs(), applied())
    create = next(c for c in created.changes if c.target == "dev")
    assert create.calls[0].params["SpaceSettings"]["RemoteAccess"] == "ENABLED"
    state = applied(on)
    assert state.spaces["dev"]["remote_access"] == "ENABLED"
    state.spaces["dev"]["remote_access"] = "DISABLED"  # switched off behind the team's back
    drift = plan(team(on), inputs(), state)
    assert steps(drift) == [("space", "update", "dev")]
    assert drift.changes[0].calls[0].params == {
        "DomainId": "d-000000000001", "SpaceName": "dev", "SpaceSettings": {"RemoteAccess": "ENABLED"}}
    assert "drift: remote access is disabled" in drift.changes[0].reason
    assert plan(team(on), inputs(), Account(state).run(drift)).changes == []
    off = plan(team(text), inputs(), applied(on))
    assert off.changes[0].calls[0].params["SpaceSettings"] == {"RemoteAccess": "DISABLED"}


def test_a_missing_principal_is_bad_input() -> None:
    text = TEAM.replace('email = "bob@example.com"', 'email = "bob@example.com"\n'
                        'iam_principal = "arn:aws:iam::123456789012:user/nobody"')  # fmt: skip
    with pytest.raises(BadInput, match="does not exist"):
        plan(team(text), inputs(), empty())


def test_state_differences_name_the_paths() -> None:
    before = applied().to_json()
    after = copy.deepcopy(before)
    after["profiles"]["alice"]["tags"]["studiouserid"] = "mallory"
    del after["profiles"]["bob"]
    assert differences(before, after) == ["profiles.alice.tags.studiouserid: changed",
                                          "profiles.bob: removed"]  # fmt: skip


KG = TEAM.replace("[lifecycle]", '[images.smstudio-kernelgateway]\ntarget = "kernelgateway"\n'
                  'app_types = ["KernelGateway"]\n\n[lifecycle]')  # fmt: skip


def test_delete_home_empties_it_with_an_app_of_theirs_before_the_profile_goes() -> None:
    state = leaving_bob()
    kg_inputs = inputs()
    kg_inputs.images["smstudio-kernelgateway"] = ImageInput("smstudio/kernelgateway:dev", "sha256:k",
                                                            {})  # fmt: skip
    without = KG.split('[[users]]\nname = "bob"')[0]
    result = plan(team(without), kg_inputs, state, Options(prune=True, delete_home=True))
    order = [(c.step, c.target) for c in result.changes if c.target in ("bob", "bob-space")]
    assert order[:3] == [("space", "bob-space"), ("home", "bob"), ("user profile", "bob")]
    home = next(c for c in result.changes if c.step == "home")
    assert home.calls[0].op == "delete_home"
    assert home.calls[0].params["ImageArn"].endswith(":image/smstudio-kernelgateway")
    profile = next(c for c in result.changes if c.step == "user profile")
    assert [c.op for c in profile.calls] == ["delete_user_profile", "delete_home_config"]
    assert not [k for k in result.kept if k.step == "home"]


def test_delete_home_needs_a_kernelgateway_image() -> None:
    with pytest.raises(BadInput, match="KernelGateway image"):
        plan(team(WITHOUT_BOB), inputs(), leaving_bob(), Options(prune=True, delete_home=True))


CI = """
[ci]
provider = "github"
repository = "acme/studio-images"
"""


def test_the_ci_role_and_its_provider_are_made_once_and_pruned_with_the_ci_table() -> None:
    with_ci = plan(team(TEAM + CI), inputs(), empty())
    made = [s for s in steps(with_ci) if s[2] in ("token.actions.githubusercontent.com",
                                                   NAMES.ci_role)]  # fmt: skip
    assert made == [("oidc provider", "create", "token.actions.githubusercontent.com"),
                    ("iam role", "create", NAMES.ci_role)]  # fmt: skip
    state = Account(empty()).run(with_ci)
    assert plan(team(TEAM + CI), inputs(), state).changes == []
    kept = plan(team(), inputs(), state)
    assert kept.changes == [] and [(k.step, k.target) for k in kept.kept] == [
        ("iam role", NAMES.ci_role)
    ]
    pruned = plan(team(), inputs(), state, Options(prune=True))
    assert steps(pruned) == [("iam role", "delete", NAMES.ci_role)]
    gone = Account(state).run(pruned)
    assert NAMES.ci_role not in gone.roles
    assert plan(team(), inputs(), gone, Options(prune=True)).changes == []


def test_only_images_plans_versions_and_configs_and_nothing_else() -> None:
    state = applied()
    rebuilt = inputs("sha256:" + "2" * 64)
    only = plan(team(), rebuilt, state, Options(only_images=True))
    assert {s[0] for s in steps(only)} == {"image version"}
    one = plan(team(), rebuilt, state, Options(only_images=True, images=["smstudio-jupyterlab"]))
    assert steps(one) == [("image version", "create", "smstudio-jupyterlab")]
    with pytest.raises(BadInput, match="not in the team file"):
        plan(team(), rebuilt, state, Options(only_images=True, images=["nope"]))
    with pytest.raises(BadInput, match="full `smstudio apply`"):
        plan(team(), rebuilt, empty(), Options(only_images=True))
