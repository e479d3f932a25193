"""Property-based tests (hypothesis) through the real ingest handler and consumer on moto.

For the envelope and every registered model: every request gets a 2xx or a 4xx, never a 5xx (single and batch,
per item); every accepted event ends PROCESSED or FAILED once the consumer has drained the queue as the event
source mapping would; every read endpoint answers any path or query value with a 2xx or a 4xx.

Payloads start from each model's example (times moved near now, so many are accepted and reach a handler) and
mutate envelope and payload fields with values from the hostile classes: numbers JSON allows but DynamoDB
cannot store (raw ``1e999``, 39 digits), lone surrogates in keys and values, times across the whole calendar
with extreme offsets, nesting, wrong types. The number of examples run is reported in the test summary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plutus.core.registry import Registration
from plutus.domains import build_registry, read_routers
from tests.integration.harness import Harness

# About 60 s on the 2-core machine together; PLUTUS_PROPERTY_EXAMPLES=2000 for a deeper hunt.
INGEST_EXAMPLES = int(os.environ.get("PLUTUS_PROPERTY_EXAMPLES", "200"))
READ_EXAMPLES = INGEST_EXAMPLES
SETTINGS = settings(
    max_examples=INGEST_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

REGISTRATIONS = build_registry().registrations
TIME_FIELDS = ("occurred_at", "measured_at", "administered_at", "updated_at")
PLANNED_FIELDS = ("next_due_at", "promised_by")
# Raw JSON number tokens json.dumps cannot write; each stands in the body for its placeholder string.
RAW_NUMBERS = ["1e999", "-1e999", "1" * 39, "-" + "9" * 40, "1e300", "2e-200", "1E+125", "-0.0", "0e0"]
OFFSETS = [
    UTC,
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    timezone(timedelta(minutes=330)),
]


UNIQUE_KEY = "@@unique@@"


def _placeholder(i: int) -> str:
    return f"@@raw{i}@@"


hostile_chars = st.sampled_from(
    ["\ud800", "\udfff", "\x00", "#", "/", "~", " ", "é", "\U0001f600", "a", "Z", "9"]
)
hostile_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=hostile_chars, max_size=12),
    st.sampled_from(["", "x" * 300, "a#b", "NaN", "Infinity", "null", "1e999"]),
)


def time_text(now: datetime) -> st.SearchStrategy[str]:
    """Times across the calendar, with extreme offsets, naive, and near the window's edges."""
    anywhere = st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31, 23, 59, 59),
        timezones=st.sampled_from(OFFSETS),
    ).map(lambda d: d.isoformat())
    naive = st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: d.isoformat())
    edges = st.integers(-8 * 86_400, 2 * 3_600).map(lambda s: (now + timedelta(seconds=s)).isoformat())
    return st.one_of(
        anywhere, naive, edges, st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
    )


def json_values(now: datetime) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**45), max_value=10**45),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text,
        time_text(now),
        st.integers(0, len(RAW_NUMBERS) - 1).map(_placeholder),
    )
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3),
        max_leaves=6,
    )


def _example(registration: Registration) -> dict[str, Any]:
    extra = registration.model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict)
    return dict(extra["examples"][0])  # type: ignore[index]


