"""IAM policy evaluation with AWS's logic, pure: policies and a request in, a decision out.

The local Studio asks it before serving any request; its decision table is in
tests/unit/test_evaluator.py (the evaluator itself) and tests/unit/test_policy_decisions.py
(smstudio's own policies), the second also run against AWS's policy simulator in the
opt-in real-AWS tier.

What it implements, as the IAM policy evaluation logic documents it for one account
(no SCPs, permission boundaries or session policies):

- an explicit Deny beats an Allow, which beats the implicit deny;
- `Action`/`NotAction` (case-insensitive) and `Resource`/`NotResource` with `*` and `?`;
- policy variables in resources and condition values (`${aws:PrincipalTag/k}`,
  `${aws:SourceIdentity}`, `${aws:userid}`, ..., `${key, 'default'}` and the `${*}`,
  `${?}`, `${$}` escapes); a variable whose key is absent matches nothing;
- the condition operators String*, Arn* (each of the six ARN parts matched on its own),
  Numeric*, Date*, Bool, IpAddress, Null, each
  with `IfExists`, and the `ForAllValues:`/`ForAnyValue:` set qualifiers: a missing key
  fails a positive operator and passes a negated one; ForAllValues passes when the key is
  missing or empty, ForAnyValue then fails;
- resource-based trust policies for sts:AssumeRole (`principal_allowed`).

Condition keys are looked up case-insensitively; their values are case-sensitive.

Why our own: of the evaluators on PyPI, moto's access control evaluates only StringEquals,
substitutes no variables and treats a failed condition of an Allow as a deny; principalmapper
substitutes no variables in condition values, is AGPL and unreleased since 2022; the others
(parliament, policy_sentry, cloudsplaining, policyuniverse, iamprover, ...) lint, expand or
over-approximate but do not decide a request.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

Policy = Mapping[str, Any]
Value = str | Sequence[str]


class Decision(enum.Enum):
    ALLOW = "allowed"
    IMPLICIT_DENY = "implicitDeny"
    EXPLICIT_DENY = "explicitDeny"


@dataclass(frozen=True)
class Request:
    """One action on one resource, with the request's condition keys."""

    action: str  # "sagemaker:CreateApp"
    resource: str  # an ARN, or "*" for actions without a resource type
    context: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        normal = {k.lower(): _values(v) for k, v in self.context.items() if v is not None}
        object.__setattr__(self, "context", normal)

    def get(self, key: str) -> tuple[str, ...] | None:
        found: tuple[str, ...] | None = self.context.get(key.lower())  # type: ignore[assignment]
        return found


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    statement: str | None = None  # Sid (or index) of the statement that decided

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


def _values(value: Any) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, str | int | float):
        return (str(value),)
    return tuple("true" if v is True else "false" if v is False else str(v) for v in value)


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(policy: Policy) -> list[Mapping[str, Any]]:
    found = policy.get("Statement", [])
    return _listed(found)


# --- wildcards and variables ------------------------------------------------------


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _glob(pattern, ignore_case).fullmatch(value) is not None


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "\x00star\x00", "?": "\x00qm\x00", "$": "$"}


class Unresolved(Exception):
    """A policy variable whose key the request does not have."""


def substitute(text: str, request: Request, escape_wildcards: bool = False) -> str:
    """Replace ${...} variables with the request's values. Raises Unresolved for a
    variable whose key is absent (and has no default). With `escape_wildcards`, `${*}`
    and `${?}` become placeholders that `literal` turns back into plain characters."""
    if "${" not in text:
        return text

    def one(found: re.Match[str]) -> str:
        inside = found.group(1)
        if inside in _ESCAPES:
            return _ESCAPES[inside] if escape_wildcards else inside
        key, _, default = inside.partition(",")
        values = request.get(key.strip())
        if values:
            return values[0]
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        raise Unresolved(key)

    return _VARIABLE.sub(one, text)


