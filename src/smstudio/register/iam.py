"""IAM as pure builders: data in, names, trust and policy documents out. Linted by
parliament and decided request by request in tests (the same decision table runs against
AWS's policy simulator in the opt-in real-AWS tier); printed by `smstudio iam policy`.

Who is who:
- each data scientist acts through a role of their own per domain,
  `smstudio-<team>-user-<name>`, tagged `studiouserid=<name>` so the tag is their
  sessions' principal tag (or, when the team file names one, an existing IAM user or role
  given the same policy and tag). Their policy lets them act only on their own profile,
  their own spaces and apps (owner = the profile their tag names), shared spaces as
  members, on their allowed instance types;
- apps run with the domain's execution role; `apply` sets ExecutionRoleIdentityConfig to
  USER_PROFILE_NAME, so each app's session carries its user as `aws:SourceIdentity`, and
  the role's policy gives an app only its own user's git token, SSM registrations and
  idle KernelGateway apps (a shared space's app has no SourceIdentity: none of those);
- the apps' SSM managed instances get a role with the agent's channels only.

Names carry the team's namespace (its domain name, or id) because IAM names are global
to an account and several teams' domains share one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from smstudio.core import facts
from smstudio.core.facts import STUDIO_USER_TAG
from smstudio.workspaces import usage

Policy = dict[str, Any]
TAG = STUDIO_USER_TAG
CALLER = "${aws:PrincipalTag/" + TAG + "}"
APP_USER = "${aws:SourceIdentity}"
SSH_OWNER = "SSHOwner"  # the tag apps register their SSM managed instance with
SSH_TAGS = ["SSHOwner", "SSHCreator", "SSHTimestamp", "SSHResourceName", "SSHResourceArn"]
SESSION_TAG = "aws:ssmmessages:session-id"
VERSION = "2012-10-17"
ROLE_NAME_MAX = 64
SSH_DOCUMENTS = ("AWS-StartSSHSession", "AWS-RunShellScript")


def _fit(name: str, limit: int = ROLE_NAME_MAX) -> str:
    """IAM names are at most 64 characters: a long one keeps its start and a hash."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


@dataclass(frozen=True)
class Names:
    """The IAM names of one team's domain."""

    namespace: str  # the team's domain name (or id)

    def _name(self, kind: str) -> str:
        return _fit(f"smstudio-{self.namespace}-{kind}")

    @property
    def execution_role(self) -> str:
        return self._name("execution")

    @property
    def image_role(self) -> str:
        return self._name("image")

    @property
    def ssm_instance_role(self) -> str:
        return self._name("ssm-instance")

    def user_role(self, user: str) -> str:
        return self._name(f"user-{user}")

    def user_policy(self, user: str) -> str:
        return self._name(f"user-{user}")

    def user_access_policy(self, user: str) -> str:
        return self._name(f"access-{user}")

    def user_policies(self, user: str) -> list[str]:
        return [self.user_policy(user), self.user_access_policy(user)]

    @property
    def exec_admin_policy(self) -> str:
        """The platform team's policy for `smstudio exec` in anyone's app (not made by
        apply: an admin attaches it to whom they choose)."""
        return self._name("exec-admin")

    @property
    def reminders(self) -> str:
        """The reminders' Lambda function, its role, schedule and SES template prefix."""
        return self._name("reminders")

    @property
    def ci_role(self) -> str:
        """The image repository's pipeline (smstudio.teamops.ci)."""
        return self._name("ci")


@dataclass(frozen=True)
class Scope:
    account: str
    region: str
    domain_id: str

    def arn(self, resource: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}"

    def ssm(self, resource: str) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:{resource}"

    def secret(self, user: str, kind: str = facts.GIT_TOKEN) -> str:
        """Users' secrets: git tokens (smstudio.register.gittoken) and the public keys
        remote access lets in (smstudio.ssh.remote); all of a user's for kind "". `*` after
        the name: Secrets Manager adds a 6-character suffix, and a secret not made yet is
        named without it."""
        prefix = f"arn:aws:secretsmanager:{self.region}:{self.account}:secret"
        return f"{prefix}:{facts.user_secret_name(self.domain_id, user, kind)}*"

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{name}"

    def own_profile(self, who: str) -> str:
        return self.arn(f"user-profile/{self.domain_id}/{who}")


