"""The emulator keeps DynamoDB's guarantees that Plutus' exactly-once marker relies on."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from plutus_dev.emulator.resources import Emulator


@pytest.fixture
def table(emulator: Emulator) -> Any:
    ddb = boto3.client("dynamodb", endpoint_url=emulator.url)
    name = f"emu-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield ddb, name
    ddb.delete_table(TableName=name)


def _mark_and_count(name: str, key: str) -> list[dict[str, Any]]:
    # The consumer's shape: a conditional marker and an effect, in one transaction.
    return [
        {
            "Update": {
                "TableName": name,
                "Key": {"pk": {"S": f"marker#{key}"}},
                "UpdateExpression": "SET st = :done",
                "ConditionExpression": "attribute_not_exists(st)",
                "ExpressionAttributeValues": {":done": {"S": "DONE"}},
            }
        },
        {
            "Update": {
                "TableName": name,
                "Key": {"pk": {"S": f"effect#{key}"}},
                "UpdateExpression": "ADD applied :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
    ]


def test_concurrent_conditional_transactions_apply_once(emulator: Emulator, table: Any) -> None:
    ddb, name = table
    # Plain moto deep-copies the table before checking conditions: a few hundred items widen the race.
    for i in range(300):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"filler{i}"}, "data": {"S": "x" * 100}})
    keys = [f"k{i}" for i in range(10)]
    for key in keys:
        # Given 6 writers racing on one marker
        barrier = threading.Barrier(6)

        def race(key: str = key, barrier: threading.Barrier = barrier) -> None:
            client = boto3.client("dynamodb", endpoint_url=emulator.url)
            barrier.wait()
            try:
                client.transact_write_items(TransactItems=_mark_and_count(name, key))
            except ClientError:
                pass  # the losers' transactions are cancelled

        threads = [threading.Thread(target=race) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # Then each effect was applied exactly once
    applied = [
        ddb.get_item(TableName=name, Key={"pk": {"S": f"effect#{k}"}})["Item"]["applied"]["N"] for k in keys
    ]
    assert applied == ["1"] * len(keys)


def test_a_cancelled_transaction_restores_the_items_it_touched_and_nothing_else(table: Any) -> None:
    ddb, name = table
    ddb.put_item(TableName=name, Item={"pk": {"S": "touched"}, "v": {"N": "1"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "other"}, "v": {"N": "1"}})
    ddb.transact_write_items(TransactItems=_mark_and_count(name, "x"))

    # When a transaction updates one item and then fails a condition on another
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": {"S": "touched"}},
                        "UpdateExpression": "SET v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {
                    "Put": {
                        "TableName": name,
                        "Item": {"pk": {"S": "created"}},
                    }
                },
                *_mark_and_count(name, "x"),
            ]
        )
    assert info.value.response["Error"]["Code"] == "TransactionCanceledException"

    # Then the touched item is as before, the created one is gone, and other items are intact
    items = {i["pk"]["S"]: i for i in ddb.scan(TableName=name)["Items"]}
    assert items["touched"]["v"] == {"N": "1"}
    assert "created" not in items
    assert items["other"]["v"] == {"N": "1"}
    assert items["effect#x"]["applied"] == {"N": "1"}
