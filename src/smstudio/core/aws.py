"""The one place that creates AWS clients.

Profile and region come from the arguments, else the usual AWS environment. Endpoints:
botocore itself honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (e.g.
AWS_ENDPOINT_URL_SAGEMAKER); an explicit override here wins over both, which is how the
local Studio is addressed in tests. Retries use botocore's standard mode with backoff.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
import botocore.config

DEFAULT_REGION = "us-east-1"
# Retries under throttling (botocore's standard mode); SMSTUDIO_AWS_MAX_ATTEMPTS moves it
# (tests that throttle on purpose).
MAX_ATTEMPTS = int(os.environ.get("SMSTUDIO_AWS_MAX_ATTEMPTS", "8"))
DEFAULT_PROFILE: str | None = None  # `smstudio --profile NAME`: wins over AWS_PROFILE


def env_endpoint(service: str, environ: dict[str, str] | None = None) -> str | None:
    """The endpoint the environment sets for a service: AWS_ENDPOINT_URL_<SERVICE> (the
    service id upper-cased, spaces and dashes as underscores), else AWS_ENDPOINT_URL."""
    env = os.environ if environ is None else environ
    key = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_").replace(" ", "_")
    return env.get(key) or env.get("AWS_ENDPOINT_URL") or None


@dataclass
class Aws:
    profile: str | None = None
    region: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)  # service -> URL, wins over env
    max_attempts: int = MAX_ATTEMPTS
    event_hooks: list[tuple[str, Any]] = field(default_factory=list)
    # Explicit credentials (AccessKeyId, SecretAccessKey[, SessionToken]) instead of the
    # usual chain: the local Studio's own services.
    keys: dict[str, str] = field(default_factory=dict)

    @cached_property
    def session(self) -> boto3.session.Session:
        explicit = {}
        if self.keys:
            explicit = {
                "aws_access_key_id": self.keys["AccessKeyId"],
                "aws_secret_access_key": self.keys["SecretAccessKey"],
                "aws_session_token": self.keys.get("SessionToken"),
            }
        profile = None if self.keys else (self.profile or DEFAULT_PROFILE)
        session = boto3.session.Session(profile_name=profile, region_name=self.region, **explicit)
        if session.region_name is None:
            session = boto3.session.Session(
                profile_name=profile, region_name=DEFAULT_REGION, **explicit
            )
        return session

    def config(self, connections: int = 10) -> botocore.config.Config:
        return botocore.config.Config(
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            user_agent_extra="smstudio",
            max_pool_connections=connections,
        )

    def client(self, service: str, connections: int = 10) -> Any:
        """A client; `connections` for one shared by that many threads."""
        endpoint = self.endpoints.get(service) or env_endpoint(service)
        made = self.session.client(service, config=self.config(connections), endpoint_url=endpoint)
        for event, handler in self.event_hooks:
            made.meta.events.register(event, handler)
        return made