def _doc(*statements: dict[str, Any]) -> Policy:
    return {"Version": VERSION, "Statement": list(statements)}


def user_policy(scope: Scope, allowed_instance_types: list[str]) -> Policy:
    """What one data scientist may do: open Studio as their own profile; create, change
    and delete their own spaces (the owner is the profile their studiouserid tag names)
    and start and stop apps in them; start apps in shared spaces; start and stop their own
    Studio Classic apps; only on their allowed instance types, which a request must name;
    read the domain's listings. The rest (secrets, SSH) is `user_access_policy`."""
    d = scope.domain_id
    me = {"ArnLike": {"sagemaker:OwnerUserProfileArn": scope.own_profile(CALLER)}}
    # each request names its instance types (the Allows), and only allowed ones (the one
    # Deny, so the list is written once: IAM's 6144 characters hold many types)
    types = {"Null": {"sagemaker:InstanceTypes": "false"}}
    # which spaces take remote access is the team file's to say (apply, as the platform
    # team): a user may not switch it on, on a new space or their own
    team_file_says_remote_access = {
        "StringNotEqualsIfExists": {"sagemaker:RemoteAccess": "ENABLED"}
    }
    return _doc(
        {
            "Sid": "ListTheDomain",
            "Effect": "Allow",
            "Action": [
                "sagemaker:ListDomains",
                "sagemaker:ListApps",
                "sagemaker:ListSpaces",
                "sagemaker:ListUserProfiles",
            ],
            "Resource": ["*"],
        },
        {
            "Sid": "DescribeDomainSpacesApps",
            "Effect": "Allow",
            "Action": [
                "sagemaker:DescribeDomain",
                "sagemaker:DescribeSpace",
                "sagemaker:DescribeApp",
            ],
            "Resource": [
                scope.arn(f"domain/{d}"),
                scope.arn(f"space/{d}/*"),
                scope.arn(f"app/{d}/*"),
            ],
        },
        {
            "Sid": "OpenOwnStudio",
            "Effect": "Allow",
            "Action": ["sagemaker:CreatePresignedDomainUrl", "sagemaker:DescribeUserProfile"],
            "Resource": [scope.arn(f"user-profile/{d}/*")],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{TAG}": CALLER}},
        },
        {
            "Sid": "CreateOwnSpaces",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateSpace"],
            "Resource": [scope.arn(f"space/{d}/*")],
            "Condition": {
                **me,
                **team_file_says_remote_access,
                "StringEquals": {"sagemaker:SpaceSharingType": ["Private", "Shared"]},
            },
        },
        {
            "Sid": "TagOwnNewSpaces",
            "Effect": "Allow",
            "Action": ["sagemaker:AddTags"],
            "Resource": [scope.arn(f"space/{d}/*")],
            "Condition": {
                "StringEquals": {
                    "sagemaker:TaggingAction": "CreateSpace",
                    f"aws:RequestTag/{TAG}": CALLER,
                },
                "ForAllValues:StringEquals": {"aws:TagKeys": [TAG]},
            },
        },
        {
            "Sid": "UpdateOwnSpaces",
            "Effect": "Allow",
            "Action": ["sagemaker:UpdateSpace"],
            "Resource": [scope.arn(f"space/{d}/*")],
            "Condition": {**me, **types, **team_file_says_remote_access},
        },
        {
            "Sid": "DeleteOwnSpacesApps",
            "Effect": "Allow",
            "Action": ["sagemaker:DeleteSpace", "sagemaker:DeleteApp"],
            "Resource": [scope.arn(f"space/{d}/*"), scope.arn(f"app/{d}/*")],
            "Condition": me,
        },
        {
            "Sid": "AppsInOwnPrivateSpaces",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateApp"],
            "Resource": [scope.arn(f"app/{d}/*")],
            "Condition": {
                **me,
                **types,
                "StringEquals": {"sagemaker:SpaceSharingType": "Private"},
            },
        },
        {
            "Sid": "AppsInSharedSpaces",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateApp"],
            "Resource": [scope.arn(f"app/{d}/*")],
            "Condition": {**types, "StringEquals": {"sagemaker:SpaceSharingType": "Shared"}},
        },
        {
            "Sid": "AllowedInstanceTypesOnly",
            "Effect": "Deny",
            "Action": ["sagemaker:CreateSpace", "sagemaker:UpdateSpace", "sagemaker:CreateApp"],
            "Resource": [scope.arn(f"space/{d}/*"), scope.arn(f"app/{d}/*")],
            "Condition": {
                "ForAnyValue:StringNotEquals": {
                    "sagemaker:InstanceTypes": [*allowed_instance_types, "system"]
                }
            },
        },
        {
            "Sid": "OwnKernelGatewayApps",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateApp"],
            "Resource": [scope.arn(f"app/{d}/{CALLER}/kernelgateway/*")],
            "Condition": {
                **types,
                "Null": {
                    "sagemaker:InstanceTypes": "false",
                    "sagemaker:OwnerUserProfileArn": "true",
                },
            },
        },
        {
            "Sid": "OwnJupyterServerApp",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateApp"],
            "Resource": [scope.arn(f"app/{d}/{CALLER}/jupyterserver/*")],
            "Condition": {
                "Null": {"sagemaker:InstanceTypes": "false"},
                "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": ["system"]},
            },
        },
        {
            "Sid": "StopOwnClassicApps",
            "Effect": "Allow",
            "Action": ["sagemaker:DeleteApp"],
            "Resource": [scope.arn(f"app/{d}/{CALLER}/*")],
            "Condition": {"Null": {"sagemaker:OwnerUserProfileArn": "true"}},
        },
    )


