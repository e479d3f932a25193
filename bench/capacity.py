"""Partition heat: the DynamoDB keys a realistic workload heats, scaled to 1k, 10k and 50k events/s.

Runs a mixed workload (every pack's event types from ``events/``, Zipf-distributed entities, 10 % duplicates,
a share of batches) through the REAL ingest and consumer handlers against a moto server provisioned from
template.yaml, and records every DynamoDB request the handlers make (botocore hooks on the clients of
``bootstrap.root().clients``): table, index, partition key and units. moto does not meter capacity, so units
are computed as DynamoDB bills them: a write 1 WCU per KB of the item (2 for a transaction's items), a read
1 RCU per 4 KB (half when eventually consistent, 2 in a read transaction), and a GSI write for every index
entry a write puts, moves or removes. A write's item size is the larger of the request's and the item's at
the end of the run (an upper bound for items that grow).

Each key's units per offered event are then scaled to the target rates and set against DynamoDB's per-
partition limits (1,000 WCU/s and 3,000 RCU/s). The removed ``by-status`` index is priced on the same
traffic for comparison. Writes ``bench/capacity.json`` and ``bench/capacity.png``; ``make capacity``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

OUT = Path(__file__).parent
EVENTS_DIR = OUT.parent / "events"
RATES = (1_000, 10_000, 50_000)
WCU_LIMIT = 1_000
RCU_LIMIT = 3_000
# Zipf's law proper (s = 1): the top entity of a population of 100,000 draws about 8 % of its pack's events.
ZIPF_S = 1.0
# Messages that fail for good (a producer writing straight to the queue): they exercise the ops index.
POISON_SHARE = 0.01
USERS_PER_ACCOUNT = 1_000
DUPLICATE_SHARE = 0.10
BATCH_SHARE = 0.3  # of requests
BATCH_SIZE = 10
# Entity fields drawn from a Zipf population (name -> (prefix, population)); every other *_id is unique.
ENTITIES: dict[str, tuple[str, int]] = {
    "account_id": ("acc_", 100_000),
    "from_account_id": ("acc_", 100_000),
    "to_account_id": ("acc_", 100_000),
    "user_id": ("u_", 200_000),
    "inviter_user_id": ("u_", 200_000),
    "invitee_user_id": ("u_", 200_000),
    "player_id": ("p_", 200_000),
    "from_player_id": ("p_", 200_000),
    "to_player_id": ("p_", 200_000),
    "campaign_id": ("cmp_", 2_000),
    "advertiser_id": ("adv_", 500),
    "creative_id": ("cr_", 5_000),
    "placement_id": ("pl_", 1_000),
    "package_id": ("pkg_", 500_000),
    "vehicle_id": ("veh_", 20_000),
    "courier_id": ("cr_", 5_000),
    "facility_id": ("fac_", 200),
    "patient_id": ("pat_", 50_000),
    "device_id": ("dev_", 50_000),
    "product_id": ("sku-", 50_000),
    "cart_id": ("cart_", 200_000),
    "session_id": ("s_", 200_000),
    "dashboard_id": ("dash_", 50),
    "board": ("board-", 20),
    "author_id": ("dr_", 2_000),
    "item_id": ("item_", 500),
}


# Units per (table, index or "-", partition key).
Units = dict[tuple[str, str, str], float]

# ---------------------------------------------------------------------------------------------- workload


class Zipf:
    """Ranks 1..n with P(k) proportional to 1/k**s (inverse-CDF sampling over the precomputed weights)."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        import numpy as np

        weights = 1.0 / np.arange(1, n + 1) ** s
        self.cdf = np.cumsum(weights) / weights.sum()
        self.rng = rng

    def draw(self) -> int:
        import numpy as np

        return int(np.searchsorted(self.cdf, self.rng.random())) + 1


def samples() -> list[dict[str, Any]]:
    """One ingest body per registered event type, from ``events/`` (the API Gateway samples)."""
    bodies = []
    for path in sorted(EVENTS_DIR.glob("*.json")):
        document = json.loads(path.read_text())
        if "body" not in document:
            continue
        body = json.loads(document["body"])
        if body.get("event_type") and isinstance(body.get("payload"), dict):
            bodies.append(body)
    return bodies


