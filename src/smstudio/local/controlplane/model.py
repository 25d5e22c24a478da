"""SageMaker's service model from botocore: request and response validation (types,
required members, and the min/max/pattern/enum constraints botocore's client-side
validator does not check), error types, and JSON-protocol serialization."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.validate import ParamValidator


class ApiError(Exception):
    """An error SageMaker would return: its type (the `__type`) and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def not_found(what: str) -> ApiError:
    return ApiError("ResourceNotFound", what)


def in_use(what: str) -> ApiError:
    return ApiError("ResourceInUse", what)


def invalid(what: str) -> ApiError:
    return ApiError("ValidationException", what)


@cache
def service(name: str = "sagemaker") -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def operation(name: str, service_name: str = "sagemaker") -> OperationModel:
    try:
        return service(service_name).operation_model(name)
    except Exception as exc:
        raise ApiError("UnknownOperationException", f"unknown operation {name}") from exc


@cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # a Java-only construct: the type checks still apply


def _constraints(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                _constraints(value[name], member, f"{path}.{name}" if path else name, errors)
        return
    if isinstance(shape, ListShape) and isinstance(value, list):
        for i, item in enumerate(value):
            _constraints(item, shape.member, f"{path}[{i}]", errors)
    if isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            _constraints(item, shape.value, f"{path}.{key}", errors)
    size = len(value) if isinstance(value, str | list | dict) else None
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    measure = size if size is not None else number
    kind = "length" if size is not None else "value"
    if measure is not None and "min" in meta and measure < meta["min"]:
        errors.append(_fail(path, f"have {kind} greater than or equal to {meta['min']}"))
    if measure is not None and "max" in meta and measure > meta["max"]:
        errors.append(_fail(path, f"have {kind} less than or equal to {meta['max']}"))
    enum = getattr(shape, "enum", None)
    if isinstance(value, str) and enum and value not in enum:
        errors.append(_fail(path, f"satisfy enum value set: [{', '.join(enum)}]"))
    if isinstance(value, str) and "pattern" in meta:
        compiled = _pattern(meta["pattern"])
        if compiled is not None and not compiled.fullmatch(value):
            rule = f"satisfy regular expression pattern: {meta['pattern']}"
            errors.append(_fail(path, rule))


def _fail(path: str, rule: str) -> str:
    return f"Value at '{path}' failed to satisfy constraint: Member must {rule}"


def problems_with(value: dict[str, Any], shape: StructureShape | None) -> list[str]:
    """Everything about `value` that does not fit `shape`: botocore's type and required
    checks, then the constraints botocore leaves to the service."""
    if shape is None:
        return []
    report = ParamValidator().validate(value, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    _constraints(value, shape, "", problems)
    return problems


def validate_input(op: OperationModel, params: dict[str, Any]) -> None:
    problems = problems_with(params, op.input_shape)
    if problems:
        plural = "s" if len(problems) > 1 else ""
        raise invalid(f"{len(problems)} validation error{plural} detected: " + "; ".join(problems))


def validate_output(op: OperationModel, result: dict[str, Any]) -> None:
    """A response that does not fit the model is a bug in the emulator, never sent."""
    problems = problems_with(result, op.output_shape)
    if problems:
        detail = "; ".join(problems)
        message = f"emulator response for {op.name} does not fit the model: {detail}"
        raise ApiError("InternalFailure", message, status=500)


def to_wire(value: Any) -> Any:
    """JSON protocol: timestamps as epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value
