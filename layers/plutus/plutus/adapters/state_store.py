"""Adapter for the state table: effects become transact items; handlers read through ``DynamoStateReader``."""

from __future__ import annotations

from decimal import Decimal
from types import ModuleType
from typing import Any

from plutus.core.effects import StateEffect, Update


def _types() -> ModuleType:
    # On first use, not at import: boto3.dynamodb imports boto3 and s3transfer, and the ingest function
    # imports this module (through plutus.adapters.events_store) without ever using it.
    from boto3.dynamodb import types

    return types


def to_attribute(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (floats go through ``Decimal``)."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    elif isinstance(value, dict):
        return {"M": {k: to_attribute(v) for k, v in value.items()}}
    elif isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    serialized: dict[str, Any] = _types().TypeSerializer().serialize(value)
    return serialized


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values."""
    deserializer = _types().TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


class _Expression:
    """Placeholder bookkeeping for one update expression."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.set: list[str] = []
        self.add: list[str] = []
        self.conditions: list[str] = []

    def name(self, attr: str) -> str:
        token = f"#a{len(self.names)}"
        self.names[token] = attr
        return token

    def value(self, v: Any) -> str:
        token = f":v{len(self.values)}"
        self.values[token] = to_attribute(v)
        return token


def _guards(expr: _Expression, effect: Update) -> None:
    if effect.expect_version is not None:
        n = expr.name("version")
        if effect.expect_version == 0:
            expr.conditions.append(f"attribute_not_exists({n})")
        else:
            expr.conditions.append(f"{n} = {expr.value(effect.expect_version)}")
        expr.add.append(f"{n} {expr.value(1)}")
    if effect.floor is not None:
        attr, minimum = effect.floor
        # value + delta >= floor  <=>  value >= floor - delta; a missing attribute counts as 0.
        threshold = minimum - effect.add.get(attr, 0)
        n = expr.name(attr)
        check = f"{n} >= {expr.value(threshold)}"
        expr.conditions.append(f"(attribute_not_exists({n}) OR {check})" if threshold <= 0 else check)


def _update_item(table: str, effect: Update) -> dict[str, Any]:
    expr = _Expression()
    for attr, v in effect.set.items():
        expr.set.append(f"{expr.name(attr)} = {expr.value(v)}")
    for attr, v in effect.set_if_absent.items():
        n = expr.name(attr)
        expr.set.append(f"{n} = if_not_exists({n}, {expr.value(v)})")
    for attr, v in effect.add.items():
        expr.add.append(f"{expr.name(attr)} {expr.value(v)}")
    _guards(expr, effect)
    clauses = [
        f"{verb} {', '.join(parts)}" for verb, parts in (("SET", expr.set), ("ADD", expr.add)) if parts
    ]
    item: dict[str, Any] = {
        "TableName": table,
        "Key": {"pk": {"S": effect.pk}, "sk": {"S": effect.sk}},
        "UpdateExpression": " ".join(clauses),
        "ExpressionAttributeNames": expr.names,
    }
    if expr.values:
        item["ExpressionAttributeValues"] = expr.values
    if expr.conditions:
        item["ConditionExpression"] = " AND ".join(expr.conditions)
    return {"Update": item}


def transact_item(table: str, effect: StateEffect) -> dict[str, Any]:
    """One ``TransactWriteItems`` entry for ``effect``."""
    if isinstance(effect, Update):
        return _update_item(table, effect)
    item = {"pk": effect.pk, "sk": effect.sk, **effect.attributes}
    put: dict[str, Any] = {"TableName": table, "Item": {k: to_attribute(v) for k, v in item.items()}}
    if effect.if_absent:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    return {"Put": put}


class DynamoStateReader:
    """``StateReader`` on the state table, with strongly consistent reads for read-modify-write handlers."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One item, or ``None``."""
        response = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def query(
        self, pk: str, sk_prefix: str = "", *, limit: int = 100, newest_first: bool = False
    ) -> list[dict[str, Any]]:
        """Items of one partition whose sort key starts with ``sk_prefix``."""
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": sk_prefix}
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=not newest_first,
            Limit=limit,
            ConsistentRead=True,
        )
        return [from_item(i) for i in response.get("Items", [])]