@dataclass
class Workload:
    """Bodies to send: the samples with their entities redrawn, unique ids made unique, times made recent."""

    rng: random.Random
    templates: list[dict[str, Any]]
    zipfs: dict[int, Zipf] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0

    def _zipf(self, n: int) -> Zipf:
        if n not in self.zipfs:
            self.zipfs[n] = Zipf(n, ZIPF_S, self.rng)
        return self.zipfs[n]

    def _value(self, name: str, value: Any, now: datetime) -> Any:
        if isinstance(value, dict):
            return {k: self._value(k, v, now) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(name, v, now) for v in value]
        if name in ENTITIES:
            prefix, population = ENTITIES[name]
            return f"{prefix}{self._zipf(population).draw()}"
        if name.endswith("_id") and isinstance(value, str):
            self.counter += 1
            return f"{value.split('_')[0]}_{self.counter}"
        if name.endswith("_at") and isinstance(value, str) and value[:2] == "20":
            return (now - timedelta(seconds=self.rng.randint(0, 60))).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value

    def fresh(self) -> dict[str, Any]:
        """A new event: a type drawn uniformly over every pack's types, its entities Zipf-drawn."""
        template = self.rng.choice(self.templates)
        now = datetime.now(UTC)
        payload = {k: self._value(k, v, now) for k, v in template["payload"].items()}
        if "account_id" in payload:
            # A tenant's users are its own: a Zipf over the account's USERS_PER_ACCOUNT, not over everyone.
            for name in [k for k in payload if k.endswith("user_id")]:
                payload[name] = f"{payload['account_id']}_u{self._zipf(USERS_PER_ACCOUNT).draw()}"
        self.counter += 1
        body = {**template, "idempotency_key": f"cap-{self.counter}", "payload": payload}
        self.sent.append(body)
        return body

    def next(self) -> dict[str, Any]:
        """A fresh event, or (10 %) a retry of one already sent: same key, same body."""
        if self.sent and self.rng.random() < DUPLICATE_SHARE:
            return self.rng.choice(self.sent)
        return self.fresh()


# ---------------------------------------------------------------------------------------------- metering


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one DynamoDB attribute value, as DynamoDB sizes items."""
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return math.ceil(len(raw.strip("-").replace(".", "").lstrip("0") or "0") / 2) + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in raw)
    return 0


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item: attribute names plus values."""
    return sum(len(k.encode("utf-8")) + value_size(v) for k, v in item.items())


