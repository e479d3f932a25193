"""make capacity prices requests as DynamoDB bills them, and the capacity model flags the quotas to raise."""

from __future__ import annotations

from typing import Any

from bench import capacity_model, cost
from bench.capacity import Meter, item_size, pattern
from plutus.adapters.events_store import DAY_SECONDS, EventStatus, Retention, failure_update, processed_update
from plutus.core.envelope import QueuedEvent
from plutus_dev.emulator.template import load_template

RETENTION = Retention(30 * DAY_SECONDS, 90 * DAY_SECONDS)
NOW = "2026-12-01T12:00:00.000000Z"
EVENT = QueuedEvent(
    event_id="e-1",
    source="s",
    event_type="t",
    schema_version="1.0",
    received_at="2026-12-01T11:00:00.000000Z",
    payload={},
)


class _Model:
    def __init__(self, name: str) -> None:
        self.name = name


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status


def _meter() -> Meter:
    return Meter(
        schemas={"EventsTable": {None: "event_id", "ops": "ops_pk"}, "StateTable": {None: "pk"}},
        names={"events": "EventsTable", "state": "StateTable"},
    )


def _call(
    meter: Meter, operation: str, params: dict[str, Any], status: int = 200, parsed: Any = None
) -> None:
    context: dict[str, Any] = {}
    meter._before(params=params, model=_Model(operation), context=context)
    meter._after(
        http_response=_Response(status), parsed=parsed or {}, model=_Model(operation), context=context
    )


def test_item_size_counts_names_and_values_as_dynamodb_does() -> None:
    assert item_size({"pk": {"S": "abc"}}) == 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # 3 significant-digit pairs rounded up, plus one
    assert item_size({"b": {"B": b"\x00" * 10}, "ok": {"BOOL": True}}) == 11 + 3


def test_an_event_enters_moves_within_and_leaves_the_ops_index_once_each() -> None:
    meter = _meter()
    processing = failure_update("events", EVENT, "boom", EventStatus.PROCESSING, NOW, RETENTION)
    failed = failure_update("events", EVENT, "boom", EventStatus.FAILED, NOW, RETENTION)
    # Given two PROCESSING attempts, a FAILED one, and finally PROCESSED
    for update in (processing, processing, failed):
        _call(meter, "UpdateItem", update)
    _call(
        meter,
        "TransactWriteItems",
        {"TransactItems": [{"Update": processed_update("events", EVENT, NOW, RETENTION)}]},
    )
    ops = {pk: units for (table, index, pk), units in meter.wcu.items() if index == "ops"}
    # Then: one put on PROCESSING, none for the retry (same keys), a move (delete + put), a delete
    processing_pk = processing["ExpressionAttributeValues"][":ops_pk"]["S"]
    failed_pk = failed["ExpressionAttributeValues"][":ops_pk"]["S"]
    assert ops == {processing_pk: 2, failed_pk: 2}


def test_a_refused_write_changes_no_index_entry() -> None:
    meter = _meter()
    update = failure_update("events", EVENT, "boom", EventStatus.FAILED, NOW, RETENTION)
    _call(meter, "UpdateItem", update, status=400)
    assert not [k for k in meter.wcu if k[1] == "ops"]


def test_transactional_writes_cost_twice_per_kilobyte_at_the_items_final_size() -> None:
    meter = _meter()
    write = {
        "Update": {"TableName": "state", "Key": {"pk": {"S": "A"}, "sk": {"S": "B"}}, "UpdateExpression": ""}
    }
    _call(meter, "TransactWriteItems", {"TransactItems": [write]})
    _call(meter, "UpdateItem", write["Update"])
    meter.settle({("StateTable", '{"pk": {"S": "A"}, "sk": {"S": "B"}}'): 1500})
    assert meter.wcu[("StateTable", "-", "A")] == 2 * 2 + 2


def test_reads_cost_a_unit_per_4_kb_and_half_when_eventually_consistent() -> None:
    meter = _meter()
    item = {"pk": {"S": "A"}, "blob": {"B": b"x" * 5000}}
    _call(
        meter,
        "GetItem",
        {"TableName": "state", "Key": {"pk": {"S": "A"}}, "ConsistentRead": True},
        parsed={"Item": item},
    )
    _call(meter, "GetItem", {"TableName": "state", "Key": {"pk": {"S": "A"}}}, parsed={"Item": item})
    assert meter.rcu[("StateTable", "-", "A")] == 2 + 1


def test_patterns_fold_ids_so_a_hot_kind_of_key_reads_as_one() -> None:
    assert pattern("SAAS#ACCOUNT#acc_17") == pattern("SAAS#ACCOUNT#acc_2") == "SAAS#ACCOUNT#acc_<n>"
    assert pattern("0beac393-edf1-56a6-96e7-5b0fa4359fba") == "<uuid>"


def test_the_state_table_can_split_a_hot_item_collection() -> None:
    # make capacity judges an item collection over 1,000 WCU/s by its hottest item only because DynamoDB
    # splits a collection by sort key ("split for heat"), which a local secondary index would forbid.
    for table in load_template()["Resources"].values():
        if table["Type"] == "AWS::DynamoDB::Table":
            assert "LocalSecondaryIndexes" not in table["Properties"]


def _measured(**overrides: Any) -> dict[str, Any]:
    return {
        "requests_per_event": 0.25,
        "ingest_cpu_ms_per_request": 10.0,
        "ingest_calls_per_request": 4.0,
        "consumer_cpu_ms_per_event": 10.0,
        "consumer_calls_per_event": 3.0,
        "wcu_per_event_by_table": {"EventsTable": 6.9, "StateTable": 4.8},
        "wcu_per_event": 11.7,
        "gsi_wcu_per_event": 0.01,
        "rcu_per_event": 1.6,
        "sqs_requests_per_event": 0.25,
        "log_bytes_per_event": 1400.0,
        "stored_bytes_per_event": 450.0,
        "init_ms": 800.0,
    } | overrides


def test_the_capacity_table_names_the_quotas_each_rate_must_raise() -> None:
    rows = {r["events_per_second"]: r for r in capacity_model.capacity_rows(_measured())}
    assert rows[100]["quotas_to_raise"] == []
    # 10,000 events/s x 4.8 WCU on the state table is over DynamoDB's 40,000 per table by default.
    assert any("StateTable" in q for q in rows[10_000]["quotas_to_raise"])
    # 50,000 x 34 ms of consumer per event is 1,700 concurrent: more than one mapping's 1,000.
    assert any("over one mapping" in q for q in rows[50_000]["quotas_to_raise"])
    assert rows[1_000]["event_source_mapping"]["MaximumConcurrency"] <= 1_000
    costs = [rows[r]["monthly_cost_usd"] for r in capacity_model.RATES]
    assert costs == sorted(costs)


def test_the_monthly_cost_counts_gsi_writes_and_storage() -> None:
    per_event = capacity_model.per_event_costs(_measured())
    with_gsi = cost.monthly(10_000_000, per_event | {"gsi_wru": 3.0})
    without = cost.monthly(10_000_000, per_event | {"gsi_wru": 0.0})
    assert with_gsi["dynamodb_gsi_writes"] - without["dynamodb_gsi_writes"] == round(3.0 * 10 * 0.625, 2)
    assert cost.monthly(10_000_000, per_event | {"stored_bytes": 0.0})["dynamodb_storage"] == 0
    assert without["lambda_init"] > 0
