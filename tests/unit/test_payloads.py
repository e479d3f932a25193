"""Large payloads without sockets: the inline/pointer threshold, the pointer, and its checked resolution.

The S3 client is an in-memory fake bucket (not a mock); the use cases (ingest's message, the consumer) are
the real ones.
"""

from __future__ import annotations

import hashlib
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from plutus.adapters.payload_store import KEEP_ON_ITEM_MAX_BYTES, PayloadStore
from plutus.consumer.processor import Consumer
from plutus.core.envelope import IngestRequest, QueuedEvent, canonical_json
from plutus.core.errors import InvalidEventError, PayloadIntegrityError
from plutus.core.payloads import PointerEvent, parse_message, payload_key
from plutus.core.registry import EventContext, EventModel, Registry, Router
from plutus.domains import default
from plutus.ingest.accept import SQS_MAX_MESSAGE_BYTES, IngestCommand, message_size, queued_message
from tests.builders import an_sqs_record
from tests.fakes import FakeDeadLetters, FakeEvents, FakeState, settings

BUCKET = "plutus-payloads"
RECEIVED_AT = "2026-01-01T00:00:00.000000Z"


class FakeS3:
    """A bucket in memory: put, get (with S3's NoSuchKey), and a switch to fail every put."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.fail_puts = False

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803
        if self.fail_puts:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "PutObject")
        self.objects[(Bucket, Key)] = bytes(Body)
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no such key"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def _command(payload: dict[str, Any], key: str = "k1") -> IngestCommand:
    return IngestCommand(
        source="uploads",
        idempotency_key=key,
        digest="0" * 64,
        event_id=f"evt-{key}",
        event_type="blob_recorded",
        schema_version="1.0",
        payload=payload,
    )


def _store(s3: FakeS3 | None = None) -> tuple[PayloadStore, FakeS3]:
    s3 = s3 or FakeS3()
    return PayloadStore(lambda: s3, BUCKET), s3


def _inline_size(command: IngestCommand) -> int:
    out = queued_message(
        command, RECEIVED_AT, settings(inline_message_max_bytes=SQS_MAX_MESSAGE_BYTES - 1024)
    )
    return message_size(out.body, out.attributes)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@hsettings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_the_size_known_before_serialising_is_the_inline_message_size(payload: dict[str, Any]) -> None:
    # The threshold is decided from the payload's canonical text alone: it must equal the real message's size.
    command = _command(payload)
    out = queued_message(command, RECEIVED_AT, settings())
    body = QueuedEvent(
        event_id=command.event_id,
        source=command.source,
        event_type=command.event_type,
        schema_version=command.schema_version,
        received_at=RECEIVED_AT,
        payload=payload,
    ).to_message_body()
    assert out.body == body and out.pointer is None


@hsettings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1).map(lambda t: t + ',"payload":{},'),
    st.none() | st.text(min_size=1).map(lambda t: ',"payload":{},' + t),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)
def test_the_payload_lands_in_its_own_place_whatever_the_other_fields_hold(
    source: str, event_type: str | None, payload: dict[str, Any]
) -> None:
    # The inline body is spliced from the event's text with an empty payload: a source or type that holds
    # the splice's own marker text must not move the payload into it.
    command = _command(payload).model_copy(update={"source": source, "event_type": event_type})
    out = queued_message(command, RECEIVED_AT, settings())
    whole = QueuedEvent(
        event_id=command.event_id,
        source=source,
        event_type=event_type,
        schema_version=command.schema_version,
        received_at=RECEIVED_AT,
        payload=payload,
    ).to_message_body()
    assert out.body == whole
    assert json.loads(out.body)["source"] == source


def test_at_the_threshold_a_payload_stays_inline_and_one_byte_more_makes_a_pointer() -> None:
    store, _ = _store()
    base = _command({"blob": ""})
    threshold = _inline_size(base) + 1_000
    limits = settings(inline_message_max_bytes=threshold)

    at = queued_message(_command({"blob": "x" * 1_000}), RECEIVED_AT, limits, store)
    over = queued_message(_command({"blob": "x" * 1_001}), RECEIVED_AT, limits, store)

    assert message_size(at.body, at.attributes) == threshold and at.pointer is None
    assert over.pointer is not None and "payload" not in json.loads(over.body)


def test_the_pointer_names_the_events_own_key_with_the_size_and_sha256_of_what_is_stored() -> None:
    store, s3 = _store()
    payload = {"blob": "y" * 5_000, "n": 1.0}
    command = _command(payload)

    out = queued_message(command, RECEIVED_AT, settings(inline_message_max_bytes=1_024), store)
    out.store(store)

    message = parse_message(out.body)
    assert isinstance(message, PointerEvent)
    digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    stored = s3.objects[(BUCKET, payload_key(command.event_id, digest))]
    assert stored == canonical_json(payload).encode()  # the same text an inline message would carry
    assert message.payload_ref.key == f"payloads/{command.event_id}/{digest}.json"
    assert message.payload_ref.size == len(stored)
    assert message.payload_ref.sha256 == hashlib.sha256(stored).hexdigest()


def test_storing_again_rewrites_the_same_object() -> None:
    store, s3 = _store()
    limits = settings(inline_message_max_bytes=1_024)
    for _ in range(2):
        queued_message(_command({"blob": "z" * 5_000}), RECEIVED_AT, limits, store).store(store)
    assert len(s3.objects) == 1


def test_without_a_store_everything_travels_inline_up_to_sqs_s_limit() -> None:
    limits = settings(inline_message_max_bytes=1_024, max_body_bytes=2_000_000)
    fits = queued_message(_command({"blob": "a" * 900_000}), RECEIVED_AT, limits)
    assert fits.pointer is None and len(fits.body) > 900_000

    with pytest.raises(InvalidEventError) as refused:
        queued_message(_command({"blob": "a" * SQS_MAX_MESSAGE_BYTES}), RECEIVED_AT, limits)
    assert refused.value.detail == "the event is too large to queue"


def test_an_event_over_max_body_bytes_once_escaped_is_refused_inline_or_not() -> None:
    store, s3 = _store()
    limits = settings(inline_message_max_bytes=1_024, max_body_bytes=10_000)
    # 3,000 characters of UTF-8 become 18,000 bytes of \u escapes.
    with pytest.raises(InvalidEventError) as refused:
        queued_message(_command({"text": "é" * 3_000}), RECEIVED_AT, limits, store)
    assert refused.value.detail == "the event is too large" and s3.objects == {}


def _pointer_body(s3: FakeS3, payload: dict[str, Any], event_id: str = "evt-k1") -> str:
    store = PayloadStore(lambda: s3, BUCKET)
    out = queued_message(_command(payload, event_id.removeprefix("evt-")), RECEIVED_AT, settings(), store)
    data = canonical_json(payload).encode()
    pointer = store.pointer(event_id, data)
    store.put(pointer, data)
    message = QueuedEvent.model_validate_json(out.body)
    return PointerEvent(**message.model_dump(exclude={"payload"}), payload_ref=pointer).to_message_body()


def test_resolve_returns_the_payload_when_size_and_digest_match() -> None:
    store, s3 = _store()
    body = _pointer_body(s3, {"blob": "q" * 3_000})

    event = store.resolve(parse_message(body))

    assert isinstance(event, QueuedEvent) and event.payload == {"blob": "q" * 3_000}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda data: data.replace(b"q", b"r"), "does not match its sha256"),
        (lambda data: data + b" ", "has 3012+ bytes; its pointer says 3011"),
        (lambda data: data[:-1], "has 3010 bytes; its pointer says 3011"),
    ],
)
def test_a_changed_object_is_a_permanent_integrity_error_that_names_no_content(
    tamper: Any, reason: str
) -> None:
    store, s3 = _store()
    body = _pointer_body(s3, {"blob": "q" * 3_000})
    key = (BUCKET, parse_message(body).payload_ref.key)  # type: ignore[union-attr]
    s3.objects[key] = tamper(s3.objects[key])

    with pytest.raises(PayloadIntegrityError) as error:
        store.resolve(parse_message(body))

    assert reason in str(error.value) and "qqq" not in str(error.value) and "rrr" not in str(error.value)


def test_a_pointer_to_another_bucket_or_key_is_refused_without_reading_it() -> None:
    store, s3 = _store()
    body = json.loads(_pointer_body(s3, {"blob": "q" * 3_000}))
    s3.objects[("other", "secret.json")] = b"{}"
    for change in ({"bucket": "other"}, {"key": "payloads/evt-someone-else.json"}):
        forged = parse_message(json.dumps({**body, "payload_ref": {**body["payload_ref"], **change}}))
        with pytest.raises(PayloadIntegrityError, match="another bucket or key"):
            store.resolve(forged)


def test_a_missing_object_or_one_that_is_not_a_json_object_is_an_integrity_error() -> None:
    store, s3 = _store()
    body = _pointer_body(s3, {"blob": "q"})
    key = (BUCKET, parse_message(body).payload_ref.key)  # type: ignore[union-attr]
    digest = hashlib.sha256(b"[1]").hexdigest()
    s3.objects[(BUCKET, payload_key("evt-k1", digest))] = b"[1]"
    forged = json.loads(body)
    forged["payload_ref"].update(size=3, sha256=digest, key=payload_key("evt-k1", digest))
    with pytest.raises(PayloadIntegrityError, match="not a JSON object"):
        store.resolve(parse_message(json.dumps(forged)))

    del s3.objects[key]
    with pytest.raises(PayloadIntegrityError, match="missing"):
        store.resolve(parse_message(body))


def test_a_failed_events_kept_message_is_itself_when_small_else_a_pointer_to_a_stored_copy() -> None:
    store, s3 = _store()
    small = QueuedEvent(
        event_id="evt-1", source="s", schema_version="1.0", received_at=RECEIVED_AT, payload={"a": 1}
    ).to_message_body()
    big_payload = {"blob": "w" * KEEP_ON_ITEM_MAX_BYTES}
    big = QueuedEvent(
        event_id="evt-2", source="s", schema_version="1.0", received_at=RECEIVED_AT, payload=big_payload
    ).to_message_body()

    assert store.keepable(small) == small
    kept = parse_message(store.keepable(big))
    assert isinstance(kept, PointerEvent) and store.resolve(kept).payload == big_payload

    # A copy that cannot be stored leaves the message as it is (the DLQ keeps it either way).
    s3.fail_puts = True
    assert store.keepable(big) == big


class BlobRecordedV1(EventModel):
    event_type = "blob_recorded"
    schema_version = "1.0"

    blob: str


router = Router("payload-unit")
handled: list[int] = []


@router.on(BlobRecordedV1)
def handle_record_blob(event: BlobRecordedV1, ctx: EventContext) -> None:
    handled.append(len(event.blob))


def _consumer(store: PayloadStore | None) -> tuple[Consumer, FakeEvents, FakeDeadLetters]:
    registry = Registry(default_handler=default.handle_record_receipt)
    registry.include_router(router)
    state, dead = FakeState(), FakeDeadLetters()
    events = FakeEvents(state)
    consumer = Consumer(settings(), registry, events, state, dead, payloads=store)  # type: ignore[arg-type]
    return consumer, events, dead


def test_the_consumer_hands_the_handler_the_resolved_payload_never_the_pointer() -> None:
    handled.clear()
    store, s3 = _store()
    consumer, events, _ = _consumer(store)

    outcome = consumer.process_record(SQSRecord(an_sqs_record(_pointer_body(s3, {"blob": "v" * 4_000}))))

    assert outcome == "processed" and handled == [4_000]
    assert (events.get("evt-k1") or {})["status"] == "PROCESSED"


def test_a_tampered_payload_fails_the_event_at_once_unprocessed_and_keeps_the_pointer() -> None:
    handled.clear()
    store, s3 = _store()
    consumer, events, dead = _consumer(store)
    body = _pointer_body(s3, {"blob": "v" * 4_000})
    key = (BUCKET, parse_message(body).payload_ref.key)  # type: ignore[union-attr]
    s3.objects[key] = s3.objects[key].replace(b"v", b"u")

    outcome = consumer.process_record(SQSRecord(an_sqs_record(body)))

    item = events.get("evt-k1") or {}
    assert outcome == "dead-lettered" and handled == [] and len(dead.sent) == 1
    assert item["status"] == "FAILED" and item["last_error"].startswith("PayloadIntegrityError")
    assert (events.get("kept:evt-k1") or {})["kept_message"] == body


def test_a_pointer_without_a_configured_bucket_is_a_permanent_failure() -> None:
    _, s3 = _store()
    consumer, events, _ = _consumer(None)

    consumer.process_record(SQSRecord(an_sqs_record(_pointer_body(s3, {"blob": "v"}))))

    assert (events.get("evt-k1") or {})["last_error"].startswith("PayloadIntegrityError: a payload pointer")


def test_no_change_for_an_inline_message() -> None:
    handled.clear()
    consumer, events, _ = _consumer(None)
    body = QueuedEvent(
        event_id="evt-i",
        source="s",
        event_type="blob_recorded",
        schema_version="1.0",
        received_at=RECEIVED_AT,
        payload={"blob": "abc"},
    ).to_message_body()

    assert consumer.process_record(SQSRecord(an_sqs_record(body))) == "processed" and handled == [3]
    assert Decimal(1) == Decimal((events.get("evt-i") or {})["attempts"])


def test_a_batch_event_whose_payload_cannot_be_stored_is_a_503_released_and_not_queued() -> None:
    from plutus.core.errors import EventNotQueuedError
    from plutus.ingest.accept import command_for
    from plutus.ingest.accept_batch import BatchIngest
    from tests.unit.test_batch_ingest import FakeQueue, FakeStore

    store, s3 = _store()
    claims, queue = FakeStore(), FakeQueue()
    batch = BatchIngest(  # type: ignore[arg-type]
        settings(inline_message_max_bytes=1_024), claims, queue, remaining_ms=lambda: 1_000, payloads=store
    )

    def command(key: str, blob: str) -> IngestCommand:
        request = IngestRequest.model_validate(
            {"source": "shop", "schema_version": "1.0", "idempotency_key": key, "payload": {"blob": blob}}
        )
        return command_for(request)

    # Given S3 refusing every put
    s3.fail_puts = True
    small, large = command("small", "a"), command("large", "b" * 5_000)

    outcomes = batch([small, large])

    # Then the small event goes through, the large one is a 503 with its claim released and nothing queued
    assert outcomes[0].error is None and isinstance(outcomes[1].error, EventNotQueuedError)
    assert len(queue.messages) == 1 and len(claims.released) == 1
    # And the client's retry, S3 back, stores it and queues its pointer
    s3.fail_puts = False
    assert batch([large])[0].error is None and len(s3.objects) == 1
    assert "payload_ref" in queue.messages[-1].body
