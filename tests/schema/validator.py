"""Checks of response bodies against Square's official OpenAPI definitions.

``customers-subset.json`` beside this module is a verbatim trim of Square's published
``api.json`` (release 2025-08-20, source commit in its ``x-subset-note`` key). A 200 body is
validated against its operation's response schema, and any other status against the error
shape ``{"errors": [Error, ...]}``, with the OpenAPI 3.0 validator resolving ``$ref`` inside
the file.

Square's schemas do not forbid extra keys, so the validator also reports the shape drifts
that plain schema validation lets through. These are keys the schema does not declare,
``null`` values and empty lists (Square omits unset fields and empty collections), and a
top-level ``errors`` key in a 200 body (only bulk endpoints report errors inside a 200, and
only per item).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

SPEC_PATH = Path(__file__).with_name("customers-subset.json")

_ERROR_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {"$ref": "#/components/schemas/Error"},
        }
    },
}


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: its id, HTTP method, path template and 200 schema."""

    operation_id: str
    method: str
    path_template: str
    response_schema: dict[str, Any]

    @property
    def parameter_count(self) -> int:
        return self.path_template.count("{")

    def matches(self, method: str, path: str) -> bool:
        if method.upper() != self.method:
            return False
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", self.path_template)
        return re.fullmatch(pattern, path) is not None


class SquareSchema:
    """The operations and schemas of the spec file, with response checks."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._components = spec["components"]
        self._operations = _read_operations(spec)

    @classmethod
    @functools.cache
    def load(cls) -> SquareSchema:
        """Return the schema read from ``customers-subset.json`` (read once per process)."""
        return cls(json.loads(SPEC_PATH.read_text(encoding="utf-8")))

    def operation(self, operation_id: str) -> Operation:
        for operation in self._operations:
            if operation.operation_id == operation_id:
                return operation
        raise KeyError(f"no operation {operation_id!r} in {SPEC_PATH.name}")

    def operation_for(self, method: str, path: str) -> Operation:
        """Return the operation serving ``method`` and ``path``.

        A literal segment wins over a path parameter, so ``GET /v2/customers/groups`` is
        ListCustomerGroups and not RetrieveCustomer.
        """
        candidates = [op for op in self._operations if op.matches(method, path)]
        if not candidates:
            raise KeyError(f"no operation for {method} {path} in {SPEC_PATH.name}")
        return min(candidates, key=lambda op: op.parameter_count)

    def problems(self, operation_id: str, status: int, body: Any) -> list[str]:
        """List every way ``body`` differs from what Square sends for this status."""
        operation = self.operation(operation_id)
        schema = operation.response_schema if status == 200 else _ERROR_BODY_SCHEMA

        found = self._schema_errors(schema, body)
        found += self._undeclared(schema, body, where="body")
        found += _omission_problems(body, where="body")
        if status == 200 and isinstance(body, dict) and "errors" in body:
            found.append("body.errors is present in a 200 response")
        return found

    def check(self, operation_id: str, status: int, body: Any) -> None:
        """Raise AssertionError listing the problems of ``body``, if there are any."""
        found = self.problems(operation_id, status, body)
        if found:
            listing = "\n  ".join(found)
            raise AssertionError(
                f"{operation_id} response with status {status} does not match Square's shape:"
                f"\n  {listing}\nbody: {json.dumps(body)[:2000]}"
            )

    def _schema_errors(self, schema: dict[str, Any], body: Any) -> list[str]:
        validator = OAS30Validator({**schema, "components": self._components})
        return [
            f"{'/'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
            for error in validator.iter_errors(body)
        ]

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            schema = self._components["schemas"][name]
        return schema

    def _undeclared(self, schema: dict[str, Any], value: Any, *, where: str) -> list[str]:
        schema = self._resolve(schema)
        if isinstance(value, list):
            items = schema.get("items")
            if items is None:
                return []
            found: list[str] = []
            for index, item in enumerate(value):
                found += self._undeclared(items, item, where=f"{where}[{index}]")
            return found

        if not isinstance(value, dict):
            return []
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        found = []
        for key, item in value.items():
            if key in properties:
                found += self._undeclared(properties[key], item, where=f"{where}.{key}")
            elif isinstance(extra, dict):
                found += self._undeclared(extra, item, where=f"{where}[{key!r}]")
            else:
                found.append(f"{where}.{key} is not declared by the schema")
        return found


def _omission_problems(value: Any, *, where: str) -> list[str]:
    if value is None:
        return [f"{where} is null, but Square omits unset fields"]
    if isinstance(value, list):
        if not value:
            return [f"{where} is an empty list, but Square omits empty collections"]
        found: list[str] = []
        for index, item in enumerate(value):
            found += _omission_problems(item, where=f"{where}[{index}]")
        return found
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += _omission_problems(item, where=f"{where}.{key}")
        return found
    return []


def _read_operations(spec: dict[str, Any]) -> list[Operation]:
    operations = []
    for path_template, methods in spec["paths"].items():
        for method, operation in methods.items():
            content = operation["responses"]["200"]["content"]["application/json"]
            operations.append(
                Operation(
                    operation_id=operation["operationId"],
                    method=method.upper(),
                    path_template=path_template,
                    response_schema=content["schema"],
                )
            )
    return operations