def user_access_policy(scope: Scope) -> Policy:
    """What one data scientist may do beyond Studio itself, in a policy of its own (IAM
    takes 6144 characters per managed policy): store their own git token and
    remote-access keys; SSH into their own apps; connect by remote access to their own
    spaces (which spaces take it is the team file's to say)."""
    return _doc(
        {
            "Sid": "FindOwnAppsInSsm",
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeInstanceInformation",
                "ssm:GetCommandInvocation",
                "ssm:ListCommandInvocations",
            ],
            "Resource": ["*"],
        },
        {
            "Sid": "CreateOwnSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
            "Resource": [scope.secret(CALLER, "")],
            "Condition": {
                "StringEquals": {f"aws:RequestTag/{TAG}": CALLER},
                "ForAllValues:StringEquals": {"aws:TagKeys": [TAG, "managed-by"]},
            },
        },
        {
            # a git token, the public keys remote access lets in: the user's own
            "Sid": "UpdateOwnSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:PutSecretValue"],
            "Resource": [scope.secret(CALLER, "")],
        },
        {
            # the keys are read to add one (a token, once stored, is for the apps only)
            "Sid": "ReadOwnRemoteAccessKeys",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [scope.secret(CALLER, facts.ACCESS_KEYS)],
        },
        {
            "Sid": "RemoteAccessOwnSpaces",
            "Effect": "Allow",
            "Action": ["sagemaker:StartSession"],
            "Resource": [scope.arn(f"space/{scope.domain_id}/*")],
            "Condition": {"StringEquals": {f"sagemaker:ResourceTag/{TAG}": CALLER}},
        },
        {
            "Sid": "SshIntoOwnApps",
            "Effect": "Allow",
            "Action": ["ssm:StartSession", "ssm:SendCommand"],
            "Resource": [scope.ssm("managed-instance/*")],
            "Condition": {"StringEquals": {f"ssm:resourceTag/{SSH_OWNER}": CALLER}},
        },
        {
            "Sid": "SshDocuments",
            "Effect": "Allow",
            "Action": ["ssm:StartSession", "ssm:SendCommand"],
            # AWS-owned documents have no account in their ARN.
            "Resource": [f"arn:aws:ssm:{scope.region}::document/{name}" for name in SSH_DOCUMENTS],
        },
        {
            "Sid": "EndOwnSshSessions",
            "Effect": "Allow",
            "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
            "Resource": [scope.ssm("session/*")],
            "Condition": {"StringLike": {f"ssm:resourceTag/{SESSION_TAG}": "${aws:userid}"}},
        },
    )