def _pattern_match(pattern: str, value: str, request: Request, ignore_case: bool = False) -> bool:
    """`value` against a policy pattern that may hold variables and escaped wildcards."""
    resolved = substitute(pattern, request, escape_wildcards=True)
    if "\x00" in resolved:  # ${*} / ${?}: literal characters, not wildcards
        pieces = re.split("(\x00star\x00|\x00qm\x00)", resolved)
        regex = "".join(
            re.escape("*") if p == "\x00star\x00" else re.escape("?") if p == "\x00qm\x00"
            else _glob(p, ignore_case).pattern for p in pieces
        )  # fmt: skip
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        return re.fullmatch(regex, value, flags) is not None
    return like(resolved, value, ignore_case)


# --- conditions -------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    number = _number(text)
    if number is not None:
        return number
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def _compare(kind: str, relation: str, value: str, wanted: str) -> bool:
    convert = _number if kind == "Numeric" else _date
    left, right = convert(value), convert(wanted)
    if left is None or right is None:
        return False
    return {
        "Equals": left == right,
        "LessThan": left < right,
        "LessThanEquals": left <= right,
        "GreaterThan": left > right,
        "GreaterThanEquals": left >= right,
    }[relation]


def _in_network(value: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}
_POSITIVE = {
    "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike",
    "NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan",
    "NumericGreaterThanEquals", "DateEquals", "DateLessThan", "DateLessThanEquals",
    "DateGreaterThan", "DateGreaterThanEquals", "Bool", "IpAddress",
}  # fmt: skip


class UnknownOperator(ValueError):
    pass


def _matches(operator: str, value: str, wanted: str, request: Request) -> bool:
    """One context value against one policy value, for a positive operator."""
    if operator == "StringEquals":
        return value == substitute(wanted, request)
    if operator == "StringEqualsIgnoreCase":
        return value.lower() == substitute(wanted, request).lower()
    if operator == "StringLike":
        return _pattern_match(wanted, value, request)
    if operator in ("ArnEquals", "ArnLike"):  # each of the six parts on its own
        patterns = substitute(wanted, request).split(":", 5)
        parts = value.split(":", 5)
        return len(patterns) == len(parts) == 6 and all(
            like(p, v) for p, v in zip(patterns, parts, strict=True)
        )
    if operator == "Bool":
        return value.lower() == substitute(wanted, request).lower()
    if operator == "IpAddress":
        return _in_network(value, substitute(wanted, request))
    for kind in ("Numeric", "Date"):
        if operator.startswith(kind):
            return _compare(kind, operator.removeprefix(kind), value, substitute(wanted, request))
    raise UnknownOperator(operator)


def _any_match(operator: str, value: str, wanted: list[str], request: Request) -> bool:
    for one in wanted:
        try:
            if _matches(operator, value, str(one), request):
                return True
        except Unresolved:
            continue
    return False


