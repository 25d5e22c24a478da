"""`smstudio ci`: the pipeline files pass their CI systems' schemas (check-jsonschema's
GitHub workflow and GitLab CI schemas; CodeBuild's buildspec keys), `ci init` refuses
what it should, the CI event is read from each system's variables, the bake definition,
and the CI role's trust: only a push to the team's branch of its repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from smstudio.core import config, project
from smstudio.core.errors import BadInput
from smstudio.images import kernels
from smstudio.local.gateway import evaluator, webidentity
from smstudio.register import iam
from smstudio.teamops import ci, pipelines

ACCOUNT = "111122223333"
TEAM = """
[domain]
name = "ml-team"
[images.team-lab]
target = "teamlab"
app_types = ["JupyterLab"]
[ci]
provider = "{provider}"
repository = "{repository}"
branch = "main"
"""
REPOSITORIES = {"github": "acme/studio-images", "gitlab": "acme/ml/studio-images",
                "codebuild": "studio-images"}  # fmt: skip
SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


def init(repo: Path, provider: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smstudio.cli", "ci", "init", str(repo), f"--{provider}",
         "--account", ACCOUNT, *extra],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def team_repo(tmp_path: Path, provider: str) -> Path:
    repo = tmp_path / "images-repo"
    repo.mkdir()
    text = TEAM.format(provider=provider, repository=REPOSITORIES[provider])
    (repo / "smstudio.toml").write_text(text)
    return repo


@pytest.mark.parametrize("provider", ["github", "gitlab", "codebuild"])
def test_ci_init_writes_a_pipeline_its_system_accepts(provider: str, tmp_path: Path) -> None:
    repo = team_repo(tmp_path, provider)
    done = init(repo, provider)
    assert done.returncode == 0, done.stderr
    written = repo / pipelines.FILES[provider]
    text = written.read_text()
    role = f"arn:aws:iam::{ACCOUNT}:role/smstudio-ml-team-ci"
    assert "smstudio ci run --team smstudio.toml" in text
    if provider == "codebuild":
        assert pipelines.buildspec_problems(yaml.safe_load(text)) == []
    else:
        assert role in text
        checked = subprocess.run(
            [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
             SCHEMAS[provider], str(written)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
    shell = tmp_path / "steps.sh"
    shell.write_text("#!/bin/sh\n" + "\n".join(_shell_steps(provider, yaml.safe_load(text))) + "\n")
    linted = subprocess.run([str(Path(sys.executable).parent / "shellcheck"), str(shell)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert linted.returncode == 0, linted.stdout
    again = init(repo, provider)
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr
    assert init(repo, provider, "--force").returncode == 0


def _shell_steps(provider: str, data: dict[str, Any]) -> list[str]:
    """The shell the pipeline runs (GitHub expressions never appear in run: steps)."""
    if provider == "github":
        return [s["run"] for s in data["jobs"]["images"]["steps"] if "run" in s]
    if provider == "gitlab":
        job = data["smstudio-images"]
        return [*job["before_script"], *job["script"]]
    return [c for phase in data["phases"].values() for c in phase.get("commands", [])]


def test_the_schema_checks_can_fail(tmp_path: Path) -> None:
    """The same checks refuse a broken file, so a pass above means something."""
    broken = tmp_path / "workflow.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    checked = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
         SCHEMAS["github"], str(broken)], capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert checked.returncode == 1
    assert pipelines.buildspec_problems({"version": 0.1, "phases": {"compile": {}}}) == [
        "version must be 0.2, not 0.1",
        "phases: unknown phase 'compile'",
    ]
    assert pipelines.buildspec_problems(
        {"version": 0.2, "phases": {"build": {"commandz": []}}, "reports": {"r": {"files": []}}}
    ) == ["phases.build: unknown key 'commandz'", "reports.r: files are needed"]


def test_ci_init_refuses_a_team_without_that_system(tmp_path: Path) -> None:
    repo = team_repo(tmp_path, "github")
    done = init(repo, "gitlab")
    assert done.returncode == 2
    assert "provider = 'github'" in done.stderr and 'provider = "gitlab"' in done.stderr
    both = subprocess.run([sys.executable, "-m", "smstudio.cli", "ci", "init", str(repo),
                           "--github", "--gitlab"], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert both.returncode == 2 and "name one CI system" in both.stderr


@pytest.mark.parametrize(
    ("env", "system", "pull_request"),
    [
        ({"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push"}, "github", False),
        ({"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request"}, "github", True),
        ({"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "push"}, "gitlab", False),
        ({"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event"}, "gitlab", True),
        ({"CODEBUILD_BUILD_ID": "p:1", "CODEBUILD_WEBHOOK_EVENT": "PUSH"}, "codebuild", False),
        ({"CODEBUILD_BUILD_ID": "p:1", "CODEBUILD_WEBHOOK_EVENT": "PULL_REQUEST_UPDATED"},
         "codebuild", True),
        ({}, "local", False),
    ],
)  # fmt: skip
def test_the_event_comes_from_the_ci_systems_variables(
    env: dict[str, str], system: str, pull_request: bool
) -> None:
    assert ci.detect_event(env) == ci.Event(system, pull_request)


def test_the_bake_definition(tmp_path: Path) -> None:
    team = config.parse(TEAM.format(provider="github", repository="a/b"), "t")
    images = dict(team.images)
    definition = ci.bake_definition(images, tmp_path, "abc", {"teamlab": "reg/smstudio/teamlab:c"},
                                    "smstudio/jupyterlab:1", None, "f00")  # fmt: skip
    target = definition["target"]["teamlab"]
    assert definition["group"]["default"]["targets"] == ["teamlab"]
    assert target["tags"] == ["smstudio/teamlab:abc"]
    assert target["cache-from"] == ["type=registry,ref=reg/smstudio/teamlab:c"]
    assert target["cache-to"] == ["type=inline"]
    assert target["args"] == {"BASE_IMAGE": "smstudio/jupyterlab:1"}
    assert target["labels"]["io.smstudio.app-types"] == "JupyterLab"
    bare = ci.bake_definition(images, tmp_path, "abc", {}, None, None, None)["target"]["teamlab"]
    assert "cache-from" not in bare and "args" not in bare


def test_the_ci_runs_only_images_it_has_folders_for(tmp_path: Path) -> None:
    team = config.parse(TEAM.format(provider="github", repository="a/b"), "t")
    with pytest.raises(Exception, match=r"images/teamlab/Dockerfile"):
        ci.buildable(team, tmp_path)
    (tmp_path / "images" / "teamlab").mkdir(parents=True)
    (tmp_path / "images" / "teamlab" / "Dockerfile").write_text("FROM x\n")
    assert list(ci.buildable(team, tmp_path)) == ["team-lab"]


def _trusts(trust: iam.Policy, who: evaluator.Principal, action: str, context: dict[str, str]) -> bool:
    outcome = evaluator.principal_allowed(trust, who, evaluator.Request(action, "role", context))
    return outcome is not None and outcome.allowed


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_the_ci_role_trusts_a_push_to_the_teams_branch_only(provider: str) -> None:
    repository = REPOSITORIES[provider]
    trust = iam.ci_trust_policy(ACCOUNT, "us-east-1", provider, repository, "main", "gitlab.com")
    issuer, audience = ("token.actions.githubusercontent.com", "sts.amazonaws.com") if (
        provider == "github") else ("gitlab.com", "https://gitlab.com")  # fmt: skip
    provider_arn = iam.oidc_provider_arn(ACCOUNT, issuer)
    who = evaluator.Principal(provider_arn, ACCOUNT, federated=provider_arn)

    def job(subject: str, aud: str = audience) -> dict[str, str]:
        return {f"{issuer}:sub": subject, f"{issuer}:aud": aud}

    action = "sts:AssumeRoleWithWebIdentity"
    main = webidentity.job_subject(provider, repository, "main", False)
    assert _trusts(trust, who, action, job(main))
    assert not _trusts(trust, who, action, job(main, "someone-else"))
    assert not _trusts(trust, who, action, job(webidentity.job_subject(provider, repository,
                                                                       "feature", False)))  # fmt: skip
    assert not _trusts(trust, who, action, job(webidentity.job_subject(provider, "acme/other",
                                                                       "main", False)))  # fmt: skip
    if provider == "github":
        assert not _trusts(trust, who, action, job(f"repo:{repository}:pull_request"))
    other = evaluator.Principal(iam.oidc_provider_arn(ACCOUNT, "evil.example.com"), ACCOUNT,
                                federated=iam.oidc_provider_arn(ACCOUNT, "evil.example.com"))  # fmt: skip
    assert not _trusts(trust, other, action, job(main))


def test_codebuild_assumes_the_role_for_its_project_only() -> None:
    trust = iam.ci_trust_policy(ACCOUNT, "us-east-1", "codebuild", "studio-images", "main", "")
    codebuild = evaluator.Principal("codebuild", ACCOUNT, service="codebuild.amazonaws.com")
    project = f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/"
    context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": project + "studio-images"}
    assert _trusts(trust, codebuild, "sts:AssumeRole", context)
    assert not _trusts(trust, codebuild, "sts:AssumeRole", {**context,
                                                            "aws:SourceArn": project + "other"})  # fmt: skip
    assert not _trusts(trust, codebuild, "sts:AssumeRole", {**context, "aws:SourceAccount": "999999999999"})


KG_TEAM = """
[domain]
name = "ml-team"
[images.team-kg]
target = "teamkg"
app_types = ["KernelGateway"]
kernels = [{ name = "team-py", display_name = "Team Python" }, { name = "ir", display_name = "R" }]
[images.plain-kg]
target = "plainkg"
app_types = ["KernelGateway"]
"""


def test_a_team_kernel_gateway_image_declares_its_own_kernels() -> None:
    team = config.parse(KG_TEAM, "t")
    own = kernels.for_image(team.images["team-kg"])
    assert [(k.name, k.display_name) for k in own] == [("team-py", "Team Python"), ("ir", "R")]
    assert ci.check_options(team, team.images["team-kg"]).kernels == ("team-py", "ir")
    ours = kernels.declared_kernelspecs(project.project_root())
    assert kernels.for_image(team.images["plain-kg"]) == ours
    with pytest.raises(BadInput, match="kernels are for KernelGateway images"):
        config.parse(KG_TEAM.replace('app_types = ["KernelGateway"]\nkernels',
                                     'app_types = ["JupyterLab"]\nkernels'), "t")  # fmt: skip
    six = ", ".join(f'{{ name = "k{n}", display_name = "K" }}' for n in range(6))
    too_many = f'[domain]\nname = "t"\n[images.kg]\ntarget = "kg"\napp_types = ["KernelGateway"]\nkernels = [{six}]\n'
    with pytest.raises(BadInput, match=r"images\.kg\.kernels: List should have at most 5 items"):
        config.parse(too_many, "t")


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
         "no AWS credentials found"),
        ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x",
          "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "SMSTUDIO_AWS_MAX_ATTEMPTS": "1"},
         "the local Studio is not running"),
        ({"AWS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/smstudio-ml-team-ci",
          "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token"},
         "the web identity token file /nonexistent/token does not exist"),
    ],
)  # fmt: skip
def test_ci_run_fails_in_words_before_it_builds(
    env: dict[str, str], said: str, tmp_path: Path
) -> None:
    """A push run signs in first (its registry cache): a bad environment ends there, with
    the problem and its fix, never a traceback, and nothing built."""
    repo = team_repo(tmp_path, "github")
    (repo / "images" / "teamlab").mkdir(parents=True)
    (repo / "images" / "teamlab" / "Dockerfile").write_text("FROM scratch\n")
    done = subprocess.run(
        [sys.executable, "-m", "smstudio.cli", "ci", "run", "--push", "--repo", str(repo)],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_DEFAULT_REGION": "us-east-1",
             **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"error: {said}" in done.stderr and "fix:" in done.stderr
    assert "Traceback" not in done.stderr and not (repo / "reports" / "build.log").exists()


def test_ci_init_and_ci_token_fail_in_words_without_what_they_need(tmp_path: Path) -> None:
    repo = team_repo(tmp_path, "github")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "SMSTUDIO_STATE_DIR": str(tmp_path / "s")}
    for args, said in ((["ci", "init", str(repo), "--github"], "no AWS credentials found"),
                       (["local", "ci-token", "github", "acme/x"], "has no admin key yet")):
        done = subprocess.run([sys.executable, "-m", "smstudio.cli", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1 and said in done.stderr and "fix:" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "s" / "local").exists()  # no key made for a Studio that is not there
