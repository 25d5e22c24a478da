"""The team spec: the example loads; each kind of mistake names file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from smstudio.core import config, project
from smstudio.core.errors import SmstudioError

EXAMPLE = project.project_root() / "bootstrap/team.example.toml"
GOOD = """
[domain]
name = "ml-team"
[defaults]
instance_type = "ml.t3.medium"
allowed_instance_types = ["ml.t3.medium", "ml.m5.large"]
[images.lab]
target = "jupyterlab"
app_types = ["JupyterLab"]
[[users]]
name = "alice"
email = "alice@example.com"
"""


def test_the_example_team_file_loads() -> None:
    team, base = config.load(EXAMPLE)
    assert team.domain.name == "ml-team" and team.domain.id is None
    assert [u.name for u in team.users] == ["alice", "bob"]
    assert team.allowed_for(team.users[0]) == team.defaults.allowed_instance_types
    assert team.allowed_for(team.users[1]) == ["ml.t3.medium"]
    assert set(team.images) == {"smstudio-jupyterlab", "smstudio-kernelgateway"}
    assert (base / team.lifecycle["JupyterLab"]).is_file()


@pytest.mark.parametrize(
    ("change", "where", "fix"),
    [
        (("[[users]]", "[[users]]\nnmae = 'x'"), "users[0].nmae: Extra inputs are not permitted", "check its spelling"),
        (('email = "alice@example.com"', 'email = "alice"'), "users[0].email: 'alice' does not match", "form shown"),
        (('name = "alice"', 'name = "alice smith"'), "users[0].name: 'alice smith': a user name is lower-case letters", "form shown"),
        (('name = "alice"', 'name = "Alice"'), "users[0].name: 'Alice': a user name is lower-case letters, digits and hyphens, at most 57 characters (ssh host names ignore case", "form shown"),
        (('name = "alice"', f'name = "{"a" * 58}"'), f"users[0].name: '{'a' * 58}': a user name is", "form shown"),
        (('app_types = ["JupyterLab"]', 'app_types = ["Rstudio"]'), "images.lab.app_types[0]: Input should be", "values listed"),
        (('app_types = ["JupyterLab"]', "app_types = []"), "images.lab.app_types: List should have at least 1 item", "correct the value"),
        (('target = "jupyterlab"', "target = 3"), "images.lab.target: Input should be a valid string", "correct the value"),
        (('instance_type = "ml.t3.medium"', 'instance_type = "ml.p4d.24xlarge"'), "defaults: instance_type 'ml.p4d.24xlarge' is not in allowed_instance_types", "correct the values"),
        (('name = "ml-team"', 'name = "ml-team"\nid = "d-abcdefabcdef"'), "domain: give exactly one of `id`", "correct the values"),
        (('[images.lab]', '[images."bad name"]'), "images.bad name.[key]: 'bad name' does not match", "form shown"),
    ],
)  # fmt: skip
def test_mistakes_name_file_field_and_fix(change: tuple[str, str], where: str, fix: str) -> None:
    text = GOOD.replace(*change, 1)
    assert text != GOOD
    with pytest.raises(SmstudioError) as info:
        config.parse(text, "team.toml")
    assert f"team.toml: {where}" in info.value.problem
    assert fix in info.value.fix


def test_user_instance_types_must_fit_the_team() -> None:
    text = GOOD + 'allowed_instance_types = ["ml.g5.xlarge"]\n'
    with pytest.raises(
        SmstudioError, match=r"user alice: ml\.g5\.xlarge not in defaults\.allowed_instance_types"
    ):
        config.parse(text, "team.toml")
    text = (
        GOOD + 'default_instance_type = "ml.m5.large"\nallowed_instance_types = ["ml.t3.medium"]\n'
    )
    with pytest.raises(SmstudioError, match=r"default instance type ml\.m5\.large is not among"):
        config.parse(text, "team.toml")


def test_duplicate_users() -> None:
    text = GOOD + '[[users]]\nname = "alice"\nemail = "a2@example.com"\n'
    with pytest.raises(SmstudioError, match="alice repeated"):
        config.parse(text, "team.toml")


def test_bad_toml_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SmstudioError, match=r"team.toml: not valid TOML: .*line 1"):
        config.parse("[domain\n", "team.toml")
    with pytest.raises(SmstudioError, match="does not exist") as info:
        config.load(tmp_path / "nope.toml")
    assert "team.example.toml" in info.value.fix
    team = tmp_path / "team.toml"
    team.write_text(GOOD + '[lifecycle]\nJupyterLab = "missing.sh"\n')
    with pytest.raises(SmstudioError, match=r"lifecycle\.JupyterLab: script missing\.sh not found"):
        config.load(team)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[identity]\ntrust = "saml"\n', "give saml_provider exactly when trust"),
        ('[identity]\nsaml_provider = "arn:aws:iam::123456789012:saml-provider/IdC"\n',
         "give saml_provider exactly when trust"),
        ('[[spaces]]\nname = "team"\nowner = "mallory"\n', "owner mallory is not a user"),
        ('[[spaces]]\nname = "alice-space"\nowner = "alice"\n', "the name of a user or of a user's own workspace"),
        ('[[spaces]]\nname = "alice"\nowner = "alice"\n', "the name of a user or of a user's own workspace"),
        ('[[spaces]]\nname = "Team"\nowner = "alice"\n', "a space name is lower-case"),
        ('[[users]]\nname = "alice-space"\nemail = "a@b.c"\n', "user alice-space: the name of alice's own workspace space"),
        ('[[spaces]]\nname = "t"\nowner = "alice"\n[[spaces]]\nname = "t"\nowner = "alice"\n',
         "space names must be unique"),
        ('[[spaces]]\nname = "t"\nowner = "alice"\ninstance_type = "ml.p4d.24xlarge"\n',
         "not in defaults.allowed_instance_types"),
        ('[[spaces]]\nname = "t"\nowner = "alice"\nsharing = "Public"\n', "sharing"),
        ('[docker]\ntrusted_accounts = ["12345"]\n', "docker.trusted_accounts"),
        ('[docker]\ntrusted_accounts = [' + ", ".join(['"123456789012"'] * 21) + "]\n",
         "docker.trusted_accounts"),
        ('[docker]\nremote_host = "my-box"\n', "docker.remote_host"),
        ('[docker]\naccess = "yes"\n', "docker.access"),
        ('[[spaces]]\nname = "t"\nowner = "alice"\nidle_timeout_minutes = 120\n',
         "needs the team's idle shutdown"),
        ('[[spaces]]\nname = "t"\nowner = "alice"\nremote_access = true\n',
         "remote_access needs a Private space"),
        ('[starter]\ngit = "https://git.example.com/s.git"\ns3 = "s3://team-bucket/p/"\n',
         "give git or s3, not both"),
        ('[starter]\ns3 = "https://b/p/"\n', "starter.s3"),
    ],
)  # fmt: skip
def test_identity_and_spaces_are_checked(extra: str, message: str) -> None:
    with pytest.raises(SmstudioError, match=message):
        config.parse(GOOD + extra, "team.toml")


def test_identity_spaces_and_principals_load() -> None:
    text = GOOD.replace('email = "alice@example.com"',
                        'email = "alice@example.com"\niam_principal = "arn:aws:iam::123456789012:role/alice-sso"')  # fmt: skip
    team = config.parse(text + '[identity]\ntrust = "saml"\nsaml_provider = '
                        '"arn:aws:iam::123456789012:saml-provider/IdC"\n'
                        '[[spaces]]\nname = "team"\nowner = "alice"\n', "team.toml")  # fmt: skip
    assert team.identity.saml_provider and team.identity.session_hours == 12
    assert team.space("team") is not None and team.space("team").sharing == "Shared"  # type: ignore[union-attr]
    assert team.user("alice").iam_principal.endswith("role/alice-sso")  # type: ignore[union-attr]
    assert team.namespace == "ml-team"
    assert team.docker.access is None  # left out: the domain's setting is left alone
    docker = config.parse(GOOD + '[docker]\naccess = true\nremote_host = "mi-0123456789abcdef0"\n',
                          "team.toml").docker  # fmt: skip
    assert docker.access and docker.remote_host == "mi-0123456789abcdef0"


def test_the_cli_takes_only_space_names_ssh_can_reach() -> None:
    from smstudio.workspaces import apps

    team = config.parse(GOOD, "team.toml")
    with pytest.raises(SmstudioError, match="'Alice-Work' is not a space name") as info:
        apps.workspace(None, team, "alice", "Alice-Work")
    assert "lower-case" in info.value.fix


def test_idle_bounds_are_checked() -> None:
    idle = GOOD.replace('instance_type = "ml.t3.medium"\n', 'instance_type = "ml.t3.medium"\n'
                        "idle_timeout_minutes = 120\nmax_idle_timeout_minutes = 240\n", 1)  # fmt: skip
    assert config.parse(idle, "team.toml").defaults.max_idle_timeout_minutes == 240
    with pytest.raises(SmstudioError, match="within its min/max"):
        config.parse(idle + '[[spaces]]\nname = "t"\nowner = "alice"\nidle_timeout_minutes = 600\n',
                     "team.toml")  # fmt: skip
    with pytest.raises(SmstudioError, match="must lie within"):
        config.parse(idle.replace("idle_timeout_minutes = 120", "idle_timeout_minutes = 300"), "team.toml")
