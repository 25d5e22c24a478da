"""IAM policies as pure builders: data in, policy documents out. Linted by parliament in
tests; printed by `smstudio iam policy`.

Users are confined to their own profile: every user profile carries a `studiouserid`
tag (its user name) and the user's policy only allows acting on resources whose
`aws:ResourceTag/studiouserid` equals the caller's `aws:PrincipalTag/studiouserid` (an
IAM user tag or a session tag from your identity provider). Inside Studio, apps share the
execution role; `apply` sets the domain's ExecutionRoleIdentityConfig to
USER_PROFILE_NAME, so each app's session carries its user as `aws:SourceIdentity` and a
user's git token is readable only from that user's apps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smstudio import usage

Policy = dict[str, Any]
TAG = "studiouserid"
CALLER = "${aws:PrincipalTag/" + TAG + "}"
APP_USER = "${aws:SourceIdentity}"
SSH_OWNER = "SSHOwner"  # the tag apps register their SSM managed instance with
SSM_INSTANCE_ROLE = "smstudio-ssm-instance"
VERSION = "2012-10-17"


@dataclass(frozen=True)
class Scope:
    account: str
    region: str
    domain_id: str

    def arn(self, resource: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}"

    def ssm(self, resource: str) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:{resource}"

    def secret(self, user: str) -> str:
        """Users' git tokens (smstudio.gittoken); Secrets Manager adds a 6-character suffix."""
        prefix = f"arn:aws:secretsmanager:{self.region}:{self.account}:secret"
        return f"{prefix}:smstudio/{self.domain_id}/{user}/git-token-*"


def _doc(*statements: dict[str, Any]) -> Policy:
    return {"Version": VERSION, "Statement": list(statements)}


def user_policy(scope: Scope, allowed_instance_types: list[str]) -> Policy:
    """What one data scientist may do: open Studio and manage apps and spaces only in
    their own profile, on the allowed instance types; list and describe read-only."""
    own = {"StringEquals": {f"aws:ResourceTag/{TAG}": CALLER}}
    d = scope.domain_id
    return _doc(
        {
            "Sid": "OpenOwnStudio",
            "Effect": "Allow",
            "Action": ["sagemaker:CreatePresignedDomainUrl"],
            "Resource": [scope.arn(f"user-profile/{d}/*")],
            "Condition": own,
        },
        {
            "Sid": "StartOwnAppsOnAllowedInstanceTypes",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateApp"],
            "Resource": [scope.arn(f"app/{d}/*")],
            "Condition": {
                **own,
                "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": allowed_instance_types},
            },
        },
        {
            "Sid": "ManageOwnAppsAndSpaces",
            "Effect": "Allow",
            "Action": [
                "sagemaker:DeleteApp",
                "sagemaker:DescribeApp",
                "sagemaker:UpdateSpace",
                "sagemaker:DescribeSpace",
            ],
            "Resource": [scope.arn(f"app/{d}/*"), scope.arn(f"space/{d}/*")],
            "Condition": own,
        },
        {
            "Sid": "DescribeOwnProfile",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeUserProfile"],
            "Resource": [scope.arn(f"user-profile/{d}/*")],
            "Condition": own,
        },
        {
            "Sid": "StoreOwnGitToken",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:CreateSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:TagResource",
            ],
            "Resource": [scope.secret(CALLER)],
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
            "Resource": [
                # AWS-owned documents have no account in their ARN; * matches that.
                f"arn:aws:ssm:{scope.region}:*:document/AWS-StartSSHSession",
                f"arn:aws:ssm:{scope.region}:*:document/AWS-RunShellScript",
            ],
        },
        {
            "Sid": "OwnSshSessions",
            "Effect": "Allow",
            "Action": ["ssm:TerminateSession", "ssm:ResumeSession"],
            "Resource": [scope.ssm("session/${aws:userid}-*")],
        },
        {
            "Sid": "DescribeTeamDomain",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeDomain"],
            "Resource": [scope.arn(f"domain/{d}")],
        },
        {
            "Sid": "ReadOnlyListing",
            "Effect": "Allow",
            "Action": [
                "sagemaker:ListApps",
                "sagemaker:ListSpaces",
                "sagemaker:ListUserProfiles",
                "ssm:DescribeInstanceInformation",
                "ssm:ListCommandInvocations",
                "ssm:GetCommandInvocation",
            ],
            "Resource": ["*"],
        },
    )


def execution_role_policy(scope: Scope, bucket: str) -> Policy:
    """What apps run with: the team bucket, pulling the team's images, Studio logs."""
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
                f"arn:aws:logs:{scope.region}:{scope.account}:log-group:/aws/sagemaker/*",
                f"arn:aws:logs:{scope.region}:{scope.account}:log-group:{usage.GROUP}:*",
            ],
        },
        {
            "Sid": "GitTokenOfTheAppsUser",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [scope.secret("*")],
            "Condition": {"StringEquals": {f"secretsmanager:ResourceTag/{TAG}": APP_USER}},
        },
        {
            "Sid": "GitIdentityFromProfileTags",
            "Effect": "Allow",
            "Action": [
                "sagemaker:DescribeUserProfile",
                "sagemaker:DescribeSpace",
                "sagemaker:ListTags",
            ],
            "Resource": [
                scope.arn(f"user-profile/{scope.domain_id}/*"),
                scope.arn(f"space/{scope.domain_id}/*"),
            ],
        },
        {
            "Sid": "RegisterAppsWithSsm",
            "Effect": "Allow",
            "Action": ["ssm:CreateActivation", "ssm:DescribeInstanceInformation"],
            "Resource": ["*"],
        },
        {
            "Sid": "PassTheManagedInstanceRole",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [f"arn:aws:iam::{scope.account}:role/{SSM_INSTANCE_ROLE}"],
            "Condition": {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}},
        },
        {
            "Sid": "TagAndRetireManagedInstances",
            "Effect": "Allow",
            "Action": ["ssm:AddTagsToResource", "ssm:DeregisterManagedInstance"],
            "Resource": [scope.ssm("managed-instance/*"), scope.ssm("activation/*")],
        },
        {
            "Sid": "IdleKernelGatewayShutdown",
            "Effect": "Allow",
            "Action": ["sagemaker:DeleteApp"],
            "Resource": [scope.arn(f"app/{scope.domain_id}/*/kernelgateway/*")],
        },
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


def ssm_trust_policy() -> Policy:
    """Trust for the managed-instance role: SSM assumes it for registered apps."""
    return _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "ssm.amazonaws.com"},
            "Action": ["sts:AssumeRole"],
        }
    )


def sagemaker_trust_policy() -> Policy:
    """Trust for the execution role and the role images are created with."""
    return _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:SetContext"],
        }
    )
