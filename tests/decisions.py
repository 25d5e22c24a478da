"""The decision table for smstudio's own policies: requests as the principals that make
them (a user's role session, an app's execution-role session, a shared space's session),
each with the full request context IAM sees and the decision AWS should give.

Run by tests/unit/test_policy_decisions.py against the local Studio's evaluator and by
tests/aws/test_policy_simulator.py against AWS's policy simulator (opt-in), so the two
agree or the difference shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smstudio.register import iam

ACCOUNT, REGION, DOMAIN = "111122223333", "us-east-1", "d-abcdefabcdef"
SCOPE = iam.Scope(ACCOUNT, REGION, DOMAIN)
NAMES = iam.Names("ml-team")
TYPES = ["ml.t3.medium", "ml.m5.large"]
BUCKET = "team-bucket"
# the policies each principal holds (a user: the Studio one and the access one)
POLICIES = {
    "user": [iam.user_policy(SCOPE, TYPES), iam.user_access_policy(SCOPE)],
    "execution": [iam.execution_role_policy(SCOPE, BUCKET, NAMES.ssm_instance_role)],
    "exec-admin": [iam.exec_admin_policy(SCOPE, NAMES.namespace)],
    "reminders": [iam.reminders_policy(SCOPE, NAMES.reminders, "ops@example.com",
                                       [f"{NAMES.reminders}-reminder", f"{NAMES.reminders}-summary"])],
    # the image pipeline's role (CodeBuild's, so its build log statement is there too)
    "ci": [iam.ci_policy(SCOPE, NAMES.namespace, ["team-lab"], [f"smstudio/{NAMES.namespace}/teamlab"],
                         "studio-images")],
}  # fmt: skip
SES = f"arn:aws:ses:{REGION}:{ACCOUNT}"
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
SSM = f"arn:aws:ssm:{REGION}:{ACCOUNT}"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:smstudio/{DOMAIN}"
ROLE_ID = "AROAEXAMPLEEXAMPLE01"


def alice_user() -> dict[str, Any]:
    """alice's own role session: her studiouserid is a principal tag."""
    return {
        "aws:PrincipalTag/studiouserid": "alice",
        "aws:userid": f"{ROLE_ID}:alice",
        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{NAMES.user_role('alice')}",
    }


def app_of(user: str | None) -> dict[str, Any]:
    """An app's execution-role session: its user as SourceIdentity (none in a shared space)."""
    context = {"aws:userid": f"{ROLE_ID}:SageMaker",
               "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{NAMES.execution_role}"}  # fmt: skip
    if user:
        context["aws:SourceIdentity"] = user
    return context


def profile(user: str) -> str:
    return f"{SM}:user-profile/{DOMAIN}/{user}"


def space_app(space: str) -> str:
    return f"{SM}:app/{DOMAIN}/{space}/jupyterlab/default"


def space_keys(owner: str, sharing: str) -> dict[str, Any]:
    return {"sagemaker:OwnerUserProfileArn": profile(owner), "sagemaker:SpaceSharingType": sharing}


def tags(**values: str) -> dict[str, Any]:
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in values.items()}
    context["aws:TagKeys"] = sorted(values)
    return context


@dataclass(frozen=True)
class Row:
    name: str
    policy: str  # "user" or "execution"
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    allowed: bool = True


