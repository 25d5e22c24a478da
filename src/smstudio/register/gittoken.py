"""A user's git token in Secrets Manager, where the lifecycle scripts' credential helper
fetches it when git asks (never written to the home). One secret per domain and user,
tagged with the user's `studiouserid`."""

from __future__ import annotations

from typing import Any

from smstudio.core import facts
from smstudio.core.errors import BadInput
from smstudio.core.sagemaker import SageMaker


def secret_name(domain_id: str, user: str) -> str:
    return facts.user_secret_name(domain_id, user, facts.GIT_TOKEN)


def store(sm: SageMaker, secrets: Any, domain_id: str, user: str, token: str) -> str:
    """Create or update the secret; 'created' or 'updated'."""
    token = token.strip()
    if not token or "\n" in token:
        raise BadInput(
            "the git token is empty or spans several lines",
            "paste the token alone, e.g. `smstudio git-token set USER < token.txt`",
        )
    if sm.profile(domain_id, user) is None:
        raise BadInput(
            f"user {user} has no profile in domain {domain_id}",
            "check the name, or add the user to the team file and run `smstudio apply`",
        )
    name = secret_name(domain_id, user)
    try:
        secrets.put_secret_value(SecretId=name, SecretString=token)
        return "updated"
    except secrets.exceptions.ResourceNotFoundException:
        secrets.create_secret(
            Name=name,
            SecretString=token,
            Description=f"git token of {user} in {domain_id}, read by the smstudio git helper",
            Tags=[
                {"Key": facts.STUDIO_USER_TAG, "Value": user},
                {"Key": "managed-by", "Value": "smstudio"},
            ],
        )
        return "created"
