"""Request parsing and validation shared by single and batch ingest. Framework-free: no FastAPI import."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from plutus.core.envelope import IngestRequest, payload_depth
from plutus.core.errors import (
    BodyTooLargeError,
    InvalidEventError,
    MalformedBodyError,
    UnknownEventTypeError,
    UnsupportedMediaTypeError,
)
from plutus.core.registry import Registry
from plutus.core.storable import dotted, json_pointer, unstorable
from plutus.core.times import validation_context
from plutus.settings import Settings


def field_error(path: tuple[str | int, ...], message: str) -> dict[str, Any]:
    """One entry of a problem's ``errors``: the field (dotted, and as an RFC 6901 ``pointer`` into the event,
    as RFC 9457 suggests) and the rule, never the offending input."""
    return {"field": dotted(path), "pointer": json_pointer(path), "message": message}


def validation_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """``{field, pointer, message}`` per error of ``exc``, its locations under ``prefix``."""
    return [
        field_error((*prefix, *e["loc"]), e["msg"])
        for e in exc.errors(include_input=False, include_url=False)
    ]


def header_key(raw: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value (draft-ietf-httpapi-idempotency-key-header: an sf-string)."""
    if raw is None:
        return None
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return raw


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (RFC 8259) does not, and no digest can carry them.
    raise ValueError(f"{name} is not JSON")


def decode_json_body(body: bytes, content_type: str | None, limit: int) -> Any:
    """The body's JSON value, after the size and media-type checks."""
    if len(body) > limit:
        raise BodyTooLargeError.of(len(body), limit)
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(f"content type {media!r} is not JSON")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedBodyError("the body is not valid UTF-8 JSON") from exc


# Called with each event once its envelope is valid, before its payload is: raises to refuse it.
Authorize = Callable[[IngestRequest], None]


def validate_event(
    data: Any,
    settings: Settings,
    registry: Registry,
    where: str = "<body>",
    authorize: Authorize | None = None,
    received_at: datetime | None = None,
) -> IngestRequest:
    """One event's JSON value as an ``IngestRequest``, or ``InvalidEventError``/``UnknownEventTypeError``.

    ``authorize`` sees the envelope (source, type) before the payload is validated against its model, so a
    caller refused by the producer policy learns nothing about the type's schema. ``received_at`` (default:
    now) is the instant the payload's own times are judged against.
    """
    if not isinstance(data, dict):
        raise InvalidEventError(
            f"the {'body' if where == '<body>' else 'event'} must be a JSON object",
            [{"field": where, "pointer": "", "message": "expected an object"}],
        )
    # Before anything reads it: a value that cannot be stored must not reach a digest, a table or a queue.
    refused = unstorable(data)
    if refused:
        raise InvalidEventError(
            "the event holds values that cannot be stored",
            [field_error(path, rule) for path, rule in refused],
        )
    _check_event_size(data, settings.max_body_bytes)
    try:
        request = IngestRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError("the event failed validation", validation_errors(exc)) from exc
    if payload_depth(request.payload, settings.max_payload_depth) > settings.max_payload_depth:
        raise InvalidEventError(
            "the payload is nested too deeply",
            [field_error(("payload",), f"nesting deeper than {settings.max_payload_depth}")],
        )
    if authorize is not None:
        authorize(request)
    _validate_typed_payload(request, settings, registry, received_at or datetime.now(UTC))
    return request


def event_size(data: Any) -> int:
    """An event's size, as single and batch ingest both measure it: the UTF-8 bytes of its compact JSON.

    Bytes, not characters (a non-ASCII character is 2 to 4), and the event's own JSON, so an event has one
    size whether it came alone or inside a batch.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    # surrogatepass: a lone surrogate is measured (3 bytes), not a crash; refusing it is validation's job.
    return len(text.encode("utf-8", "surrogatepass"))


def _check_event_size(data: Any, limit: int) -> None:
    size = event_size(data)
    if size > limit:
        raise InvalidEventError(
            "the event is too large",
            [{"field": "<event>", "pointer": "", "message": f"{size} bytes of JSON; the limit is {limit}"}],
        )


def parse_ingest_body(
    body: bytes,
    content_type: str | None,
    header_key_value: str | None,
    settings: Settings,
    registry: Registry,
    signed_key: str | None = None,
    authorize: Authorize | None = None,
    key_header_signed: bool = True,
    received_at: datetime | None = None,
) -> IngestRequest:
    """Validate a raw single-event body into an ``IngestRequest``, or raise a mapped ``PlutusError``.

    The key is the body's, else the ``Idempotency-Key`` header's. A signed request (``signed_key``: its
    verified ``webhook-id``) takes its key from signed material only: the body's, else the ``webhook-id``.
    The header is not signed, so there it may restate that key but never change it: otherwise a captured
    request replayed with a new header would be a new event. For the same reason a header the request's
    signature does not cover (``key_header_signed`` false: IAM, not in SigV4's SignedHeaders) is refused.
    Payload times are judged against ``received_at`` (default: now).
    """
    data = decode_json_body(body, content_type, settings.max_body_bytes)
    key = header_key(header_key_value)
    if key is not None and not key_header_signed:
        raise InvalidEventError(
            "the Idempotency-Key header is not covered by the request's signature",
            [
                {
                    "field": "Idempotency-Key",
                    "message": "sign it (in SigV4's SignedHeaders) or send idempotency_key in the body",
                }
            ],
        )
    if isinstance(data, dict):
        if signed_key is not None:
            signed = data.setdefault("idempotency_key", signed_key)
            if key is not None and key != signed:
                raise InvalidEventError(
                    "the Idempotency-Key header is not covered by the webhook signature",
                    [
                        {
                            "field": "Idempotency-Key",
                            "message": "differs from the signed key (the body's idempotency_key, else "
                            "webhook-id): omit it or send the same value",
                        }
                    ],
                )
        elif key is not None:
            if "idempotency_key" in data and data["idempotency_key"] != key:
                raise InvalidEventError(
                    "Idempotency-Key header and body idempotency_key differ",
                    [field_error(("idempotency_key",), "differs from the header")],
                )
            data["idempotency_key"] = key
    return validate_event(data, settings, registry, authorize=authorize, received_at=received_at)


def _validate_typed_payload(
    request: IngestRequest, settings: Settings, registry: Registry, received_at: datetime
) -> None:
    if request.event_type is None:
        return
    if not registry.knows_type(request.event_type):
        if settings.allow_unregistered_types:
            return
        raise UnknownEventTypeError(request.event_type, registry.event_types)
    if registry.lookup(request.event_type, request.schema_version) is None:
        raise InvalidEventError(
            f"schema_version {request.schema_version!r} is not registered for {request.event_type!r}",
            [
                field_error(
                    ("schema_version",), f"known versions: {', '.join(registry.versions(request.event_type))}"
                )
            ],
        )
    try:
        registry.resolve(
            request.event_type,
            request.schema_version,
            request.payload,
            validation_context(received_at, settings),
        )
    except ValidationError as exc:
        raise InvalidEventError(
            "the payload failed validation", validation_errors(exc, ("payload",))
        ) from exc