def _mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` nine times in ten, else ``other``."""
    # sampled_from starts from (and shrinks towards) its first element: the usual one.
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda u: usual if u else other)


@st.composite
def events(draw: st.DrawFn, now: datetime) -> dict[str, Any]:
    """One event: a registered type's example, near now, with up to three fields mutated."""
    registration = draw(st.sampled_from(REGISTRATIONS))
    payload = _example(registration)
    for name in TIME_FIELDS:
        if name in payload:
            payload[name] = (now - timedelta(seconds=draw(st.integers(60, 86_400)))).isoformat()
    for name in PLANNED_FIELDS:
        if name in payload:
            payload[name] = (now + timedelta(hours=draw(st.integers(1, 48)))).isoformat()
    fields = sorted(registration.model.model_fields) + ["extra"]
    # Mostly one mutation or none, so that many events are accepted and reach a handler.
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 1, 2, 3]))):
        name = draw(st.one_of(st.sampled_from(fields), hostile_text))
        if name in payload and draw(st.booleans()):
            del payload[name]
        else:
            payload[name] = draw(json_values(now))
    envelope: dict[str, Any] = {
        "source": draw(_mostly(st.just("prop_source"), hostile_text)),
        "schema_version": draw(_mostly(st.just(registration.schema_version), hostile_text)),
        # UNIQUE_KEY becomes a key of its own per request (hypothesis repeats values; a reused key is a 422).
        "idempotency_key": draw(_mostly(st.just(UNIQUE_KEY), hostile_text)),
        "event_type": draw(_mostly(st.just(registration.event_type), st.none() | hostile_text)),
        "payload": payload,
    }
    if draw(st.sampled_from([False] * 9 + [True])):
        envelope[draw(hostile_text)] = draw(json_values(now))  # unknown or mangled envelope member
    return envelope


def _body(value: Any, request: int) -> str:
    parts = json.dumps(value).split(UNIQUE_KEY)
    text = parts[0] + "".join(f"prop-{request}-{i}{part}" for i, part in enumerate(parts[1:]))
    for i, token in enumerate(RAW_NUMBERS):
        text = text.replace(json.dumps(_placeholder(i)), token)
    return text


def test_every_request_is_answered_2xx_or_4xx_and_every_accepted_event_ends_processed_or_failed(
    stack: Harness, record_property: Callable[[str, object], None]
) -> None:
    now = datetime.now(UTC)
    accepted: set[str] = set()
    runs: list[int] = []

    @SETTINGS
    @given(data=st.data())
    def ingest(data: st.DataObject) -> None:
        runs.append(1)
        if data.draw(st.sampled_from([False, False, False, True]), label="batch?"):
            batch = data.draw(st.lists(events(now), min_size=1, max_size=4), label="batch")
            response = stack.request("POST", "/api/v1/ingest/batch", _body({"events": batch}, len(runs)))
            assert response.status < 500, response.body
            if response.status == 200:
                for result in response.json()["results"]:
                    assert result["status"] < 500, result
                    if result["status"] in (200, 202):
                        accepted.add(result["event_id"])
            return
        event = data.draw(events(now), label="event")
        response = stack.request("POST", "/api/v1/ingest", _body(event, len(runs)))
        assert response.status < 500, response.body
        if response.status in (200, 202):
            accepted.add(response.json()["event_id"])

    ingest()

    # When the consumer drains the queue (a failed record redelivered at once, up to MaxReceiveCount)
    stack.drain()

    # Then every accepted event ended PROCESSED or FAILED: none is left RECEIVED or PROCESSING
    items = {i["event_id"]: i for i in stack.scan("EventsTable")}
    statuses = {e: i["status"] for e, i in items.items()}
    stuck = {e: statuses.get(e) for e in accepted if statuses.get(e) not in ("PROCESSED", "FAILED")}
    assert not stuck
    record_property("hypothesis_examples", len(runs))
    record_property("accepted_events", len(accepted))
    failed = sorted({str(i.get("last_error"))[:200] for i in items.values() if i["status"] == "FAILED"})
    print(f"ingest property: {len(runs)} examples, {len(accepted)} events accepted, failed: {failed}")  # noqa: T201


def _read_routes() -> list[tuple[str, list[str], list[str]]]:
    routes = []
    for router in read_routers():
        for route in router.routes:
            dependant = route.dependant  # type: ignore[attr-defined]
            routes.append(
                (
                    route.path,
                    [p.name for p in dependant.path_params],
                    [p.name for p in dependant.query_params],
                )  # type: ignore[attr-defined]
            )
    routes.append(("/api/v1/events/{event_id}", ["event_id"], []))
    return sorted(routes)


READ_ROUTES = _read_routes()


def test_every_read_endpoint_answers_any_path_or_query_value_2xx_or_4xx(
    stack: Harness, record_property: Callable[[str, object], None]
) -> None:
    now = datetime.now(UTC)
    values = st.one_of(
        hostile_text, time_text(now), st.integers().map(str), st.sampled_from(["2026-11-30", "10"])
    )
    runs: list[int] = []

    @settings(SETTINGS, max_examples=READ_EXAMPLES)
    @given(data=st.data())
    def read(data: st.DataObject) -> None:
        runs.append(1)
        path, path_params, query_params = data.draw(st.sampled_from(READ_ROUTES), label="route")
        for name in path_params:
            path = path.replace(
                "{" + name + "}", quote(data.draw(values, label=name), safe="", errors="surrogatepass")
            )
        query = {n: data.draw(values, label=n) for n in query_params if data.draw(st.booleans())}
        if query:
            path += "?" + "&".join(
                f"{n}={quote(v, safe='', errors='surrogatepass')}" for n, v in query.items()
            )
        response = stack.request("GET", path)
        assert response.status < 500, (path, response.status, response.body[:300])

    read()
    record_property("hypothesis_examples", len(runs))
    print(f"read property: {len(runs)} examples over {len(READ_ROUTES)} routes")  # noqa: T201