def condition_holds(operator: str, key: str, wanted: Any, request: Request) -> bool:
    """One operator on one key, with AWS's rules for absent keys and set qualifiers."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    values = request.get(key)
    policy_values = [str(v).lower() if isinstance(v, bool) else v for v in _listed(wanted)]
    if name == "Null":
        absent = not values
        return any(str(w).lower() == ("true" if absent else "false") for w in policy_values)
    negated = name in _NEGATED
    base = _NEGATED.get(name, name)
    if base not in _POSITIVE:
        raise UnknownOperator(operator)
    if qualifier == "ForAllValues":
        if not values:
            return True
        return all(_any_match(base, v, policy_values, request) != negated for v in values)
    if qualifier == "ForAnyValue":
        if not values:
            return if_exists
        return any(_any_match(base, v, policy_values, request) != negated for v in values)
    if qualifier:
        raise UnknownOperator(operator)
    if not values:
        return if_exists or negated
    hit = any(_any_match(base, v, policy_values, request) for v in values)
    return not hit if negated else hit


def conditions_hold(block: Mapping[str, Mapping[str, Any]] | None, request: Request) -> bool:
    for operator, keys in (block or {}).items():
        for key, wanted in keys.items():
            if not condition_holds(operator, key, wanted, request):
                return False
    return True


# --- statements and policies --------------------------------------------------------


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(like(str(a), action, ignore_case=True) for a in _listed(statement["Action"]))
    if "NotAction" in statement:
        excluded = _listed(statement["NotAction"])
        return not any(like(str(a), action, ignore_case=True) for a in excluded)
    return False


def _resource_matches(statement: Mapping[str, Any], request: Request) -> bool:
    def hit(patterns: list[Any]) -> bool:
        for pattern in patterns:
            try:
                if _pattern_match(str(pattern), request.resource, request):
                    return True
            except Unresolved:
                continue
        return False

    if "Resource" in statement:
        return hit(_listed(statement["Resource"]))
    if "NotResource" in statement:
        return not hit(_listed(statement["NotResource"]))
    return False


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if not _action_matches(statement, request.action):
        return False
    if not _resource_matches(statement, request):
        return False
    try:
        return conditions_hold(statement.get("Condition"), request)
    except Unresolved:
        return False


def evaluate(policies: Iterable[Policy], request: Request) -> Outcome:
    """The decision of identity-based policies for one request."""
    allowed_by: str | None = None
    for policy in policies:
        for index, statement in enumerate(statements(policy)):
            if not statement_applies(statement, request):
                continue
            sid = str(statement.get("Sid") or f"#{index}")
            if statement.get("Effect") == "Deny":
                return Outcome(Decision.EXPLICIT_DENY, sid)
            if statement.get("Effect") == "Allow" and allowed_by is None:
                allowed_by = sid
    if allowed_by is not None:
        return Outcome(Decision.ALLOW, allowed_by)
    return Outcome(Decision.IMPLICIT_DENY)


# --- resource-based trust policies -----------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who asks, as a trust policy's Principal element sees it."""

    arn: str  # the role (not the session) for assumed roles; root for the account
    account: str
    service: str | None = None  # e.g. sagemaker.amazonaws.com for a service
    federated: str | None = None


def _principal_listed(element: Any, who: Principal) -> str | None:
    """'direct' when the element names this principal, 'account' when it names the
    account (then its identity policy must allow too), else None."""
    if element == "*":
        return "account"
    if not isinstance(element, Mapping):
        return None
    if who.service is not None:
        services = [str(s) for s in _listed(element.get("Service", []))]
        return "direct" if who.service in services else None
    if who.federated is not None:
        providers = [str(s) for s in _listed(element.get("Federated", []))]
        return "direct" if who.federated in providers else None
    for entry in (str(a) for a in _listed(element.get("AWS", []))):
        if entry in (who.account, f"arn:aws:iam::{who.account}:root"):
            return "account"
        if entry == who.arn:  # no wildcards in a principal's ARN
            return "direct"
        if entry == "*":
            return "account"
    return None


def principal_allowed(trust: Policy, who: Principal, request: Request) -> Outcome | None:
    """The trust policy's answer for `who`: an Outcome when it decides (ALLOW when it
    names the principal itself, EXPLICIT_DENY), None when it only names the account (the
    caller's identity policy decides), and IMPLICIT_DENY when it does not trust them."""
    direct: str | None = None
    by_account = False
    for index, statement in enumerate(statements(trust)):
        if not _action_matches(statement, request.action):
            continue
        listed = _principal_listed(statement.get("Principal"), who)
        if listed is None:
            continue
        try:
            if not conditions_hold(statement.get("Condition"), request):
                continue
        except Unresolved:
            continue
        sid = str(statement.get("Sid") or f"#{index}")
        if statement.get("Effect") == "Deny":
            return Outcome(Decision.EXPLICIT_DENY, sid)
        if listed == "direct":
            direct = direct or sid
        else:
            by_account = True
    if direct is not None:
        return Outcome(Decision.ALLOW, direct)
    return None if by_account else Outcome(Decision.IMPLICIT_DENY)
