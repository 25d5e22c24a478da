"""`apply` against the local Studio: everything in order, idempotent, merges, failures."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from rich.console import Console

from smstudio.core import aws, config, dockerhost
from smstudio.core.errors import SmstudioError
from smstudio.images import push
from smstudio.local import stack
from smstudio.register import apply, iam
from smstudio.register import state as account
from smstudio.register.plan import Change
from tests.emulator.conftest import TEAM, write_team


@pytest.fixture
def studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[aws.Aws]:
    """The local Studio, with the admin's environment (apply runs as the admin)."""
    ports = stack.Ports.at(stack.free_port_base())
    layout = stack.Layout(tmp_path / "local")
    try:
        stack.up(layout, ports)
        for key, value in stack.env_exports(ports, stack.admin_keys(layout)).items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        yield aws.Aws(max_attempts=2)
    finally:
        stack.down(layout)


def applied(tmp_path: Path, clients: aws.Aws, tag: str) -> list[Change]:
    """apply --yes: the plan made and carried out, as the admin."""
    team, base = config.load(write_team(tmp_path))
    return apply.run(team, base, clients, Console(stderr=True), tag=tag, version_timeout=60)


def someone_elses_domain(sm: Any) -> tuple[str, str]:
    theirs = sm.create_studio_lifecycle_config(
        StudioLifecycleConfigName="data-eng-setup", StudioLifecycleConfigContent="ZWNobyBoaQo=",
        StudioLifecycleConfigAppType="JupyterLab")["StudioLifecycleConfigArn"]  # fmt: skip
    domain_id = sm.create_domain(DomainName="ml-team", AuthMode="IAM", DefaultUserSettings={
        "ExecutionRole": "arn:aws:iam::123456789012:role/theirs",
        "JupyterLabAppSettings": {"CustomImages": [{"ImageName": "data-eng", "AppImageConfigName": "data-eng"}],
                                  "LifecycleConfigArns": [theirs]}})["DomainId"]  # fmt: skip
    return domain_id, theirs


def test_apply_creates_everything_then_changes_nothing(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    sm: Any = studio.client("sagemaker")
    domain_id, theirs = someone_elses_domain(sm)
    tag = built_images["base"].rsplit(":", 1)[1]
    first = applied(tmp_path, studio, tag)
    steps = [c.step for c in first]
    order = ["iam role", "image", "image version", "app image config", "lifecycle config",
             "iam role policy", "domain defaults", "iam user policy", "user profile"]  # fmt: skip
    assert [s for s in dict.fromkeys(steps) if s in order] == [s for s in order if s in steps]
    assert steps.count("image version") == 2 and steps.count("user profile") == 2

    settings = sm.describe_domain(DomainId=domain_id)["DefaultUserSettings"]
    lab = settings["JupyterLabAppSettings"]
    assert [i["ImageName"] for i in lab["CustomImages"]] == ["data-eng", "smstudio-jupyterlab"]
    assert lab["LifecycleConfigArns"][0] == theirs and len(lab["LifecycleConfigArns"]) == 2
    assert lab["DefaultResourceSpec"]["LifecycleConfigArn"] == lab["LifecycleConfigArns"][1]
    described = sm.describe_domain(DomainId=domain_id)["DomainSettings"]
    assert described["ExecutionRoleIdentityConfig"] == "USER_PROFILE_NAME"
    idle = lab["AppLifecycleManagement"]["IdleSettings"]
    assert idle == {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 60}
    kg_lcc = settings["KernelGatewayAppSettings"]["DefaultResourceSpec"]["LifecycleConfigArn"]
    content = sm.describe_studio_lifecycle_config(
        StudioLifecycleConfigName=kg_lcc.rsplit("/", 1)[1]
    )["StudioLifecycleConfigContent"]
    script = base64.b64decode(content).decode()
    assert "SMSTUDIO_IDLE_MINUTES=60" in script and "SMSTUDIO_PAYLOAD_END" in script
    assert (
        settings["KernelGatewayAppSettings"]["CustomImages"][0]["ImageName"]
        == "smstudio-kernelgateway"
    )
    kg = sm.describe_app_image_config(AppImageConfigName="smstudio-kernelgateway")[
        "KernelGatewayImageConfig"
    ]
    assert kg["KernelSpecs"][0]["Name"] == "python3"
    profile = sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")[
        "UserProfileArn"
    ]
    tags = sm.list_tags(ResourceArn=profile)["Tags"]
    assert {"Key": "studiouserid", "Value": "alice"} in tags
    assert {"Key": "smstudio:git-email", "Value": "alice@example.com"} in tags
    assert {"Key": "smstudio:git-name", "Value": "alice"} in tags
    assert (
        sm.describe_image_version(ImageName="smstudio-jupyterlab")["ImageVersionStatus"]
        == "CREATED"
    )

    # the role apps' SSM managed instances get: trusted by SSM, the agent's channels only
    iam_client = studio.client("iam")
    names = iam.Names("ml-team")
    role = iam_client.get_role(RoleName=names.ssm_instance_role)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "ssm.amazonaws.com"}
    policy = iam_client.get_role_policy(
        RoleName=names.ssm_instance_role, PolicyName=names.ssm_instance_role
    )["PolicyDocument"]
    assert (json.loads(unquote(policy)) if isinstance(policy, str) else policy) == (
        iam.ssm_instance_policy()
    )

    mutations = apply.count_mutations(studio)
    second = applied(tmp_path, studio, tag)
    assert second == [] and mutations == []


