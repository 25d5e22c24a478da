"""The Service Authorization Reference, as parliament ships it (iam_definition.json): for
each action its resource types (with their ARN templates) and condition keys. Read once."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    name: str
    arn: str  # template, e.g. arn:${Partition}:sagemaker:${Region}:${Account}:app/${DomainId}/...
    required: bool
    keys: tuple[str, ...]  # condition keys of the resource type


@dataclass(frozen=True)
class Action:
    service: str  # IAM prefix
    name: str
    resources: tuple[ResourceType, ...]
    keys: tuple[str, ...]  # condition keys the action itself supports
    dependent: tuple[str, ...]


# Where several services share an IAM prefix, the one whose actions the local Studio's
# clients call: `ses` is SES's v1 API (SendTemplatedEmail, ...), then the others.
PREFERRED = {"ses": "Amazon SES"}


@cache
def _data() -> dict[str, list[dict[str, Any]]]:
    """Services by IAM prefix: the preferred one first, then the others, the last listed
    first."""
    text = resources.files("parliament").joinpath("iam_definition.json").read_text()
    found: dict[str, list[dict[str, Any]]] = {}
    for service in reversed(json.loads(text)):
        found.setdefault(service["prefix"], []).append(service)
    for prefix, services in found.items():
        services.sort(key=lambda s: s["service_name"] != PREFERRED.get(prefix))
    return found


def _normal(key: str) -> str:
    """`ssm:resourceTag/tag-key`, `aws:RequestTag/${TagKey}` -> `.../*`, lower-case."""
    return re.sub(r"/(\$\{TagKey\}|tag-key|<key>)$", "/*", key).lower()


# What the Service Authorization Reference has and parliament's copy does not yet:
# SageMaker's remote access (StartSession on a space; sagemaker:RemoteAccess, the value of
# SpaceSettings.RemoteAccess, on CreateSpace and UpdateSpace).
ADDED_PRIVILEGES: dict[str, list[dict[str, Any]]] = {
    "sagemaker": [
        {
            "privilege": "StartSession",
            "resource_types": [
                {"resource_type": "space*", "condition_keys": [], "dependent_actions": []}
            ],
        }
    ],
}
ADDED_KEYS = {("sagemaker", "createspace"): ["sagemaker:RemoteAccess"],
              ("sagemaker", "updatespace"): ["sagemaker:RemoteAccess"]}  # fmt: skip


def _privilege(prefix: str, service: dict[str, Any], name: str) -> dict[str, Any] | None:
    listed = [*service["privileges"], *ADDED_PRIVILEGES.get(prefix, [])]
    found = next((p for p in listed if p["privilege"].lower() == name.lower()), None)
    extra = ADDED_KEYS.get((prefix, name.lower()))
    if found is None or not extra:
        return found
    keys = {"resource_type": "", "condition_keys": extra, "dependent_actions": []}
    return {**found, "resource_types": [*found["resource_types"], keys]}


@cache
def action(prefix: str, name: str) -> Action | None:
    found, service = None, {}
    for service in _data().get(prefix, []):
        found = _privilege(prefix, service, name)
        if found is not None:
            break
    if found is None:
        return None
    templates = {r["resource"]: r for r in service["resources"]}
    kinds: list[ResourceType] = []
    keys: list[str] = []
    dependent: list[str] = []
    for entry in found["resource_types"]:
        kind = entry["resource_type"]
        dependent += entry["dependent_actions"]
        if not kind:
            keys += entry["condition_keys"]
            continue
        required = kind.endswith("*")
        template = templates.get(kind.rstrip("*"))
        if template is None:
            continue
        kinds.append(
            ResourceType(
                kind.rstrip("*"),
                template["arn"],
                required,
                tuple(_normal(k) for k in template["condition_keys"]),
            )
        )
        keys += entry["condition_keys"]
    return Action(
        prefix,
        found["privilege"],
        tuple(kinds),
        tuple(sorted({_normal(k) for k in keys})),
        tuple(dependent),
    )


def supports(action_: Action | None, resource: ResourceType | None, key: str) -> bool:
    """Whether a service-specific condition key is in this request's context: listed by
    the action or by the resource type (`x:ResourceTag/k` matches `x:resourcetag/*`)."""
    if action_ is None:
        return False
    wanted = key.lower()
    listed = set(action_.keys) | set(resource.keys if resource else ())
    if wanted in listed:
        return True
    head, slash, _ = wanted.partition("/")
    return bool(slash) and f"{head}/*" in listed
