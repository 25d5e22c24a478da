"""Who the current AWS credentials are, in the team's terms: the principal, the Studio
user it acts as (its `studiouserid`), and the team's domain. Also the credentials of a
user's role (`smstudio local env --user`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from smstudio.core import facts
from smstudio.core.config import Team
from smstudio.core.errors import BadInput, SmstudioError
from smstudio.core.sagemaker import SageMaker
from smstudio.register import iam
from smstudio.workspaces import apps


@dataclass(frozen=True)
class Identity:
    arn: str
    account: str
    kind: str  # "account root", "IAM user", "role session"
    user: str | None  # the studiouserid, when this is a Studio user
    how: str  # how the user was recognized
    domain: str | None


def _kind(arn: str) -> str:
    if arn.endswith(":root"):
        return "account root"
    return "role session" if ":assumed-role/" in arn else "IAM user"


def _tag_of(iam_client: Any, arn: str) -> str | None:
    """The principal's studiouserid tag, when its policy lets it read its own tags."""
    name = arn.rsplit("/", 2)[-2] if ":assumed-role/" in arn else arn.rsplit("/", 1)[-1]
    try:
        if ":assumed-role/" in arn:
            tags = iam_client.list_role_tags(RoleName=name)["Tags"]
        else:
            tags = iam_client.list_user_tags(UserName=name)["Tags"]
    except ClientError:
        return None
    return next((t["Value"] for t in tags if t["Key"] == facts.STUDIO_USER_TAG), None)


def studio_user(team: Team, arn: str) -> tuple[str | None, str]:
    """The team member these credentials act as, and how that is known."""
    names = iam.Names(team.namespace)
    if ":assumed-role/" in arn:
        role = arn.split(":assumed-role/", 1)[1].rsplit("/", 1)[0]
        for user in team.users:
            if role == names.user_role(user.name):
                return user.name, f"the role {role}"
            if user.iam_principal and user.iam_principal.rsplit("/", 1)[-1] == role:
                return user.name, f"the team file's iam_principal {user.iam_principal}"
    for user in team.users:
        if user.iam_principal == arn:
            return user.name, f"the team file's iam_principal {arn}"
    return None, ""


def whoami(clients: Any, team: Team) -> Identity:
    found = clients.client("sts").get_caller_identity()
    arn, account = str(found["Arn"]), str(found["Account"])
    user, how = studio_user(team, arn)
    if user is None and not arn.endswith(":root"):
        user = _tag_of(clients.client("iam"), arn)
        how = f"its {facts.STUDIO_USER_TAG} tag" if user else ""
    try:
        domain: str | None = apps.find_domain(SageMaker.of(clients), team)
    except SmstudioError:
        domain = None
    return Identity(arn, account, _kind(arn), user, how, domain)


def role_credentials(clients: Any, team: Team, user: str) -> dict[str, str]:
    """Credentials of `user`'s role (assumed with the current credentials, as an admin or
    anyone the role's trust lets in), for `smstudio local env --user`."""
    member = team.user(user)
    if member is None:
        names = ", ".join(u.name for u in team.users) or "none"
        raise BadInput(f"no user {user!r} in the team (users: {names})", "pick a listed user")
    role = iam.Names(team.namespace).user_role(user)
    if member.iam_principal:
        if ":user/" in member.iam_principal:
            raise BadInput(
                f"{user} acts as the IAM user {member.iam_principal}, which has no role to assume",
                "use that user's own access key",
            )
        role = member.iam_principal.rsplit("/", 1)[-1]
    sts = clients.client("sts")
    account = sts.get_caller_identity()["Account"]
    arn = member.iam_principal or f"arn:aws:iam::{account}:role/{role}"
    try:
        made = sts.assume_role(
            RoleArn=arn,
            RoleSessionName=user,
            DurationSeconds=team.identity.session_hours * 3600,
        )["Credentials"]
    except ClientError as exc:
        raise SmstudioError(
            f"could not assume {arn}: {exc.response['Error']['Message']}",
            "run `smstudio apply` first (it makes the users' roles), as the admin",
        ) from exc
    return {
        "AccessKeyId": made["AccessKeyId"],
        "SecretAccessKey": made["SecretAccessKey"],
        "SessionToken": made["SessionToken"],
    }
