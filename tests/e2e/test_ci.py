"""`smstudio ci run` against the local Studio, end to end, as each principal: a sample
image repository (a Dockerfile FROM our image, and a team test) is built, checked and
tested on a pull request without AWS credentials and without pushing; the admin's apply
makes the CI role and the image; then, as the CI role (assumed with a GitHub OIDC token
for the team's branch, as a workflow does), a one-line change is built, checked, tested,
pushed and registered as version 2; a broken image stops at check. The role's trust and
policy hold: no role for a pull request's token or another repository's, no push to
another repository, no version of another team's image."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from smstudio.core import facts
from smstudio.local import stack
from smstudio.local.gateway import webidentity
from smstudio.register import iam
from tests.conftest import TAG
from tests.e2e.conftest import Studio, local_studio

LIMIT = 120
REPOSITORY = "acme/studio-images"
BASE_TEAM = """
[domain]
name = "ci-team"
region = "us-east-1"
[defaults]
instance_type = "ml.t3.medium"
allowed_instance_types = ["ml.t3.medium"]
[[users]]
name = "alice"
email = "alice@example.com"
"""
TEAM = BASE_TEAM + f"""
[images.team-lab]
target = "teamlab"
app_types = ["JupyterLab"]
[ci]
provider = "github"
repository = "{REPOSITORY}"
branch = "main"
"""
DOCKERFILE = """ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
USER root
RUN echo "{version}" > /opt/team-version{extra}
USER 1000:100
"""
TEAM_TEST = """def test_the_team_version_is_there(host):
    assert host.file("/opt/team-version").content_string.strip() in ("1", "2")
