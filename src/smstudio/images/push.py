"""Push built images to ECR: create the repository if missing, log in with
GetAuthorizationToken, push, and return the digest. Against the local Studio
(SMSTUDIO_LOCAL_REGISTRY set) the same calls run against moto's ECR and the image goes
to the local registry that ECR URIs map to."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import docker
import requests
from rich.console import Console

from smstudio.core import aws, dockerhost, facts
from smstudio.core.errors import SmstudioError
from smstudio.local import registry


@dataclass(frozen=True)
class Pushed:
    uri: str  # the ECR URI with its tag, as image versions name it
    digest: str  # the manifest's (a registry may re-compress: it can change for the same image)
    config: str = ""  # the image's config digest: the same image, the same value

    @property
    def pinned(self) -> str:
        return f"{self.uri.rsplit(':', 1)[0]}@{self.digest}"


def ensure_repository(ecr: Any, name: str) -> str:
    """The repository's URI, creating it (scan on push, immutable tags off) if missing."""
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        found = ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            tags=[{"Key": "managed-by", "Value": "smstudio"}],
        )["repository"]
    return str(found["repositoryUri"])


def login(ecr: Any) -> dict[str, str]:
    """Docker credentials from GetAuthorizationToken (user AWS, a 12-hour password)."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"username": user, "password": password, "serveraddress": data["proxyEndpoint"]}


def push(
    local_ref: str,
    target: str,
    tag: str,
    clients: aws.Aws,
    console: Console,
    repository: str | None = None,
) -> Pushed:
    """Push to `repository` (default: smstudio/<target>)."""
    engine = dockerhost.client()
    image = dockerhost.get_image(local_ref)
    ecr = clients.client("ecr")
    repository_uri = ensure_repository(ecr, repository or facts.ecr_repository(target))
    credentials = login(ecr)
    uri = f"{repository_uri}:{tag}"
    local_registry = os.environ.get("SMSTUDIO_LOCAL_REGISTRY")
    destination = registry.to_local(uri, local_registry) if local_registry else uri
    if destination is None:
        raise SmstudioError(f"{uri} is not an ECR URI", "check the ECR endpoint and region")
    repository, _, push_tag = destination.rpartition(":")
    auth = None if local_registry else credentials
    image.tag(repository, push_tag)
    try:
        digest = _stream_push(engine, repository, push_tag, auth, f"{local_ref} -> {uri}", console)
    finally:
        if local_registry:
            engine.images.remove(destination, noprune=True)
    if not digest:
        raise SmstudioError(f"the registry reported no digest for {uri}", "push again")
    return Pushed(uri, digest, str(image.id))


def _manifest(repository: str, digest: str, clients: aws.Aws) -> dict[str, Any]:
    """An image manifest from ECR (the local registry for the local Studio); {} when it
    cannot be read."""
    local_registry = os.environ.get("SMSTUDIO_LOCAL_REGISTRY")
    try:
        if local_registry:
            local = registry.to_local(f"{repository}:x", local_registry)
            if local is None:
                return {}
            host, _, repo = local.rpartition(":")[0].partition("/")
            url = f"http://{host}/v2/{repo}/manifests/{digest}"
            answer = requests.get(url, headers={"Accept": registry.MANIFEST_TYPES}, timeout=10)
            return dict(answer.json()) if answer.status_code == 200 else {}
        name = repository.split("/", 1)[1] if "/" in repository else repository
        images = clients.client("ecr").batch_get_image(
            repositoryName=name, imageIds=[{"imageDigest": digest}]
        )["images"]
        return dict(json.loads(images[0]["imageManifest"])) if images else {}
    except Exception:  # unreadable: the caller compares manifests instead
        return {}


def config_digest(pinned: str, clients: aws.Aws) -> str | None:
    """The config digest of an image in ECR (`<repo uri>@sha256:…`; an index is followed
    to its linux/amd64 image): what says whether two pushes are the same image. None when
    it cannot be read."""
    repository, _, digest = pinned.partition("@")
    if not digest:
        return None
    manifest = _manifest(repository, digest, clients)
    for entry in manifest.get("manifests", []):
        if (entry.get("platform") or {}).get("architecture") == "amd64":
            manifest = _manifest(repository, entry["digest"], clients)
            break
    found = (manifest.get("config") or {}).get("digest")
    return str(found) if found else None


def _stream_push(
    engine: docker.DockerClient,
    repository: str,
    tag: str,
    auth: dict[str, str] | None,
    label: str,
    console: Console,
) -> str:
    """Push with progress; the digest the registry reported, or '' if none."""
    digest = ""
    fix = "check the registry is reachable and your credentials (smstudio local status)"
    try:
        with console.status(f"pushing {label}", spinner="dots") as status:
            events = engine.images.push(repository, tag, stream=True, decode=True, auth_config=auth)
            for event in events:
                if "error" in event:
                    raise SmstudioError(f"pushing {label} failed: {event['error']}", fix)
                if event.get("aux", {}).get("Digest"):
                    digest = event["aux"]["Digest"]
                elif "status" in event:
                    status.update(f"{label}: {event['status']} {event.get('progress', '')}"[:100])
    except docker.errors.APIError as exc:
        raise SmstudioError(f"pushing {label} failed: {exc}", fix) from exc
    return str(digest)
