"""The pipeline files `smstudio ci init` writes into a team's image repository, pure: one
per CI system, each a thin shell around `smstudio ci run` (so the logic is tested here,
not in YAML). Pushes to the team's branch get the CI role's credentials (GitHub and
GitLab: the job's OIDC token; CodeBuild: its service role); pull requests get none and
stop before push."""

from __future__ import annotations

from dataclasses import dataclass

from smstudio.core import facts

FILES = {
    "github": ".github/workflows/smstudio-images.yml",
    "gitlab": ".gitlab-ci.yml",
    "codebuild": "buildspec.yml",
}
PYTHON = "3.11"
REPORTS = "reports"


@dataclass(frozen=True)
class PipelineSpec:
    provider: str  # github | gitlab | codebuild
    role_arn: str  # the CI role apply made
    region: str
    branch: str
    team_file: str  # the team file's path in the repository
    install: str  # how the job installs smstudio, e.g. `smstudio==0.1.0`
    gitlab_host: str = "gitlab.com"


def render(spec: PipelineSpec) -> str:
    if spec.provider == "github":
        return _github(spec)
    if spec.provider == "gitlab":
        return _gitlab(spec)
    return _codebuild(spec)


def _run(spec: PipelineSpec) -> str:
    return f"smstudio ci run --team {spec.team_file} --reports {REPORTS}"


def _github(spec: PipelineSpec) -> str:
    return f"""# Written by `smstudio ci init --github`: build, check and test the team's images on
# every pull request; on a push to {spec.branch}, also push them and register new image
# versions (`smstudio ci run`). The CI role trusts this repository's {spec.branch} only.
name: smstudio images

on:
  push:
    branches: [{spec.branch}]
  pull_request:

permissions:
  contents: read
  id-token: write  # the OIDC token the CI role is assumed with

concurrency:
  group: smstudio-images-${{{{ github.ref }}}}
  cancel-in-progress: false

jobs:
  images:
    runs-on: ubuntu-24.04
    timeout-minutes: 90
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{PYTHON}"
      - name: Install smstudio
        run: python -m pip install "{spec.install}"
      - name: AWS credentials (pushes to {spec.branch} only)
        if: github.event_name == 'push'
        uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: {spec.role_arn}
          aws-region: {spec.region}
      - name: Build, check, test, push, register
        run: {_run(spec)}
      - name: Test reports
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: image-test-reports
          path: {REPORTS}/
"""


def _gitlab(spec: PipelineSpec) -> str:
    _, audience = facts.ci_issuer("gitlab", spec.gitlab_host)
    return f"""# Written by `smstudio ci init --gitlab`: build, check and test the team's images in
# merge request pipelines; on {spec.branch}, also push them and register new image
# versions (`smstudio ci run`). The CI role trusts this project's {spec.branch} only.
smstudio-images:
  image: docker:26.1
  services:
    - docker:26.1-dind
  variables:
    DOCKER_HOST: tcp://docker:2375
    DOCKER_TLS_CERTDIR: ""
    AWS_REGION: {spec.region}
  id_tokens:
    SMSTUDIO_AWS_TOKEN:
      aud: {audience}
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == "{spec.branch}"
  before_script:
    - apk add --no-cache python3 py3-pip git
    - python3 -m pip install --break-system-packages "{spec.install}"
  script:
    - |
      if [ "$CI_PIPELINE_SOURCE" != "merge_request_event" ]; then
        printf '%s' "$SMSTUDIO_AWS_TOKEN" > "$CI_PROJECT_DIR/.web-identity-token"
        export AWS_WEB_IDENTITY_TOKEN_FILE="$CI_PROJECT_DIR/.web-identity-token"
        export AWS_ROLE_ARN="{spec.role_arn}"
      fi
    - {_run(spec)}
  artifacts:
    when: always
    paths:
      - {REPORTS}/
    reports:
      junit: {REPORTS}/junit-*.xml
"""


def _codebuild(spec: PipelineSpec) -> str:
    return f"""# Written by `smstudio ci init --codebuild`: build, check, test, push and register
# the team's images (`smstudio ci run`) with the project's service role
# ({spec.role_arn}). The project needs privileged mode (Docker) and a
# Python {PYTHON} image (aws/codebuild/standard:7.0); pull request webhooks stop before push.
version: 0.2

env:
  variables:
    AWS_REGION: {spec.region}

phases:
  install:
    runtime-versions:
      python: "{PYTHON}"
    commands:
      - python -m pip install "{spec.install}"
  build:
    commands:
      - {_run(spec)}

reports:
  image-tests:
    base-directory: {REPORTS}
    files:
      - "junit-*.xml"
    file-format: JUNITXML
"""


# What a CodeBuild buildspec may hold (AWS's buildspec reference, version 0.2).
BUILDSPEC_KEYS = {"version", "run-as", "env", "proxy", "batch", "phases", "reports",
                  "artifacts", "cache"}  # fmt: skip
BUILDSPEC_PHASES = {"install", "pre_build", "build", "post_build"}
BUILDSPEC_PHASE_KEYS = {"run-as", "on-failure", "runtime-versions", "commands", "finally"}
BUILDSPEC_REPORT_KEYS = {"files", "base-directory", "discard-paths", "file-format"}
BUILDSPEC_REPORT_FORMATS = {"CUCUMBERJSON", "JUNITXML", "NUNITXML", "NUNIT3XML", "TESTNGXML",
                            "VISUALSTUDIOTRX", "CLOVERXML", "COBERTURAXML", "JACOCOXML",
                            "SIMPLECOV"}  # fmt: skip


def buildspec_problems(data: object) -> list[str]:
    """What is wrong with a parsed buildspec (version 0.2), [] when nothing is."""
    if not isinstance(data, dict):
        return ["a buildspec is a mapping"]
    problems = [f"unknown key {k!r}" for k in data if k not in BUILDSPEC_KEYS]
    if data.get("version") != 0.2:
        problems.append(f"version must be 0.2, not {data.get('version')!r}")
    phases = data.get("phases")
    if not isinstance(phases, dict) or not phases:
        return [*problems, "phases: at least one phase is needed"]
    for name, phase in phases.items():
        if name not in BUILDSPEC_PHASES:
            problems.append(f"phases: unknown phase {name!r}")
            continue
        if not isinstance(phase, dict):
            problems.append(f"phases.{name}: a mapping")
            continue
        problems += [f"phases.{name}: unknown key {k!r}" for k in phase
                     if k not in BUILDSPEC_PHASE_KEYS]  # fmt: skip
        commands = phase.get("commands", [])
        if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
            problems.append(f"phases.{name}.commands: a list of strings")
    for name, report in (data.get("reports") or {}).items():
        if not isinstance(report, dict) or not report.get("files"):
            problems.append(f"reports.{name}: files are needed")
            continue
        problems += [f"reports.{name}: unknown key {k!r}" for k in report
                     if k not in BUILDSPEC_REPORT_KEYS]  # fmt: skip
        if report.get("file-format", "JUNITXML") not in BUILDSPEC_REPORT_FORMATS:
            problems.append(f"reports.{name}: unknown file-format {report['file-format']!r}")
    return problems