def exec_admin_policy(scope: Scope, namespace: str) -> Policy:
    """What `smstudio exec` needs to run a command in anyone's app of this team's domain
    (the platform team helping a user): open Studio as any of the team's profiles
    (CreatePresignedDomainUrl: its only resource is the profile, a space is opened as a
    profile that may open it), after finding the domain and the app. Nothing else: not
    creating, changing or deleting apps, spaces or profiles."""
    d = scope.domain_id
    return _doc(
        {
            "Sid": "ExecFindTheDomain",
            "Effect": "Allow",
            "Action": ["sagemaker:ListDomains"],
            "Resource": ["*"],
        },
        {
            "Sid": "ExecDescribeApps",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeApp"],
            "Resource": [scope.arn(f"app/{d}/*")],
        },
        {
            "Sid": "ExecOpenTheTeamsProfiles",
            "Effect": "Allow",
            "Action": ["sagemaker:CreatePresignedDomainUrl"],
            "Resource": [scope.arn(f"user-profile/{d}/*")],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{facts.MANAGED_BY_TAG}": namespace}},
        },
    )


def remote_docker_statements(scope: Scope) -> list[dict[str, Any]]:
    """Studio Classic apps to their own user's Docker engine (smstudio docker-host): its
    door only (SSHOwner = the session's user), by Run Command for the key and an SSH
    session; the command's result is readable (GetCommandInvocation has no resource)."""
    return [
        {
            "Sid": "OwnDockerEngine",
            "Effect": "Allow",
            "Action": ["ssm:SendCommand", "ssm:StartSession"],
            "Resource": [scope.ssm("managed-instance/*")],
            "Condition": {
                "StringEquals": {
                    f"ssm:resourceTag/{SSH_OWNER}": APP_USER,
                    "ssm:resourceTag/SSHResourceName": "docker-engine",
                }
            },
        },
        {
            "Sid": "DockerEngineDocuments",
            "Effect": "Allow",
            "Action": ["ssm:SendCommand", "ssm:StartSession"],
            "Resource": [f"arn:aws:ssm:{scope.region}::document/{name}" for name in SSH_DOCUMENTS],
        },
        {
            "Sid": "DockerEngineKeyPushResult",
            "Effect": "Allow",
            "Action": ["ssm:GetCommandInvocation"],
            "Resource": ["*"],
        },
    ]