@dataclass
class Meter:
    """Units per (table, index, partition key): every request the handlers made, as DynamoDB would bill it."""

    schemas: dict[str, dict[str | None, str]]  # table -> index (None: the table) -> hash key attribute
    names: dict[str, str]  # physical table name -> logical name
    wcu: Units = field(default_factory=lambda: defaultdict(float))
    rcu: Units = field(default_factory=lambda: defaultdict(float))
    # WCU per item (table, its full key): DynamoDB splits a hot partition by sort key, never an item.
    item_wcu: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)
    phase: str = "ingest"  # which function is running: its calls are counted apart
    calls_by_phase: Counter[str] = field(default_factory=Counter)
    # Writes whose size is settled at the end (table, key, sk, factor, size, phase).
    pending: list[tuple[str, str, str, float, int, str]] = field(default_factory=list)
    # Write units per phase, GSI entries included (the removed by-status index is not): bench/units.py.
    wcu_by_phase: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    ops_index: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    by_status: dict[str, str | None] = field(default_factory=dict)

    def hook(self, client: Any) -> None:
        """Register on ``client``: remember each request's parameters, meter it when its response arrives."""
        client.meta.events.register("before-parameter-build.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["capacity_params"] = dict(params)

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: Any, **_: Any) -> None:
        params = context.get("capacity_params", {})
        operation = model.name
        self.calls[operation] += 1
        self.calls_by_phase[self.phase] += 1
        if operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
            self._writes(operation, params, http_response.status_code < 400)
        else:
            self._reads(operation, params, parsed)

    def _writes(self, operation: str, params: dict[str, Any], ok: bool) -> None:
        if operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, request), *_ = entry.items()
                self._write(kind, request, 2.0, ok)
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    (kind, request), *_ = r.items()
                    kind = "PutItem" if kind == "PutRequest" else "DeleteItem"
                    self._write(kind, {"TableName": table, **request}, 1.0, ok)
        else:
            self._write(operation, params, 1.0, ok)

    def _reads(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if operation == "GetItem":
            self._read(params["TableName"], None, params["Key"], [parsed.get("Item") or {}], params)
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                items = parsed.get("Responses", {}).get(table, [])
                unprocessed = parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                for key in request["Keys"]:
                    if key in unprocessed:
                        continue
                    # A key that is not there is still read: as a GetItem of a missing item, it costs a unit.
                    item: dict[str, Any] = next(
                        (i for i in items if all(i.get(k) == v for k, v in key.items())), {}
                    )
                    self._read(table, None, key, [item], request)
        elif operation == "TransactGetItems":
            for entry, got in zip(params["TransactItems"], parsed.get("Responses", []), strict=False):
                get = entry["Get"]
                item = got.get("Item") or {}
                self._read(get["TableName"], None, get["Key"], [item], {"ConsistentRead": True}, 2.0)
        elif operation == "Query":
            self._query(params, parsed)

    def _pk(self, table: str, index: str | None, key: dict[str, Any]) -> str:
        attribute = self.schemas[self.names[table]][index]
        (_, value), *_ = key[attribute].items()
        return str(value)

    def _write(self, kind: str, request: dict[str, Any], factor: float, ok: bool) -> None:
        table = request["TableName"]
        key = request.get("Key") or request.get("Item") or {}
        logical = self.names[table]
        pk = self._pk(table, None, key)
        sk = json.dumps(key, sort_keys=True)
        size = item_size(request["Item"]) if kind in ("Put", "PutItem") else 0
        self.pending.append((logical, pk, sk, factor, size, self.phase))
        if ok and logical == "EventsTable" and kind in ("Update", "UpdateItem"):
            self._index_writes(request, pk)

    def _index_writes(self, request: dict[str, Any], event_id: str) -> None:
        # The ops index: an entry is put, moved (delete + put) or removed only when its keys change.
        expression = request["UpdateExpression"]
        values = request.get("ExpressionAttributeValues", {})
        before = self.ops_index.get(event_id)
        after = before
        if "ops_pk = :ops_pk" in expression:
            after = (values[":ops_pk"]["S"], values[":ops_sk"]["S"] if before is None else before[1])
            if "ops_sk = :ops_sk" in expression:
                after = (values[":ops_pk"]["S"], values[":ops_sk"]["S"])
        elif re.search(r"REMOVE .*ops_pk", expression):
            after = None
        if after != before:
            if before is not None:
                self.wcu[("EventsTable", "ops", before[0])] += 1
                self.wcu_by_phase[self.phase] += 1
            if after is not None:
                self.wcu[("EventsTable", "ops", after[0])] += 1
                self.wcu_by_phase[self.phase] += 1
        self.ops_index[event_id] = after
        # The removed by-status index (status HASH, projection ALL, entries under 1 KB): every write of a
        # status item rewrote its entry (all attributes projected), a status change also deleted the old one.
        status = self.by_status.get(event_id)
        if "if_not_exists(#status, :received)" in expression:
            new = status or values[":received"]["S"]
        elif "#status = :processed" in expression:
            new = values[":processed"]["S"]
        elif ":status" in values:
            new = values[":status"]["S"]
        elif status is None:
            return  # a claim on an item with no status yet: it had no entry in that index either
        else:
            new = status  # a write that leaves the status: its entry (all attributes projected) rewritten
        self.by_status[event_id] = new
        self.wcu[("EventsTable", "by-status (removed)", new)] += 1
        if status is not None and status != new:
            self.wcu[("EventsTable", "by-status (removed)", status)] += 1

    def _read(
        self,
        table: str,
        index: str | None,
        key: dict[str, Any],
        items: list[dict[str, Any]],
        params: dict[str, Any],
        factor: float = 1.0,
    ) -> None:
        units = math.ceil(max(1, sum(item_size(i) for i in items)) / 4096) * factor
        if not params.get("ConsistentRead") and factor == 1.0:
            units /= 2
        self.rcu[(self.names[table], index or "-", self._pk(table, index, key))] += units

    def _query(self, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        table, index = params["TableName"], params.get("IndexName")
        attribute = self.schemas[self.names[table]][index]
        condition = params["KeyConditionExpression"]
        for name, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", condition):
            resolved = params.get("ExpressionAttributeNames", {}).get(name, name)
            if resolved == attribute:
                key = {attribute: params["ExpressionAttributeValues"][placeholder]}
                self._read(table, index, key, parsed.get("Items", []), params)
                return

    def settle(self, sizes: dict[tuple[str, str], int]) -> None:
        """Price the writes with item sizes known at the end of the run (at least the request's)."""
        for logical, pk, sk, factor, size, phase in self.pending:
            final = max(size, sizes.get((logical, sk), 0), 1)
            self.wcu[(logical, "-", pk)] += math.ceil(final / 1024) * factor
            self.item_wcu[(logical, sk)] += math.ceil(final / 1024) * factor
            self.wcu_by_phase[phase] += math.ceil(final / 1024) * factor
        self.pending.clear()


def pattern(pk: str) -> str:
    """A key's shape: digits and ids folded, so a report says *which kind* of item is hot."""
    shape = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", pk)
    shape = re.sub(r"[0-9a-f]{32}", "<hash>", shape)
    shape = re.sub(r"\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?", "<date>", shape)
    return re.sub(r"\d+", "<n>", shape)


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class Run:
    """What one run observed."""

    offered: int
    accepted: int
    duplicates: int
    requests: int
    batches: int
    failed_events: int
    poison: int
    statuses: dict[int, int]
    ingest_cpu_ms_per_request: float
    consumer_cpu_ms_per_event: float
    ingest_calls_per_request: float
    consumer_calls_per_event: float
    stored_bytes: dict[str, int]
    calls: dict[str, int]
    wcu: Units
    rcu: Units
    item_wcu: dict[tuple[str, str], float]


def _schemas(client: Any, refs: dict[str, str]) -> tuple[dict[str, dict[str | None, str]], dict[str, str]]:
    schemas: dict[str, dict[str | None, str]] = {}
    names: dict[str, str] = {}
    for logical in ("EventsTable", "StateTable"):
        table = client.describe_table(TableName=refs[logical])["Table"]
        names[refs[logical]] = logical
        hash_of = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        schemas[logical] = {None: hash_of["HASH"]}
        for gsi in table.get("GlobalSecondaryIndexes", []):
            schemas[logical][gsi["IndexName"]] = next(
                k["AttributeName"] for k in gsi["KeySchema"] if k["KeyType"] == "HASH"
            )
    return schemas, names


def _scan_sizes(
    client: Any, refs: dict[str, str], schemas: dict[str, dict[str | None, str]]
) -> Iterator[tuple[tuple[str, str], int]]:
    for logical in schemas:
        table = refs[logical]
        key_names = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            page = client.scan(**kwargs)
            for item in page.get("Items", []):
                key = {k: item[k] for k in key_names}
                yield (logical, json.dumps(key, sort_keys=True)), item_size(item)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _drain(h: Any, meter: Meter) -> float:
    """Run the event source mapping until the queue is empty; the CPU seconds it took in this process."""
    meter.phase = "consumer"
    start = time.process_time()
    h.drain(max_batches=10_000)
    return time.process_time() - start


def run(events: int, seed: int) -> Run:
    """Send ``events`` events (fresh and duplicate, single and batched), drain the queue, meter everything."""
    from plutus import bootstrap
    from plutus_dev.emulator.resources import start_emulator
    from tests.integration.harness import harness

    rng = random.Random(seed)
    workload = Workload(rng, samples())
    emulator = start_emulator()
    try:
        with harness(emulator.url) as h:
            client = bootstrap.root().clients("dynamodb")
            schemas, names = _schemas(h.client("dynamodb"), h.stack.refs)
            meter = Meter(schemas, names)
            meter.hook(client)
            offered = accepted = duplicates = requests = batches = poison = 0
            statuses: Counter[int] = Counter()
            ingest_cpu = consumer_cpu = 0.0
            keys_seen: set[str] = set()
            while offered < events:
                size = BATCH_SIZE if rng.random() < BATCH_SHARE else 1
                bodies = [workload.next() for _ in range(min(size, events - offered))]
                for body in bodies:
                    duplicates += body["idempotency_key"] in keys_seen
                    keys_seen.add(body["idempotency_key"])
                meter.phase = "ingest"
                start = time.process_time()
                if size == 1:
                    response = h.post_event(bodies[0])
                    accepted += response.status in (200, 202)
                    statuses[response.status] += 1
                else:
                    response = h.post_batch(bodies)
                    results = response.json()["results"]
                    accepted += sum(r["status"] in (200, 202) for r in results)
                    statuses.update(r["status"] for r in results)
                    batches += 1
                ingest_cpu += time.process_time() - start
                requests += 1
                offered += len(bodies)
                if rng.random() < POISON_SHARE * len(bodies):
                    h.client("sqs").send_message(QueueUrl=h.queue_url, MessageBody="{not json")
                    poison += 1
                if requests % 50 == 0:
                    consumer_cpu += _drain(h, meter)
            consumer_cpu += _drain(h, meter)
            sizes = dict(_scan_sizes(h.client("dynamodb"), h.stack.refs, schemas))
            meter.settle(sizes)
            stored: dict[str, int] = defaultdict(int)
            for (logical, _), size in sizes.items():
                stored[logical] += size
            failed = sum(1 for i in h.scan("EventsTable") if i.get("status") != "PROCESSED")
    finally:
        emulator.stop()
    fresh = max(1, offered - duplicates)
    return Run(
        offered=offered,
        accepted=accepted,
        duplicates=duplicates,
        requests=requests,
        batches=batches,
        failed_events=failed,
        poison=poison,
        statuses=dict(statuses),
        ingest_cpu_ms_per_request=ingest_cpu * 1000 / requests,
        consumer_cpu_ms_per_event=consumer_cpu * 1000 / fresh,
        ingest_calls_per_request=meter.calls_by_phase["ingest"] / requests,
        consumer_calls_per_event=meter.calls_by_phase["consumer"] / fresh,
        stored_bytes=stored,
        calls=dict(meter.calls),
        wcu=meter.wcu,
        rcu=meter.rcu,
        item_wcu=meter.item_wcu,
    )


# ---------------------------------------------------------------------------------------------- the report


def hottest(units: Units, offered: int, rate: int, top: int) -> list[dict[str, Any]]:
    """The ``top`` keys of each (table, index), scaled to ``rate`` events/s."""
    by_place: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
    for (table, index, pk), value in units.items():
        by_place[(table, index)].append((pk, value))
    rows = []
    for (table, index), keys in sorted(by_place.items()):
        for pk, value in sorted(keys, key=lambda kv: -kv[1])[:top]:
            rows.append(
                {
                    "table": table,
                    "index": index,
                    "partition_key": pk,
                    "pattern": pattern(pk),
                    "per_second": round(value / offered * rate, 1),
                }
            )
    return rows


def report(observed: Run, top: int = 3) -> dict[str, Any]:
    """Per rate: the hottest keys per table and index, the max per partition, totals, and the verdict."""
    rates = {}
    for rate in RATES:
        writes = hottest(observed.wcu, observed.offered, rate, top)
        reads = hottest(observed.rcu, observed.offered, rate, top)
        places = sorted({(r["table"], r["index"]) for r in writes + reads})
        per_place = []
        for table, index in places:
            w = [r for r in writes if (r["table"], r["index"]) == (table, index)]
            r_ = [r for r in reads if (r["table"], r["index"]) == (table, index)]
            max_w = w[0]["per_second"] if w else 0.0
            max_r = r_[0]["per_second"] if r_ else 0.0
            item_w = max(
                (v for (t, _), v in observed.item_wcu.items() if t == table and index == "-"), default=0
            )
            item_w = round(item_w / observed.offered * rate, 1) if index == "-" else max_w
            over = max_w > WCU_LIMIT or max_r > RCU_LIMIT
            # A table without LSIs splits a hot item collection by sort key ("split for heat"); an item never.
            split = over and index == "-" and item_w <= WCU_LIMIT and max_r <= RCU_LIMIT
            total_w = sum(v for (t, i, _), v in observed.wcu.items() if (t, i) == (table, index))
            total_r = sum(v for (t, i, _), v in observed.rcu.items() if (t, i) == (table, index))
            per_place.append(
                {
                    "table": table,
                    "index": index,
                    "max_wcu_per_partition": max_w,
                    "max_rcu_per_partition": max_r,
                    "hottest_write_key": w[0] if w else None,
                    "hottest_read_key": r_[0] if r_ else None,
                    "total_wcu_per_second": round(total_w / observed.offered * rate, 1),
                    "total_rcu_per_second": round(total_r / observed.offered * rate, 1),
                    "max_wcu_per_item": item_w,
                    "within_limits": not over or split,
                    "relies_on_split_for_heat": split,
                }
            )
        items = [
            {"table": t, "item": json.loads(k), "wcu_per_second": round(v / observed.offered * rate, 1)}
            for (t, k), v in sorted(observed.item_wcu.items(), key=lambda kv: -kv[1])[:10]
        ]
        rates[str(rate)] = {
            "tables_and_indexes": per_place,
            "hottest_items": items,
            "hottest_writes": writes,
            "hottest_reads": reads,
            "within_limits": all(p["within_limits"] for p in per_place if "removed" not in p["index"]),
        }
    return {
        "limits": {"wcu_per_partition": WCU_LIMIT, "rcu_per_partition": RCU_LIMIT},
        "workload": {
            "events_offered": observed.offered,
            "accepted": observed.accepted,
            "duplicates": observed.duplicates,
            "requests": observed.requests,
            "batches": observed.batches,
            "not_processed": observed.failed_events,
            "poison_messages": observed.poison,
            # 200: a duplicate answered from its record; 409: the same key twice in one batch; 422: a
            # drawn payload the model refuses (a transfer to the same account).
            "ingest_statuses": {str(k): v for k, v in sorted(observed.statuses.items())},
            "zipf_s": ZIPF_S,
            "duplicate_share": DUPLICATE_SHARE,
            "batch_share_of_requests": BATCH_SHARE,
        },
        "per_event": {
            "wcu": round(
                sum(v for (_, i, _), v in observed.wcu.items() if "removed" not in i) / observed.offered, 2
            ),
            "rcu": round(sum(observed.rcu.values()) / observed.offered, 2),
            "gsi_wcu": round(
                sum(v for (_, i, _), v in observed.wcu.items() if i == "ops") / observed.offered, 4
            ),
            "calls": {k: round(v / observed.offered, 3) for k, v in sorted(observed.calls.items())},
            "ingest_cpu_ms_per_request": round(observed.ingest_cpu_ms_per_request, 2),
            "ingest_dynamodb_calls_per_request": round(observed.ingest_calls_per_request, 2),
            "consumer_cpu_ms_per_event": round(observed.consumer_cpu_ms_per_event, 2),
            "consumer_dynamodb_calls_per_event": round(observed.consumer_calls_per_event, 2),
        },
        "rates": rates,
        **capacity(observed),
    }


def capacity(observed: Run) -> dict[str, Any]:
    """The capacity table and monthly costs (bench/capacity_model.py) from this run's per-event figures."""
    from bench import capacity_model

    results = json.loads((OUT / "results.json").read_text())
    fresh = max(1, observed.offered - observed.duplicates)
    ingest, consumer = results["ingest"]["single_new"]["ours"], results["consumer"]["default_handler"]
    by_table: dict[str, float] = defaultdict(float)
    for (table, index, _), units in observed.wcu.items():
        if "removed" not in index:
            by_table[table if index == "-" else f"{table}/{index}"] += units / observed.offered
    measured = {
        "requests_per_event": observed.requests / observed.offered,
        "ingest_cpu_ms_per_request": observed.ingest_cpu_ms_per_request,
        # DynamoDB calls, and the request's one SendMessage or SendMessageBatch.
        "ingest_calls_per_request": observed.ingest_calls_per_request + 1,
        "consumer_cpu_ms_per_event": observed.consumer_cpu_ms_per_event,
        "consumer_calls_per_event": observed.consumer_calls_per_event,
        "wcu_per_event_by_table": {t: round(v, 3) for t, v in sorted(by_table.items())},
        "wcu_per_event": sum(by_table.values()),
        "gsi_wcu_per_event": by_table.get("EventsTable/ops", 0.0),
        "rcu_per_event": sum(observed.rcu.values()) / observed.offered,
        "sqs_requests_per_event": observed.requests / observed.offered,
        "log_bytes_per_event": ingest["log_bytes"] / ingest["events"]
        + consumer["log_bytes"] / consumer["events"],
        # Event records (which hold their keys' idempotency records) for EventRetentionDays (30 of a 30.4-day
        # month).
        "stored_bytes_per_event": observed.stored_bytes.get("EventsTable", 0) / fresh * 30 / 30.4,
        "init_ms": results["cold_start"]["ingest"]["total_ms"],
    }
    return {
        "capacity_inputs": {k: v if isinstance(v, dict) else round(v, 3) for k, v in measured.items()},
        "capacity_assumptions": {
            "aws_call_ms": capacity_model.AWS_CALL_MS,
            "cold_start_share": capacity_model.COLD_SHARE,
            "memory_mb": capacity_model.MEMORY_MB,
        },
        "capacity_table": capacity_model.capacity_rows(measured),
        "monthly_cost_usd": capacity_model.monthly_table(results, measured),
    }


def draw(result: dict[str, Any], path: Path) -> None:
    """Hottest partition per table and index, WCU/s and RCU/s, at each rate, against the limits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    for ax, metric, limit, title in (
        (axes[0], "max_wcu_per_partition", WCU_LIMIT, "hottest partition, WCU/s"),
        (axes[1], "max_rcu_per_partition", RCU_LIMIT, "hottest partition, RCU/s"),
    ):
        places = [f"{p['table']}/{p['index']}" for p in result["rates"][str(RATES[0])]["tables_and_indexes"]]
        width = 0.8 / len(RATES)
        for n, rate in enumerate(RATES):
            values = [p[metric] for p in result["rates"][str(rate)]["tables_and_indexes"]]
            ax.bar([x + n * width for x in range(len(places))], values, width, label=f"{rate:,} events/s")
        ax.axhline(limit, color="red", linestyle="--", label=f"limit {limit:,}")
        ax.set_yscale("log")
        ax.set_xticks([x + width for x in range(len(places))], places, rotation=20, ha="right", fontsize=7)
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def print_report(result: dict[str, Any], out: TextIO) -> None:
    """The table a person reads."""
    w = result["workload"]
    print(
        f"workload: {w['events_offered']} events in {w['requests']} requests ({w['batches']} batches), "
        f"{w['duplicates']} duplicates, Zipf s={w['zipf_s']}; ingest answered {w['ingest_statuses']}; "
        f"{w['poison_messages']} poison messages; {w['not_processed']} not PROCESSED",
        file=out,
    )
    per = result["per_event"]
    print(
        f"per event: {per['wcu']} WCU, {per['rcu']} RCU ({per['gsi_wcu']} of the WCU on the ops index)",
        file=out,
    )
    for rate, block in result["rates"].items():
        print(
            f"\n{int(rate):,} events/s  (limits {WCU_LIMIT} WCU/s, {RCU_LIMIT} RCU/s per partition)", file=out
        )
        for p in block["tables_and_indexes"]:
            key = (p["hottest_write_key"] or {}).get("pattern", "-")
            flag = "OVER" if not p["within_limits"] else "split" if p["relies_on_split_for_heat"] else "ok"
            print(
                f"  {p['table'] + '/' + p['index']:34} max {p['max_wcu_per_partition']:>9,.1f} WCU/s "
                f"{p['max_rcu_per_partition']:>9,.1f} RCU/s  total {p['total_wcu_per_second']:>10,.0f} WCU/s "
                f"{flag:4} hottest write {key}",
                file=out,
            )
        print(
            f"  verdict: {'within limits' if block['within_limits'] else 'OVER a partition limit'}", file=out
        )


def markdown(result: dict[str, Any]) -> str:
    """The README's tables: partition heat at 10,000 events/s, the capacity table, the monthly costs."""
    lines = [
        "| table / index | hottest partition key | WCU/s | RCU/s | hottest item WCU/s | at 10,000 events/s |",
        "|---|---|---:|---:|---:|---|",
    ]
    for p in result["rates"]["10000"]["tables_and_indexes"]:
        key = (p["hottest_write_key"] or {}).get("pattern", "-")
        verdict = "over (removed)" if "removed" in p["index"] else "within"
        if p["relies_on_split_for_heat"]:
            verdict = "within per item (collection split by sort key)"
        lines.append(
            f"| {p['table']} / {p['index']} | `{key}` | {p['max_wcu_per_partition']:,.0f} | "
            f"{p['max_rcu_per_partition']:,.0f} | {p['max_wcu_per_item']:,.0f} | {verdict} |"
        )
    lines += [
        "",
        "| events/s | API req/s | ingest conc. | consumer conc. | MaximumConcurrency | SQS in flight "
        "| WCU/s events / state | ApiThrottlingRateLimit / BurstLimit | raise | $/month |",
        "|---:|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for row in result["capacity_table"]:
        w = row["dynamodb_wcu_per_second_by_table"]
        lines.append(
            f"| {row['events_per_second']:,} | {row['api_requests_per_second']:,} "
            f"| {row['ingest_concurrency']:,} "
            f"| {row['consumer_concurrency']:,} | {row['event_source_mapping']['MaximumConcurrency']:,} "
            f"| {row['sqs_in_flight']:,} | {w.get('EventsTable', 0):,} / {w.get('StateTable', 0):,} "
            f"| {row['template_parameters']['ApiThrottlingRateLimit']:,} / "
            f"{row['template_parameters']['ApiThrottlingBurstLimit']:,} "
            f"| {'; '.join(row['quotas_to_raise']) or '-'} "
            f"| {row['monthly_cost_usd']:,.0f} |"
        )
    designs = ("ours", "ours_before", "reference", "ours_pack_workload")
    lines += [
        "",
        "| per month | Plutus (ops index, TTL) | Plutus before (by-status ALL, no TTL, year 1 end) "
        "| Powertools reference | Plutus, pack workload |",
        "|---|---:|---:|---:|---:|",
    ]
    for volume, row in result["monthly_cost_usd"].items():
        lines.append(f"| {volume} events | " + " | ".join(f"${row[d]['total']:,.0f}" for d in designs) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, send the handlers' stdout to /dev/null, run, write the JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--markdown", action="store_true", help="print the README tables of capacity.json")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads((OUT / "capacity.json").read_text())))  # noqa: T201
        return
    warnings.filterwarnings("ignore")
    out = sys.stdout
    # Before plutus is imported: Powertools binds its log handler to the stdout of that moment.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "plutus")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Plutus")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from plutus_dev.emulator.resources import LOCAL_CREDENTIALS

    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    started = time.perf_counter()
    result = report(run(args.events, args.seed))
    result["run_seconds"] = round(time.perf_counter() - started, 1)
    (OUT / "capacity.json").write_text(json.dumps(result, indent=2) + "\n")
    draw(result, OUT / "capacity.png")
    print_report(result, out)
    print(
        f"\nwrote {OUT / 'capacity.json'} and {OUT / 'capacity.png'} in {result['run_seconds']} s", file=out
    )
    if not result["rates"]["10000"]["within_limits"]:
        print("a partition is over its limit at 10,000 events/s", file=out)
        sys.exit(1)


if __name__ == "__main__":
    main()