"""
BROKEN = " && touch /opt/stray && chown 70000:70000 /opt/stray"
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def sample(repo: Path, version: int, extra: str = "") -> None:
    (repo / "images" / "teamlab").mkdir(parents=True, exist_ok=True)
    (repo / "images" / "teamlab" / "Dockerfile").write_text(
        DOCKERFILE.format(version=version, extra=extra)
    )


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, built_images: dict[str, str]) -> Iterator[Studio]:
    root = tmp_path_factory.mktemp("ci")
    team = root / "base-team.toml"
    team.write_text(BASE_TEAM)
    with local_studio(root, team, built_images, LIMIT) as running:
        yield running


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images-repo")
    (folder / "smstudio.toml").write_text(TEAM)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_team.py").write_text(TEAM_TEST)
    sample(folder, 1)
    return folder


def ci_run(studio: Studio, repo: Path, *args: str, env: dict[str, str] | None = None,
           drop: tuple[str, ...] = ()) -> Any:  # fmt: skip
    return studio.cli(None, "ci", "run", "--repo", str(repo), "--team", "smstudio.toml",
                      "--base-image", f"smstudio/jupyterlab:{TAG}", *args, env=env, drop=drop, timeout=1200)  # fmt: skip


def ci_role_env(studio: Studio, tmp: Path, subject_branch: str = "main", pr: bool = False,
                repository: str = REPOSITORY) -> dict[str, str]:  # fmt: skip
    """What a GitHub workflow's job has: its OIDC token in a file and the role to assume
    (configure-aws-credentials does the same call boto3 does here)."""
    token = tmp / f"token-{time.monotonic_ns()}"
    subject = webidentity.job_subject("github", repository, subject_branch, pr)
    issuer, audience = facts.ci_issuer("github")
    token.write_text(webidentity.mint(studio["layout"].root, issuer, subject, audience))
    account = studio["clients"].client("sts").get_caller_identity()["Account"]
    role = f"arn:aws:iam::{account}:role/{iam.Names('ci-team').ci_role}"
    return {"AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
            "AWS_ROLE_SESSION_NAME": "github-actions"}  # fmt: skip


def assume(studio: Studio, env: dict[str, str]) -> dict[str, Any]:
    sts = boto3.client("sts", endpoint_url=stack.endpoints(studio["ports"])["aws"],
                       region_name=stack.REGION)  # fmt: skip
    return dict(sts.assume_role_with_web_identity(
        RoleArn=env["AWS_ROLE_ARN"], RoleSessionName="probe",
        WebIdentityToken=Path(env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text(),
    ))  # fmt: skip


def test_a_pull_request_builds_checks_and_tests_without_pushing(studio: Studio, repo: Path) -> None:
    done = ci_run(studio, repo, "--pull-request", "--tag", "v1", drop=CREDENTIALS)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "stopped: a pull request: built, checked and tested; nothing pushed" in done.stdout
    assert "smstudio/teamlab:v1 meets the Studio contract" in done.stderr
    assert "test_team.py::test_the_team_version_is_there PASSED" in done.stdout + done.stderr
    assert (repo / "reports" / "junit-team-lab.xml").is_file()
    ecr = studio["clients"].client("ecr")
    with pytest.raises(ClientError, match="RepositoryNotFound"):
        ecr.describe_repositories(repositoryNames=["smstudio/ci-team/teamlab"])


def test_the_admins_apply_makes_the_ci_role_and_the_image(studio: Studio, repo: Path) -> None:
    done = studio.cli(None, "apply", "--yes", "--tag", "v1", "--team", str(repo / "smstudio.toml"))
    assert done.returncode == 0, done.stderr[-4000:]
    assert "oidc provider" in done.stderr and "smstudio-ci-team-ci" in done.stderr
    assert studio["sm"].describe_image_version(ImageName="team-lab")["Version"] == 1


def test_only_the_teams_branch_may_assume_the_ci_role(studio: Studio, tmp_path: Path) -> None:
    assert assume(studio, ci_role_env(studio, tmp_path))["SubjectFromWebIdentityToken"] == (
        f"repo:{REPOSITORY}:ref:refs/heads/main"
    )
    for env in (ci_role_env(studio, tmp_path, pr=True),
                ci_role_env(studio, tmp_path, subject_branch="feature"),
                ci_role_env(studio, tmp_path, repository="acme/other")):  # fmt: skip
        with pytest.raises(ClientError, match="AccessDenied"):
            assume(studio, env)


def test_ci_run_with_a_token_the_role_does_not_trust_says_so(
    studio: Studio, repo: Path, tmp_path: Path
) -> None:
    done = ci_run(studio, repo, "--push", "--tag", "vx", env=ci_role_env(studio, tmp_path, pr=True),
                  drop=CREDENTIALS)  # fmt: skip
    assert done.returncode == 1
    assert "AssumeRoleWithWebIdentity" in done.stderr and "[ci] repository and branch" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_ci_role_pushes_and_versions_only_the_teams_images(
    studio: Studio, tmp_path: Path
) -> None:
    made = assume(studio, ci_role_env(studio, tmp_path))["Credentials"]
    session = boto3.Session(made["AccessKeyId"], made["SecretAccessKey"], made["SessionToken"],
                            region_name=stack.REGION)  # fmt: skip
    url = stack.endpoints(studio["ports"])["aws"]
    ecr, sm = session.client("ecr", endpoint_url=url), session.client("sagemaker", endpoint_url=url)
    with pytest.raises(ClientError, match="AccessDenied"):
        ecr.create_repository(repositoryName="smstudio/someone-else")
    with pytest.raises(ClientError, match="AccessDenied"):
        sm.create_image(ImageName="sneaky", RoleArn="arn:aws:iam::000000000000:role/x")
    with pytest.raises(ClientError, match="AccessDenied"):
        sm.update_domain(DomainId=studio["domain"], DefaultUserSettings={})


def test_a_change_is_built_tested_pushed_and_registered_as_the_ci_role(
    studio: Studio, repo: Path, tmp_path: Path
) -> None:
    sample(repo, 2)
    started = time.monotonic()
    done = ci_run(studio, repo, "--push", "--tag", "v2", env=ci_role_env(studio, tmp_path),
                  drop=CREDENTIALS)  # fmt: skip
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    pushed = re.search(r"pushed (\S+/smstudio/ci-team/teamlab@sha256:\w+)", done.stdout)
    assert pushed, done.stdout
    assert "registered: image version create team-lab" in done.stdout, done.stdout
    latest = studio["sm"].describe_image_version(ImageName="team-lab")
    assert latest["Version"] == 2 and latest["ContainerImage"] == pushed[1]
    print(f"ci run, warm rebuild after a one-line change: {seconds:.1f}s")


def test_a_broken_image_stops_at_check(studio: Studio, repo: Path, tmp_path: Path) -> None:
    sample(repo, 2, BROKEN)
    done = ci_run(studio, repo, "--push", "--tag", "v3", env=ci_role_env(studio, tmp_path),
                  drop=CREDENTIALS)  # fmt: skip
    assert done.returncode == 1
    assert "stopped at check" in done.stderr and "70000" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert studio["sm"].describe_image_version(ImageName="team-lab")["Version"] == 2