def starter_statements(bucket: str, starter_s3: str | None) -> list[dict[str, Any]]:
    """Reading the team's starter content when it is in a bucket other than the team's
    (which apps read already): its prefix only."""
    if not starter_s3:
        return []
    source, _, prefix = starter_s3.removeprefix("s3://").partition("/")
    if source == bucket:
        return []
    return [
        {
            "Sid": "ReadStarterContent",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{source}/{prefix}*"],
        },
        {
            "Sid": "ListStarterContent",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{source}"],
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
    ]


def execution_role_policy(
    scope: Scope,
    bucket: str,
    ssm_instance_role: str,
    remote_docker: bool = False,
    starter_s3: str | None = None,
) -> Policy:
    """What apps run with. Everything personal is confined to the app's own user, the
    session's SourceIdentity: its git token, its SSM registrations (the SSHOwner tag),
    its idle KernelGateway apps, its profile's tags, its remote Docker engine."""
    d = scope.domain_id
    logs = f"arn:aws:logs:{scope.region}:{scope.account}:log-group"
    extra = remote_docker_statements(scope) if remote_docker else []
    extra += starter_statements(bucket, starter_s3)
    return _doc(
        {
            "Sid": "TeamBucket",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/*"],
        },
        {
            "Sid": "ListTeamBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
        },
        {
            "Sid": "PullTeamImages",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
            ],
            "Resource": [f"arn:aws:ecr:{scope.region}:{scope.account}:repository/smstudio/*"],
        },
        {
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": ["*"],
        },
        {
            "Sid": "StudioLogsAndHomeUsage",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:CreateLogGroup"],
            "Resource": [
                f"{logs}:/aws/sagemaker/*",
                f"{logs}:{usage.GROUP}",
                f"{logs}:{usage.GROUP}:log-stream:{d}/*",
            ],
        },
        {
            "Sid": "SecretsOfTheAppsUser",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [scope.secret(APP_USER, "")],
            "Condition": {"StringEquals": {f"secretsmanager:ResourceTag/{TAG}": APP_USER}},
        },
        {
            "Sid": "OwnProfileForGitIdentity",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeUserProfile", "sagemaker:ListTags"],
            "Resource": [scope.own_profile(APP_USER)],
        },
        {
            "Sid": "SpaceOwners",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeSpace"],
            "Resource": [scope.arn(f"space/{d}/*")],
        },
        {
            "Sid": "RegisterOwnAppsWithSsm",
            "Effect": "Allow",
            "Action": ["ssm:CreateActivation"],
            "Resource": ["*"],
            "Condition": {
                "StringEquals": {f"aws:RequestTag/{SSH_OWNER}": APP_USER},
                "StringLike": {"aws:RequestTag/SSHResourceArn": scope.arn(f"app/{d}/*")},
                "ForAllValues:StringEquals": {"aws:TagKeys": SSH_TAGS},
            },
        },
        {
            "Sid": "FindManagedInstances",
            "Effect": "Allow",
            "Action": ["ssm:DescribeInstanceInformation"],
            "Resource": ["*"],
        },
        {
            "Sid": "RetireOwnManagedInstances",
            "Effect": "Allow",
            "Action": ["ssm:DeregisterManagedInstance"],
            "Resource": [scope.ssm("managed-instance/*")],
            "Condition": {"StringEquals": {f"ssm:resourceTag/{SSH_OWNER}": APP_USER}},
        },
        {
            "Sid": "PassTheManagedInstanceRole",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [scope.role(ssm_instance_role)],
            "Condition": {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}},
        },
        {
            "Sid": "IdleShutdownOfOwnKernelGatewayApps",
            "Effect": "Allow",
            "Action": ["sagemaker:DeleteApp"],
            "Resource": [scope.arn(f"app/{d}/{APP_USER}/kernelgateway/*")],
        },
        *extra,
    )


def ssm_instance_policy() -> Policy:
    """The role of the apps' SSM managed instances (the activation's role): the agent's
    own channels for Run Command and Session Manager, nothing of the account's data."""
    return _doc(
        {
            "Sid": "SsmAgentChannels",
            "Effect": "Allow",
            "Action": [
                "ssm:UpdateInstanceInformation",
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
                "ec2messages:AcknowledgeMessage",
                "ec2messages:DeleteMessage",
                "ec2messages:FailMessage",
                "ec2messages:GetEndpoint",
                "ec2messages:GetMessages",
                "ec2messages:SendReply",
            ],
            "Resource": ["*"],
        }
    )


def reminders_policy(scope: Scope, function: str, sender: str, templates: list[str]) -> Policy:
    """The reminders' Lambda role: list the apps and spaces (SageMaker's List actions take
    no resource), read the tags of this domain's user profiles (their email), send
    templated email from the team's sender identity with its own templates only, and
    write its own log group."""
    ses = f"arn:aws:ses:{scope.region}:{scope.account}"
    group = f"arn:aws:logs:{scope.region}:{scope.account}:log-group:/aws/lambda/{function}"
    return _doc(
        {
            "Sid": "ListAppsAndSpaces",
            "Effect": "Allow",
            "Action": ["sagemaker:ListApps", "sagemaker:ListSpaces"],
            "Resource": ["*"],
        },
        {
            "Sid": "ReadProfileEmails",
            "Effect": "Allow",
            "Action": ["sagemaker:ListTags"],
            "Resource": [scope.arn(f"user-profile/{scope.domain_id}/*")],
        },
        {
            "Sid": "SendFromTheTeamSender",
            "Effect": "Allow",
            "Action": ["ses:SendTemplatedEmail"],
            "Resource": [f"{ses}:identity/{sender}", *(f"{ses}:template/{t}" for t in templates)],
        },
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group, f"{group}:log-stream:*"],
        },
    )


def service_trust_policy(service: str) -> Policy:
    return _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": ["sts:AssumeRole"],
        }
    )


def ssm_trust_policy() -> Policy:
    """Trust for the managed-instance role: SSM assumes it for registered apps."""
    return service_trust_policy("ssm.amazonaws.com")


def sagemaker_trust_policy() -> Policy:
    """Trust for the execution role: SageMaker assumes it for apps, setting the user
    profile as the session's SourceIdentity (ExecutionRoleIdentityConfig)."""
    return _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:SetContext", "sts:SetSourceIdentity"],
        }
    )


def user_trust_policy(account: str, saml_provider: str | None = None) -> Policy:
    """Who may become a user: anyone in the account whose own policy allows assuming the
    role (the default: an admin or an SSO permission set grants it), or the users an IAM
    Identity Center/SAML provider signs in. Session tags may never name a studiouserid:
    they would override the role's own tag, and with it whose things the session reaches."""
    no_identity_tags = {"ForAllValues:StringNotEqualsIgnoreCase": {"aws:TagKeys": [TAG]}}
    if saml_provider:
        return _doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": saml_provider},
                "Action": ["sts:AssumeRoleWithSAML"],
                "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            },
            {
                "Effect": "Allow",
                "Principal": {"Federated": saml_provider},
                "Action": ["sts:TagSession"],
                "Condition": no_identity_tags,
            },
        )
    return _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": ["sts:AssumeRole"],
        }
    )


def oidc_provider_arn(account: str, issuer: str) -> str:
    return f"arn:aws:iam::{account}:oidc-provider/{issuer}"


def ci_trust_policy(
    account: str, region: str, provider: str, repository: str, branch: str, gitlab_host: str
) -> Policy:
    """Who may become the CI role: GitHub's or GitLab's OIDC tokens for a push to `branch`
    of `repository` only (a pull request's token has another subject: it gets no AWS
    access at all), or, for CodeBuild, the service building that project of this account."""
    if provider == "codebuild":
        project = f"arn:aws:codebuild:{region}:{account}:project/{repository}"
        return _doc(
            {
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": ["sts:AssumeRole"],
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": project},
                },
            }
        )
    issuer, audience = facts.ci_issuer(provider, gitlab_host)
    return _doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn(account, issuer)},
            "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Condition": {
                "StringEquals": {
                    f"{issuer}:aud": audience,
                    f"{issuer}:sub": facts.ci_subject(provider, repository, branch),
                }
            },
        }
    )


ECR_PUSH = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:CreateRepository",
    "ecr:TagResource",
]


def ci_policy(
    scope: Scope,
    namespace: str,
    images: list[str],
    repositories: list[str],
    codebuild_project: str | None = None,
) -> Policy:
    """What `smstudio ci run` does after the tests, and nothing else: push to the team's
    image repositories (cache included), add versions to the team's images and bring
    their app image configs up to date, under the team's apply lock. It cannot create an
    image (that passes the image role: the admin's first apply does it), touch the
    domain, users or IAM, or push anywhere else."""
    ecr = f"arn:aws:ecr:{scope.region}:{scope.account}:repository"
    statements: list[dict[str, Any]] = [
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"],
         "Resource": "*"},
        {"Sid": "PushTeamImages", "Effect": "Allow", "Action": ECR_PUSH,
         "Resource": [f"{ecr}/{r}" for r in sorted(set(repositories))]},
        {"Sid": "ListForThePlan", "Effect": "Allow",
         "Action": ["sagemaker:ListImages", "sagemaker:ListAppImageConfigs"], "Resource": "*"},
        {"Sid": "VersionTeamImages", "Effect": "Allow",
         "Action": ["sagemaker:CreateImageVersion", "sagemaker:DescribeImage",
                    "sagemaker:DescribeImageVersion", "sagemaker:ListImageVersions",
                    "sagemaker:ListTags"],
         "Resource": [scope.arn(f"image/{i}") for i in sorted(images)]
         + [scope.arn(f"image-version/{i}/*") for i in sorted(images)]},
        {"Sid": "TeamAppImageConfigs", "Effect": "Allow",
         "Action": ["sagemaker:DescribeAppImageConfig", "sagemaker:UpdateAppImageConfig"],
         "Resource": [scope.arn(f"app-image-config/{i}") for i in sorted(images)]},
        {"Sid": "ApplyLock", "Effect": "Allow",
         "Action": ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
         "Resource": scope.ssm(f"parameter/smstudio/{namespace}/apply-lock")},
    ]  # fmt: skip
    if codebuild_project:
        group = (
            f"arn:aws:logs:{scope.region}:{scope.account}:log-group:/aws/codebuild/"
            f"{codebuild_project}"
        )
        statements.append(
            {
                "Sid": "BuildLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [group, f"{group}:log-stream:*"],
            }
        )
    return _doc(*statements)