def _rows() -> list[Row]:
    me, app_alice, shared_app = alice_user(), app_of("alice"), app_of(None)
    t3 = {"sagemaker:InstanceTypes": ["ml.t3.medium"]}
    big = {"sagemaker:InstanceTypes": ["ml.p4d.24xlarge"]}
    alice_tag = {
        "aws:ResourceTag/studiouserid": "alice",
        "sagemaker:ResourceTag/studiouserid": "alice",
    }
    bob_tag = {"aws:ResourceTag/studiouserid": "bob", "sagemaker:ResourceTag/studiouserid": "bob"}
    U, E = "user", "execution"
    return [
        # --- a user, from the laptop -------------------------------------------------------------
        Row("list domains", U, "sagemaker:ListDomains", "*", me),
        Row("list managed instances", U, "ssm:DescribeInstanceInformation", "*", me),
        Row("delete the domain", U, "sagemaker:DeleteDomain", f"{SM}:domain/{DOMAIN}", me, False),
        Row("describe the team domain", U, "sagemaker:DescribeDomain", f"{SM}:domain/{DOMAIN}", me),
        Row("describe another domain", U, "sagemaker:DescribeDomain", f"{SM}:domain/d-000000000000",
            me, False),
        Row("describe bob's space", U, "sagemaker:DescribeSpace", f"{SM}:space/{DOMAIN}/bob-space", me),
        Row("open own studio", U, "sagemaker:CreatePresignedDomainUrl", profile("alice"),
            {**me, **alice_tag}),
        Row("open bob's studio", U, "sagemaker:CreatePresignedDomainUrl", profile("bob"),
            {**me, **bob_tag}, False),
        Row("open an untagged profile", U, "sagemaker:CreatePresignedDomainUrl", profile("carol"),
            me, False),
        Row("describe own profile", U, "sagemaker:DescribeUserProfile", profile("alice"),
            {**me, **alice_tag}),
        Row("describe bob's profile", U, "sagemaker:DescribeUserProfile", profile("bob"),
            {**me, **bob_tag}, False),
        Row("create own private space", U, "sagemaker:CreateSpace",
            f"{SM}:space/{DOMAIN}/alice-space", {**me, **space_keys("alice", "Private"), **t3}),
        Row("create own space, no instance type", U, "sagemaker:CreateSpace",
            f"{SM}:space/{DOMAIN}/alice-2", {**me, **space_keys("alice", "Shared")}),
        Row("create a space owned by bob", U, "sagemaker:CreateSpace", f"{SM}:space/{DOMAIN}/x",
            {**me, **space_keys("bob", "Private")}, False),
        Row("create own space on a big instance", U, "sagemaker:CreateSpace",
            f"{SM}:space/{DOMAIN}/alice-gpu", {**me, **space_keys("alice", "Private"), **big}, False),
        Row("create own space in another domain", U, "sagemaker:CreateSpace",
            f"{SM}:space/d-000000000000/x",
            {**me, "sagemaker:OwnerUserProfileArn": f"{SM}:user-profile/d-000000000000/alice",
             "sagemaker:SpaceSharingType": "Private"}, False),
        Row("tag own new space", U, "sagemaker:AddTags", f"{SM}:space/{DOMAIN}/alice-space",
            {**me, "sagemaker:TaggingAction": "CreateSpace", **tags(studiouserid="alice")}),
        Row("tag a new space as bob's", U, "sagemaker:AddTags", f"{SM}:space/{DOMAIN}/alice-space",
            {**me, "sagemaker:TaggingAction": "CreateSpace", **tags(studiouserid="bob")}, False),
        Row("re-tag an existing space", U, "sagemaker:AddTags", f"{SM}:space/{DOMAIN}/bob-space",
            {**me, **tags(studiouserid="alice")}, False),
        Row("tag a new space with another key", U, "sagemaker:AddTags",
            f"{SM}:space/{DOMAIN}/alice-space",
            {**me, "sagemaker:TaggingAction": "CreateSpace",
             **tags(studiouserid="alice", cost="none")}, False),
        Row("update own space", U, "sagemaker:UpdateSpace", f"{SM}:space/{DOMAIN}/alice-space",
            {**me, **space_keys("alice", "Private"), **t3}),
        Row("update own space naming no instance type", U, "sagemaker:UpdateSpace",
            f"{SM}:space/{DOMAIN}/alice-space", {**me, **space_keys("alice", "Private")}, False),
        Row("update own space to a big instance", U, "sagemaker:UpdateSpace",
            f"{SM}:space/{DOMAIN}/alice-space", {**me, **space_keys("alice", "Private"), **big},
            False),
        Row("update bob's space", U, "sagemaker:UpdateSpace", f"{SM}:space/{DOMAIN}/bob-space",
            {**me, **space_keys("bob", "Private"), **t3}, False),
        Row("delete own space", U, "sagemaker:DeleteSpace", f"{SM}:space/{DOMAIN}/alice-space",
            {**me, **space_keys("alice", "Private")}),
        Row("delete bob's space", U, "sagemaker:DeleteSpace", f"{SM}:space/{DOMAIN}/bob-space",
            {**me, **space_keys("bob", "Private")}, False),
        Row("stop the app of own space", U, "sagemaker:DeleteApp", space_app("alice-space"),
            {**me, **space_keys("alice", "Private")}),
        Row("stop the app of bob's space", U, "sagemaker:DeleteApp", space_app("bob-space"),
            {**me, **space_keys("bob", "Private")}, False),
        Row("stop the app of bob's shared space", U, "sagemaker:DeleteApp", space_app("team"),
            {**me, **space_keys("bob", "Shared")}, False),
        Row("start the app of own private space", U, "sagemaker:CreateApp", space_app("alice-space"),
            {**me, **space_keys("alice", "Private"), **t3}),
        Row("start own app naming no instance type", U, "sagemaker:CreateApp",
            space_app("alice-space"), {**me, **space_keys("alice", "Private")}, False),
        Row("start own app on a big instance", U, "sagemaker:CreateApp", space_app("alice-space"),
            {**me, **space_keys("alice", "Private"), **big}, False),
        Row("start the app of bob's private space", U, "sagemaker:CreateApp", space_app("bob-space"),
            {**me, **space_keys("bob", "Private"), **t3}, False),
        Row("start the app of bob's shared space", U, "sagemaker:CreateApp", space_app("team"),
            {**me, **space_keys("bob", "Shared"), **t3}),
        Row("start a shared space on a big instance", U, "sagemaker:CreateApp", space_app("team"),
            {**me, **space_keys("bob", "Shared"), **big}, False),
        Row("start own KernelGateway app", U, "sagemaker:CreateApp",
            f"{SM}:app/{DOMAIN}/alice/kernelgateway/datascience", {**me, **t3}),
        Row("start bob's KernelGateway app", U, "sagemaker:CreateApp",
            f"{SM}:app/{DOMAIN}/bob/kernelgateway/datascience", {**me, **t3}, False),
        Row("start own KernelGateway app naming no instance type", U, "sagemaker:CreateApp",
            f"{SM}:app/{DOMAIN}/alice/kernelgateway/datascience", me, False),
        Row("start own JupyterServer app on system", U, "sagemaker:CreateApp",
            f"{SM}:app/{DOMAIN}/alice/jupyterserver/default",
            {**me, "sagemaker:InstanceTypes": ["system"]}),
        Row("start own JupyterServer app on an instance", U, "sagemaker:CreateApp",
            f"{SM}:app/{DOMAIN}/alice/jupyterserver/default", {**me, **t3}, False),
        Row("stop own Classic app", U, "sagemaker:DeleteApp",
            f"{SM}:app/{DOMAIN}/alice/kernelgateway/datascience", me),
        Row("stop bob's Classic app", U, "sagemaker:DeleteApp",
            f"{SM}:app/{DOMAIN}/bob/kernelgateway/datascience", me, False),
        Row("store own git token", U, "secretsmanager:CreateSecret", f"{SECRET}/alice/git-token-AbCdEf",
            {**me, **tags(studiouserid="alice", **{"managed-by": "smstudio"})}),
        Row("store own git token tagged as bob's", U, "secretsmanager:CreateSecret",
            f"{SECRET}/alice/git-token-AbCdEf", {**me, **tags(studiouserid="bob")}, False),
        Row("store bob's git token", U, "secretsmanager:CreateSecret", f"{SECRET}/bob/git-token-AbCdEf",
            {**me, **tags(studiouserid="alice")}, False),
        Row("update own git token", U, "secretsmanager:PutSecretValue",
            f"{SECRET}/alice/git-token-AbCdEf", me),
        Row("update bob's git token", U, "secretsmanager:PutSecretValue",
            f"{SECRET}/bob/git-token-AbCdEf", me, False),
        Row("read own git token from the laptop", U, "secretsmanager:GetSecretValue",
            f"{SECRET}/alice/git-token-AbCdEf", me, False),
        Row("store own remote-access keys", U, "secretsmanager:CreateSecret",
            f"{SECRET}/alice/remote-access-keys-AbCdEf",
            {**me, **tags(studiouserid="alice", **{"managed-by": "smstudio"})}),
        Row("read own remote-access keys", U, "secretsmanager:GetSecretValue",
            f"{SECRET}/alice/remote-access-keys-AbCdEf", me),
        Row("read bob's remote-access keys", U, "secretsmanager:GetSecretValue",
            f"{SECRET}/bob/remote-access-keys-AbCdEf", me, False),
        Row("add a key to bob's remote-access keys", U, "secretsmanager:PutSecretValue",
            f"{SECRET}/bob/remote-access-keys-AbCdEf", me, False),
        Row("remote access to own space", U, "sagemaker:StartSession",
            f"{SM}:space/{DOMAIN}/alice-dev", {**me, **alice_tag}),
        Row("remote access to bob's space", U, "sagemaker:StartSession",
            f"{SM}:space/{DOMAIN}/bob-dev", {**me, **bob_tag}, False),
        Row("remote access to an untagged space", U, "sagemaker:StartSession",
            f"{SM}:space/{DOMAIN}/team", me, False),
        Row("remote access to a space of another domain", U, "sagemaker:StartSession",
            f"{SM}:space/d-000000000000/alice-dev", {**me, **alice_tag}, False),
        Row("switch remote access on for own space", U, "sagemaker:UpdateSpace",
            f"{SM}:space/{DOMAIN}/alice-space",
            {**me, **space_keys("alice", "Private"), **t3, "sagemaker:RemoteAccess": "ENABLED"},
            False),
        Row("switch remote access off for own space", U, "sagemaker:UpdateSpace",
            f"{SM}:space/{DOMAIN}/alice-space",
            {**me, **space_keys("alice", "Private"), **t3, "sagemaker:RemoteAccess": "DISABLED"}),
        Row("create own space with remote access", U, "sagemaker:CreateSpace",
            f"{SM}:space/{DOMAIN}/alice-3",
            {**me, **space_keys("alice", "Private"), "sagemaker:RemoteAccess": "ENABLED"}, False),
        Row("start own app on a big and an allowed instance", U, "sagemaker:CreateApp",
            space_app("alice-space"),
            {**me, **space_keys("alice", "Private"),
             "sagemaker:InstanceTypes": ["ml.t3.medium", "ml.p4d.24xlarge"]}, False),
        Row("push a key to own app", U, "ssm:SendCommand", f"{SSM}:managed-instance/mi-0123456789abcdef0",
            {**me, "ssm:resourceTag/SSHOwner": "alice"}),
        Row("push a key to bob's app", U, "ssm:SendCommand",
            f"{SSM}:managed-instance/mi-0123456789abcdef0", {**me, "ssm:resourceTag/SSHOwner": "bob"},
            False),
        Row("ssh with AWS-StartSSHSession", U, "ssm:StartSession",
            f"arn:aws:ssm:{REGION}::document/AWS-StartSSHSession", me),
        Row("start a session with another document", U, "ssm:StartSession",
            f"arn:aws:ssm:{REGION}::document/AWS-StartPortForwardingSessionToRemoteHost", me, False),
        Row("end own session", U, "ssm:TerminateSession", f"{SSM}:session/alice-0123456789abcdef",
            {**me, "ssm:resourceTag/aws:ssmmessages:session-id": f"{ROLE_ID}:alice"}),
        Row("end bob's session", U, "ssm:TerminateSession", f"{SSM}:session/bob-0123456789abcdef",
            {**me, "ssm:resourceTag/aws:ssmmessages:session-id": f"{ROLE_ID}:bob"}, False),
        Row("pass a role", U, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{NAMES.execution_role}",
            {**me, "iam:PassedToService": "sagemaker.amazonaws.com"}, False),
        # --- an app, with its execution-role session ---------------------------------------------
        Row("read own user's git token", E, "secretsmanager:GetSecretValue",
            f"{SECRET}/alice/git-token-AbCdEf",
            {**app_alice, "secretsmanager:ResourceTag/studiouserid": "alice"}),
        Row("read own user's remote-access keys", E, "secretsmanager:GetSecretValue",
            f"{SECRET}/alice/remote-access-keys-AbCdEf",
            {**app_alice, "secretsmanager:ResourceTag/studiouserid": "alice"}),
        Row("read bob's remote-access keys", E, "secretsmanager:GetSecretValue",
            f"{SECRET}/bob/remote-access-keys-AbCdEf",
            {**app_alice, "secretsmanager:ResourceTag/studiouserid": "bob"}, False),
        Row("read bob's git token", E, "secretsmanager:GetSecretValue", f"{SECRET}/bob/git-token-AbCdEf",
            {**app_alice, "secretsmanager:ResourceTag/studiouserid": "bob"}, False),
        Row("read a token in own path tagged bob", E, "secretsmanager:GetSecretValue",
            f"{SECRET}/alice/git-token-AbCdEf",
            {**app_alice, "secretsmanager:ResourceTag/studiouserid": "bob"}, False),
        Row("a shared space reads a git token", E, "secretsmanager:GetSecretValue",
            f"{SECRET}/alice/git-token-AbCdEf",
            {**shared_app, "secretsmanager:ResourceTag/studiouserid": "alice"}, False),
        Row("register own app with SSM", E, "ssm:CreateActivation", "*",
            {**app_alice, **tags(SSHOwner="alice", SSHCreator="x", SSHTimestamp="1",
                                 SSHResourceName="default",
                                 SSHResourceArn=space_app("alice-space"))}),
        Row("register an app as bob's", E, "ssm:CreateActivation", "*",
            {**app_alice, **tags(SSHOwner="bob", SSHResourceArn=space_app("bob-space"))}, False),
        Row("register with an extra tag", E, "ssm:CreateActivation", "*",
            {**app_alice, **tags(SSHOwner="alice", SSHResourceArn=space_app("alice-space"),
                                 Name="x")}, False),
        Row("register an app of another domain", E, "ssm:CreateActivation", "*",
            {**app_alice, **tags(SSHOwner="alice",
                                 SSHResourceArn=f"{SM}:app/d-000000000000/x/jupyterlab/default")},
            False),
        Row("a shared space registers", E, "ssm:CreateActivation", "*",
            {**shared_app, **tags(SSHOwner="alice", SSHResourceArn=space_app("team"))}, False),
        Row("re-tag a managed instance", E, "ssm:AddTagsToResource",
            f"{SSM}:managed-instance/mi-0123456789abcdef0",
            {**app_alice, **tags(SSHOwner="alice"), "ssm:resourceTag/SSHOwner": "bob"}, False),
        Row("retire own managed instance", E, "ssm:DeregisterManagedInstance",
            f"{SSM}:managed-instance/mi-0123456789abcdef0",
            {**app_alice, "ssm:resourceTag/SSHOwner": "alice"}),
        Row("retire bob's managed instance", E, "ssm:DeregisterManagedInstance",
            f"{SSM}:managed-instance/mi-0123456789abcdef0",
            {**app_alice, "ssm:resourceTag/SSHOwner": "bob"}, False),
        Row("delete own idle KernelGateway app", E, "sagemaker:DeleteApp",
            f"{SM}:app/{DOMAIN}/alice/kernelgateway/datascience", app_alice),
        Row("delete bob's KernelGateway app", E, "sagemaker:DeleteApp",
            f"{SM}:app/{DOMAIN}/bob/kernelgateway/datascience", app_alice, False),
        Row("delete a space's app", E, "sagemaker:DeleteApp", space_app("alice-space"),
            app_alice, False),
        Row("a shared space deletes a KernelGateway app", E, "sagemaker:DeleteApp",
            f"{SM}:app/{DOMAIN}/alice/kernelgateway/datascience", shared_app, False),
        Row("read own profile's tags", E, "sagemaker:ListTags", profile("alice"), app_alice),
        Row("read bob's profile", E, "sagemaker:DescribeUserProfile", profile("bob"), app_alice,
            False),
        Row("pass the SSM instance role to SSM", E, "iam:PassRole",
            f"arn:aws:iam::{ACCOUNT}:role/{NAMES.ssm_instance_role}",
            {**app_alice, "iam:PassedToService": "ssm.amazonaws.com"}),
        Row("pass the SSM instance role to EC2", E, "iam:PassRole",
            f"arn:aws:iam::{ACCOUNT}:role/{NAMES.ssm_instance_role}",
            {**app_alice, "iam:PassedToService": "ec2.amazonaws.com"}, False),
        Row("pass the execution role", E, "iam:PassRole",
            f"arn:aws:iam::{ACCOUNT}:role/{NAMES.execution_role}",
            {**app_alice, "iam:PassedToService": "ssm.amazonaws.com"}, False),
        Row("report home usage", E, "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/smstudio/home-usage:log-stream:{DOMAIN}/alice",
            app_alice),
        Row("report home usage to another domain", E, "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/smstudio/home-usage:log-stream:d-0/alice",
            app_alice, False),
        Row("read the team bucket", E, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/data.csv", app_alice),
        Row("read another bucket", E, "s3:GetObject", "arn:aws:s3:::other-bucket/data.csv",
            app_alice, False),
        Row("list the team bucket", E, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", app_alice),
        Row("list another bucket", E, "s3:ListBucket", "arn:aws:s3:::other-bucket", app_alice, False),
        Row("log in to ECR", E, "ecr:GetAuthorizationToken", "*", app_alice),
        Row("write a Studio log", E, "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/studio:log-stream:x", app_alice),
        Row("find owners of spaces", E, "sagemaker:DescribeSpace", f"{SM}:space/{DOMAIN}/team",
            shared_app),
        Row("describe a space of another domain", E, "sagemaker:DescribeSpace",
            f"{SM}:space/d-000000000000/team", app_alice, False),
        Row("find managed instances", E, "ssm:DescribeInstanceInformation", "*", app_alice),
        Row("pull a team image", E, "ecr:BatchGetImage",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/smstudio/jupyterlab", app_alice),
        Row("pull another repository's image", E, "ecr:BatchGetImage",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other/app", app_alice, False),
    ]  # fmt: skip


def _exec_admin_rows() -> list[Row]:
    """The platform team's `smstudio exec` policy: open any of the team's profiles (and
    so their spaces) in the team's domain, after finding the domain and the app; nothing
    else."""
    admin = {"aws:userid": f"{ROLE_ID}:platform-admin",
             "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/platform-admin"}  # fmt: skip
    team = {"aws:ResourceTag/smstudio:managed-by": NAMES.namespace,
            "sagemaker:ResourceTag/smstudio:managed-by": NAMES.namespace}  # fmt: skip
    other = {"aws:ResourceTag/smstudio:managed-by": "other-team",
             "sagemaker:ResourceTag/smstudio:managed-by": "other-team"}  # fmt: skip
    A = "exec-admin"
    return [
        Row("exec admin finds the domain", A, "sagemaker:ListDomains", "*", admin),
        Row("exec admin describes alice's space app", A, "sagemaker:DescribeApp",
            space_app("alice-space"), admin),
        Row("exec admin describes an app of another domain", A, "sagemaker:DescribeApp",
            f"{SM}:app/d-000000000000/x/jupyterlab/default", admin, False),
        Row("exec admin opens alice's studio", A, "sagemaker:CreatePresignedDomainUrl",
            profile("alice"), {**admin, **team}),
        Row("exec admin opens another team's profile", A, "sagemaker:CreatePresignedDomainUrl",
            profile("carol"), {**admin, **other}, False),
        Row("exec admin opens an untagged profile", A, "sagemaker:CreatePresignedDomainUrl",
            profile("carol"), admin, False),
        Row("exec admin opens a profile of another domain", A,
            "sagemaker:CreatePresignedDomainUrl", f"{SM}:user-profile/d-000000000000/alice",
            {**admin, **team}, False),
        Row("exec admin starts an app", A, "sagemaker:CreateApp", space_app("alice-space"),
            {**admin, "sagemaker:InstanceTypes": ["ml.t3.medium"]}, False),
        Row("exec admin deletes an app", A, "sagemaker:DeleteApp", space_app("alice-space"),
            admin, False),
        Row("exec admin describes a profile", A, "sagemaker:DescribeUserProfile",
            profile("alice"), {**admin, **team}, False),
    ]  # fmt: skip


def _reminders_rows() -> list[Row]:
    """The reminders' Lambda function, with its role's session: list the apps, read
    profiles' email tags in the domain, send from the team's sender with its templates,
    write its own log; nothing else."""
    reminder = {"aws:userid": f"{ROLE_ID}:{NAMES.reminders}",
                "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{NAMES.reminders}"}  # fmt: skip
    R = "reminders"
    log = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda"
    return [
        Row("reminders list the domain's apps", R, "sagemaker:ListApps", "*", reminder),
        Row("reminders read a profile's email tag", R, "sagemaker:ListTags", profile("alice"),
            reminder),
        Row("reminders read a profile of another domain", R, "sagemaker:ListTags",
            f"{SM}:user-profile/d-000000000000/alice", reminder, False),
        Row("reminders stop an app", R, "sagemaker:DeleteApp", space_app("alice-space"), reminder,
            False),
        Row("reminders send from the team's sender", R, "ses:SendTemplatedEmail",
            f"{SES}:identity/ops@example.com", {**reminder, "ses:FromAddress": "ops@example.com"}),
        Row("reminders send with their template", R, "ses:SendTemplatedEmail",
            f"{SES}:template/{NAMES.reminders}-reminder", reminder),
        Row("reminders send from another identity", R, "ses:SendTemplatedEmail",
            f"{SES}:identity/someone@example.com", reminder, False),
        Row("reminders send with another template", R, "ses:SendTemplatedEmail",
            f"{SES}:template/phishing", reminder, False),
        Row("reminders write their log", R, "logs:PutLogEvents",
            f"{log}/{NAMES.reminders}:log-stream:x", reminder),
        Row("reminders write another function's log", R, "logs:PutLogEvents",
            f"{log}/other:log-stream:x", reminder, False),
    ]  # fmt: skip


def _ci_rows() -> list[Row]:
    """The image pipeline's role session: push to the team's image repositories, add
    versions to the team's images and update their app image configs, under the team's
    apply lock; nothing else (no new image, no domain, no other repository)."""
    job = {"aws:userid": f"{ROLE_ID}:github-actions",
           "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/{NAMES.ci_role}"}  # fmt: skip
    C = "ci"
    ecr = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository"
    lock = f"{SSM}:parameter/smstudio/{NAMES.namespace}/apply-lock"
    log = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild"
    return [
        Row("ci logs in to ECR", C, "ecr:GetAuthorizationToken", "*", job),
        Row("ci pushes the team's image", C, "ecr:PutImage", f"{ecr}/smstudio/{NAMES.namespace}/teamlab", job),
        Row("ci makes the team's repository", C, "ecr:CreateRepository",
            f"{ecr}/smstudio/{NAMES.namespace}/teamlab", job),
        Row("ci pushes another team's repository of the same target", C, "ecr:PutImage",
            f"{ecr}/smstudio/other-team/teamlab", job,
            False),
        Row("ci deletes the team's images", C, "ecr:BatchDeleteImage", f"{ecr}/smstudio/{NAMES.namespace}/teamlab",
            job, False),
        Row("ci lists images for the plan", C, "sagemaker:ListImages", "*", job),
        Row("ci adds a version to the team's image", C, "sagemaker:CreateImageVersion",
            f"{SM}:image/team-lab", job),
        Row("ci reads the team image's version", C, "sagemaker:DescribeImageVersion",
            f"{SM}:image-version/team-lab/3", job),
        Row("ci adds a version to another image", C, "sagemaker:CreateImageVersion",
            f"{SM}:image/other-team", job, False),
        Row("ci creates an image", C, "sagemaker:CreateImage", f"{SM}:image/team-lab", job, False),
        Row("ci passes the image role", C, "iam:PassRole",
            f"arn:aws:iam::{ACCOUNT}:role/{NAMES.image_role}", job, False),
        Row("ci updates the team's app image config", C, "sagemaker:UpdateAppImageConfig",
            f"{SM}:app-image-config/team-lab", job),
        Row("ci updates another app image config", C, "sagemaker:UpdateAppImageConfig",
            f"{SM}:app-image-config/other-team", job, False),
        Row("ci changes the domain", C, "sagemaker:UpdateDomain", f"{SM}:domain/{DOMAIN}", job,
            False),
        Row("ci takes the team's apply lock", C, "ssm:PutParameter", lock, job),
        Row("ci writes another parameter", C, "ssm:PutParameter",
            f"{SSM}:parameter/smstudio/other/apply-lock", job, False),
        Row("ci writes its build log", C, "logs:PutLogEvents",
            f"{log}/studio-images:log-stream:1", job),
        Row("ci writes another build's log", C, "logs:PutLogEvents",
            f"{log}/other:log-stream:1", job, False),
    ]  # fmt: skip


ROWS = _rows() + _exec_admin_rows() + _reminders_rows() + _ci_rows()