def test_failed_image_version_stops_before_the_domain(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sm: Any = studio.client("sagemaker")
    domain_id, _ = someone_elses_domain(sm)
    before = sm.describe_domain(DomainId=domain_id)["DefaultUserSettings"]
    # The version's BaseImage names a tag that was never pushed.
    real_push = push.push

    def push_elsewhere(*args: Any, **kwargs: Any) -> push.Pushed:
        pushed = real_push(*args, **kwargs)
        return push.Pushed(pushed.uri.rsplit(":", 1)[0] + ":never-pushed", pushed.digest)

    monkeypatch.setattr(push, "push", push_elsewhere)
    with pytest.raises(SmstudioError) as info:
        applied(tmp_path, studio, built_images["base"].rsplit(":", 1)[1])
    assert "CREATE_FAILED" in info.value.problem and "does not exist" in info.value.problem
    assert "domain was not changed" in info.value.fix
    assert sm.describe_domain(DomainId=domain_id)["DefaultUserSettings"] == before


def test_cli_plan_apply_and_second_apply(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    team_file = write_team(tmp_path)
    tag = built_images["base"].rsplit(":", 1)[1]

    def smstudio(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smstudio.cli", *args, "--team", str(team_file), "--tag", tag]
        return subprocess.run(
            cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
        )

    planned = smstudio("plan")
    assert planned.returncode == 0, planned.stderr
    assert "would create" in planned.stderr and "change(s) planned" in planned.stdout
    assert studio.client("sagemaker").list_domains()["Domains"] == []  # plan changed nothing
    refused = smstudio("apply")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    applied = smstudio("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "applied" in applied.stdout
    again = smstudio("apply", "--yes")
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stderr


def test_a_rebuilt_image_gets_exactly_one_new_version(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    tag = built_images["base"].rsplit(":", 1)[1]
    applied(tmp_path, studio, tag)
    # "Rebuild": jupyterlab changes (a new layer), kernelgateway is the same image.
    engine = dockerhost.client()
    changed = subprocess.run(
        ["docker", "buildx", "build", "--load", "-q", "-t", "smstudio/jupyterlab:rebuilt", "-"],
        input=f"FROM {built_images['jupyterlab']}\nRUN echo rebuilt > /tmp/rebuilt\n",
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    engine.images.get(built_images["kernelgateway"]).tag("smstudio/kernelgateway", "rebuilt")
    try:
        mutations = apply.count_mutations(studio)
        changes = applied(tmp_path, studio, "rebuilt")
    finally:
        for ref in ("smstudio/jupyterlab:rebuilt", "smstudio/kernelgateway:rebuilt"):
            engine.images.remove(ref, force=True)
    assert [(c.step, c.target) for c in changes] == [("image version", "smstudio-jupyterlab")]
    assert [m for m in mutations if m.startswith("sagemaker:")] == ["sagemaker:CreateImageVersion"]
    sm: Any = studio.client("sagemaker")
    assert sm.describe_image_version(ImageName="smstudio-jupyterlab")["Version"] == 2
    assert sm.describe_image_version(ImageName="smstudio-kernelgateway")["Version"] == 1


def test_users_get_identities_and_roles_are_scoped_to_the_domain(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    """Each user gets a role of their own tagged studiouserid with their policy attached;
    the execution role's policy names the domain once its id is known; the team file's
    existing IAM principal gets the policy and the tag instead of a role."""
    iam_client = studio.client("iam")
    iam_client.create_user(UserName="bob.smith")
    text = TEAM.replace('name = "bob"\nemail = "bob@example.com"',
                        'name = "bob"\nemail = "bob@example.com"\n'
                        'iam_principal = "arn:aws:iam::123456789012:user/bob.smith"')  # fmt: skip
    team, base = config.load(write_team(tmp_path, text))
    tag = built_images["base"].rsplit(":", 1)[1]
    apply.run(team, base, studio, Console(stderr=True), tag=tag)
    names = iam.Names("ml-team")
    domain_id = studio.client("sagemaker").list_domains()["Domains"][0]["DomainId"]
    role = iam_client.get_role(RoleName=names.user_role("alice"))["Role"]
    assert {"Key": "studiouserid", "Value": "alice"} in role["Tags"]
    assert role["MaxSessionDuration"] == 12 * 3600
    attached = iam_client.list_attached_role_policies(RoleName=names.user_role("alice"))
    assert sorted(p["PolicyName"] for p in attached["AttachedPolicies"]) == sorted(names.user_policies("alice"))
    bob = iam_client.list_attached_user_policies(UserName="bob.smith")["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in bob) == sorted(names.user_policies("bob"))
    assert {"Key": "studiouserid", "Value": "bob"} in iam_client.list_user_tags(UserName="bob.smith")["Tags"]
    with pytest.raises(iam_client.exceptions.NoSuchEntityException):
        iam_client.get_role(RoleName=names.user_role("bob"))
    policy = iam_client.get_role_policy(RoleName=names.execution_role,
                                        PolicyName=names.execution_role)["PolicyDocument"]  # fmt: skip
    text = json.dumps(policy if isinstance(policy, dict) else json.loads(unquote(policy)))
    assert f"app/{domain_id}/" in text and "app/*/" not in text


TEAM_B = TEAM.replace('name = "ml-team"', 'name = "data-team"')


def test_two_teams_share_an_account_and_apply_alternately(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    """Two team files with the same user names, applied one after the other, again and
    again: IAM names carry each team's namespace, so after the first round neither apply
    changes anything."""
    tag = built_images["base"].rsplit(":", 1)[1]
    teams = [config.load(write_team(tmp_path, text, f"{n}.toml")) for n, text in
             (("a", TEAM), ("b", TEAM_B))]  # fmt: skip

    def run(team: config.Team, base: Path) -> list[str]:
        mutations = apply.count_mutations(studio)
        apply.run(team, base, studio, Console(stderr=True), tag=tag)
        return list(mutations)

    for team, base in teams:
        assert run(team, base)  # the first round makes each team
    for _ in range(2):
        for team, base in teams:
            assert run(team, base) == [], team.domain.name
    iam_client = studio.client("iam")
    domains = {d["DomainName"]: d["DomainId"] for d in
               studio.client("sagemaker").list_domains()["Domains"]}  # fmt: skip
    for name in ("ml-team", "data-team"):
        names = iam.Names(name)
        arn = f"arn:aws:iam::123456789012:policy/{names.user_policy('alice')}"
        version = iam_client.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam_client.get_policy_version(PolicyArn=arn, VersionId=version)
        text = json.dumps(document["PolicyVersion"]["Document"])
        other = domains["data-team" if name == "ml-team" else "ml-team"]
        assert domains[name] in unquote(text) and other not in unquote(text)


SPACES = TEAM + """
[[spaces]]
name = "churn"
owner = "alice"
sharing = "Shared"
"""


def test_declared_spaces_and_their_replacement(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    """apply creates the team file's spaces; a new owner or sharing type is a
    replacement (SageMaker cannot change either), planned as such and done only when
    asked for, because the space's home goes with it."""
    tag = built_images["base"].rsplit(":", 1)[1]
    team, base = config.load(write_team(tmp_path, SPACES))
    apply.run(team, base, studio, Console(stderr=True), tag=tag)
    sm: Any = studio.client("sagemaker")
    domain_id = sm.list_domains()["Domains"][0]["DomainId"]
    space = sm.describe_space(DomainId=domain_id, SpaceName="churn")
    assert space["OwnershipSettings"] == {"OwnerUserProfileName": "alice"}
    assert space["SpaceSharingSettings"] == {"SharingType": "Shared"}
    changed = write_team(tmp_path, SPACES.replace('sharing = "Shared"', 'sharing = "Private"'),
                         "changed.toml")  # fmt: skip
    team, base = config.load(changed)
    plan = apply.make(team, base, studio, tag).plan.changes
    assert [(c.step, c.target, c.action) for c in plan if c.step != "image version"] == [
        ("space", "churn", "replace")
    ]
    command = [sys.executable, "-m", "smstudio.cli", "apply", "--team", str(changed), "--tag", tag, "--yes"]
    refused = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    assert refused.returncode == 2 and "would be replaced, deleting their homes: churn" in refused.stderr
    assert "--replace-spaces" in refused.stderr
    done = subprocess.run([*command, "--replace-spaces"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    space = sm.describe_space(DomainId=domain_id, SpaceName="churn")
    assert space["SpaceSharingSettings"] == {"SharingType": "Private"}


def smstudio_cli(
    team_file: Path, tag: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`smstudio ARGS` as the admin (the test's environment), started, not awaited."""
    command = [sys.executable, "-m", "smstudio.cli", *args]
    if not (args and args[0] == "apply" and len(args) > 1 and not args[1].startswith("-")):
        command += ["--team", str(team_file), "--tag", tag]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})  # fmt: skip


def finished(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_a_plan_file_runs_exactly_its_changes_and_a_stale_one_is_refused(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    team_file = write_team(tmp_path)
    tag = built_images["base"].rsplit(":", 1)[1]
    plan_file = tmp_path / "plan.json"
    code, out, err = finished(smstudio_cli(team_file, tag, "plan", "-o", str(plan_file)))
    assert code == 0 and "change(s) planned" in out, err
    written = json.loads(plan_file.read_text())
    planned_calls = [f"{c['service']}:{c['op']}" for ch in written["changes"] for c in ch["calls"]]
    mutations = apply.count_mutations(studio)  # (this process's clients: none yet)
    code, out, err = finished(smstudio_cli(team_file, tag, "apply", str(plan_file)))
    assert code == 0 and f"applied {len(written['changes'])} change(s)" in out, err
    assert mutations == []
    # the plan's changes ran, each one, in its order (the apply names each as it starts)
    ran = [line.rstrip() for line in err.split("applying:", 1)[1].splitlines()
           if line.startswith("  ")]  # fmt: skip
    assert ran == [f"  {c['step']:<18} {c['action']:<22} {c['target']}".rstrip()
                   for c in written["changes"]]  # fmt: skip
    assert len(planned_calls) >= len(written["changes"])
    again = tmp_path / "again.json"
    code, out, err = finished(smstudio_cli(team_file, tag, "plan", "-o", str(again)))
    assert code == 0 and "nothing to change" in out, err
    # someone changes the account after the plan was made: that plan is refused
    sm: Any = studio.client("sagemaker")
    domain_id = sm.list_domains()["Domains"][0]["DomainId"]
    arn = sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")["UserProfileArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "studiouserid", "Value": "mallory"}])
    code, out, err = finished(smstudio_cli(team_file, tag, "apply", str(again)))
    assert code == 1 and "the account changed since" in err and "nothing was applied" in err
    assert "profiles.alice.tags.studiouserid: changed" in err and "Traceback" not in err
    assert "smstudio plan -o" in err
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags["studiouserid"] == "mallory"  # refused: nothing applied
    # a file that is not a plan is bad input
    (tmp_path / "junk.json").write_text("{}")
    code, _, err = finished(smstudio_cli(team_file, tag, "apply", str(tmp_path / "junk.json")))
    assert code == 2 and "not a plan file" in err


def test_two_applies_at_once_give_the_result_of_one(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    team_file = write_team(tmp_path)
    tag = built_images["base"].rsplit(":", 1)[1]
    both = [smstudio_cli(team_file, tag, "apply", "--yes") for _ in range(2)]
    results = [finished(p) for p in both]
    assert [r[0] for r in results] == [0, 0], [r[2] for r in results]
    outs = sorted(r[1].strip().splitlines()[-1] for r in results)
    assert outs[0].startswith("applied ") and outs[1] == "nothing to change", outs
    waited = [r[2] for r in results if "waiting for the apply lock held by" in r[2]]
    assert len(waited) == 1, [r[2][-400:] for r in results]
    sm: Any = studio.client("sagemaker")
    assert [d["DomainName"] for d in sm.list_domains()["Domains"]] == ["ml-team"]
    for image in ("smstudio-jupyterlab", "smstudio-kernelgateway"):
        assert len(sm.list_image_versions(ImageName=image)["ImageVersions"]) == 1
    with pytest.raises(studio.client("ssm").exceptions.ParameterNotFound):
        studio.client("ssm").get_parameter(Name="/smstudio/ml-team/apply-lock")


KILL = "SMSTUDIO_TEST_KILL_AFTER_CALLS"


def comparable(state: dict[str, Any], namespace: str, domain_id: str) -> dict[str, Any]:
    """A team's part of the account with its names and ids made neutral."""
    text = json.dumps({k: state[k] for k in ("roles", "policies", "profiles", "spaces")})
    text = text.replace(namespace, "TEAM").replace(domain_id, "DOMAIN")
    settings = json.dumps(state["domain"]["settings"]).replace(namespace, "TEAM")
    # lifecycle configs are named by their content, which carries the team's settings
    settings = re.sub(r"(smstudio-[a-z]+)-[0-9a-f]{12}", r"\1", settings)
    return {**json.loads(text), "settings": json.loads(settings.replace(domain_id, "DOMAIN"))}


def test_killed_at_every_step_and_run_again_it_ends_as_one_clean_apply(
    tmp_path: Path, studio: aws.Aws, built_images: dict[str, str]
) -> None:
    """kill -9 right after each call that changes something, run again, until an apply
    finishes: one domain, one version per image, nothing left to change, and the same
    account as a clean apply of a twin team."""
    team_file = write_team(tmp_path)
    tag = built_images["base"].rsplit(":", 1)[1]
    runs = 0
    while True:
        runs += 1
        assert runs <= 80, "apply does not converge"
        code, out, err = finished(
            smstudio_cli(team_file, tag, "apply", "--yes", env={KILL: "1"})
        )
        if code == 0:
            break
        assert code == -9, err  # killed, never failed
    assert runs > 20 and "nothing to change" in out, (runs, out)
    sm: Any = studio.client("sagemaker")
    assert [d["DomainName"] for d in sm.list_domains()["Domains"]] == ["ml-team"]
    for image in ("smstudio-jupyterlab", "smstudio-kernelgateway"):
        assert len(sm.list_image_versions(ImageName=image)["ImageVersions"]) == 1
    twin_file = write_team(tmp_path, TEAM_B, "twin.toml")
    code, out, err = finished(smstudio_cli(twin_file, tag, "apply", "--yes"))
    assert code == 0, err
    killed = account.read(config.load(team_file)[0], studio).to_json()
    clean = account.read(config.load(twin_file)[0], studio).to_json()
    assert comparable(killed, "ml-team", killed["domain"]["id"]) == comparable(
        clean, "data-team", clean["domain"]["id"]
    )
