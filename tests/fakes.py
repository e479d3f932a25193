"""In-memory fakes for unit tests (no sockets): the state table and the events table, and a runner that feeds
event sequences through the real consumer (resolve, upcast, run handlers, commit their effects atomically with
an exactly-once marker per event id) against them."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from plutus.adapters.events_store import (
    AlreadyProcessed,
    Commit,
    CommitOutcome,
    Committed,
    Contended,
    EventStatus,
    Refused,
)
from plutus.consumer.processor import Consumer
from plutus.core.effects import Effect, EventNote, Put, StateEffect, fold_effects
from plutus.core.envelope import QueuedEvent, utc_now
from plutus.core.errors import EffectRejectedError
from plutus.core.pack_settings import PackSettings
from plutus.core.registry import Registry, Router
from plutus.domains import default
from plutus.domains.kit import iso
from plutus.settings import Settings


def _number(value: Any) -> Any:
    # DynamoDB hands numbers back as Decimal; so does the fake, so handlers are tested against the real types.
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_number(v) for v in value]
    return value


class VersionConflictError(EffectRejectedError):
    """A version guard failed: state moved under the handler (the consumer runs it again)."""


class FakeState:
    """The state table in memory, with the semantics of the effects the consumer commits."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.items.get((pk, sk))
        return copy.deepcopy(item) if item is not None else None

    def query(
        self, pk: str, sk_prefix: str = "", *, limit: int = 100, newest_first: bool = False
    ) -> list[dict[str, Any]]:
        keys = sorted(k for k in self.items if k[0] == pk and k[1].startswith(sk_prefix))
        if newest_first:
            keys.reverse()
        return [copy.deepcopy(self.items[k]) for k in keys[:limit]]

    def _check(self, effect: StateEffect) -> None:
        current = self.items.get((effect.pk, effect.sk))
        if isinstance(effect, Put):
            if effect.if_absent and current is not None:
                raise EffectRejectedError(f"{effect.pk}/{effect.sk} exists")
            return
        if effect.expect_version is not None:
            version = int((current or {}).get("version", 0))
            exists = current is not None and "version" in current
            if (effect.expect_version == 0 and exists) or (
                effect.expect_version and version != effect.expect_version
            ):
                raise VersionConflictError(f"version conflict on {effect.pk}/{effect.sk}")
        if effect.floor is not None:
            attr, minimum = effect.floor
            value = Decimal((current or {}).get(attr, 0)) + Decimal(effect.add.get(attr, 0))
            if value < minimum:
                raise EffectRejectedError(f"{attr} would fall below {minimum}")

    def _apply(self, effect: StateEffect) -> None:
        key = (effect.pk, effect.sk)
        if isinstance(effect, Put):
            self.items[key] = _number({"pk": effect.pk, "sk": effect.sk, **effect.attributes})
            return
        item = self.items.setdefault(key, {"pk": effect.pk, "sk": effect.sk})
        for attr, value in effect.set.items():
            item[attr] = _number(value)
        for attr, value in effect.set_if_absent.items():
            item.setdefault(attr, _number(value))
        for attr, value in effect.add.items():
            item[attr] = Decimal(item.get(attr, 0)) + Decimal(value)
        if effect.expect_version is not None:
            item["version"] = Decimal(item.get("version", 0)) + 1

    def commit(self, effects: list[StateEffect]) -> None:
        """All or nothing, like TransactWriteItems."""
        seen = set()
        for effect in effects:
            key = (effect.pk, effect.sk)
            if key in seen:
                raise ValueError(f"a transaction cannot touch {key} twice")
            seen.add(key)
            self._check(effect)
        for effect in effects:
            self._apply(effect)


@dataclass
class FakeEvents:
    """The events table as the consumer's repository sees it, committing effects to a :class:`FakeState`."""

    state: FakeState
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Commits to refuse as contended before applying them (a concurrent writer, as DynamoDB would report).
    contend: int = 0

    def get(self, event_id: str, *, consistent: bool = False) -> dict[str, Any] | None:
        item = self.items.get(event_id)
        return copy.deepcopy(item) if item is not None else None

    def is_processed(self, event_id: str) -> bool:
        return self.items.get(event_id, {}).get("status") == EventStatus.PROCESSED

    def commit(
        self, event: QueuedEvent, effects: list[Effect], now: str, fanout_batch: str | None = None
    ) -> CommitOutcome:
        if self.is_processed(event.event_id):
            return AlreadyProcessed()
        if self.contend:
            self.contend -= 1
            return Contended()
        note, state = fold_effects(effects)
        try:
            self.state.commit(state)
        except VersionConflictError:
            return Contended()
        except EffectRejectedError as exc:
            return Refused((str(exc),))
        item = self.items.setdefault(event.event_id, {"event_id": event.event_id, "attempts": 0})
        item.update(status=EventStatus.PROCESSED, processed_at=now)
        if note is not None:
            _note(item, note)
        if fanout_batch is not None:
            item["fanout_batch"] = fanout_batch
        item["attempts"] += 1
        return Committed()

    def processed(self, event_ids: list[str]) -> set[str]:
        return {i for i in event_ids if self.is_processed(i)}

    def commit_batch(self, commits: list[Commit], now: str) -> list[CommitOutcome | None]:
        """Each event's commit in turn: every event all or nothing, as the batch commits it."""
        return [self.commit(c.event, list(c.effects), now, c.fanout_batch) for c in commits]

    # The publish ledger (plutus/core/fanout.py): a batch's marker holds the ids published under it.
    def committed_batch(self, event_id: str) -> tuple[str | None, str] | None:
        item = self.items.get(event_id, {})
        if item.get("status") != EventStatus.PROCESSED:
            return None
        return item.get("fanout_batch"), item["processed_at"]

    def published_ids(self, batch: str) -> frozenset[str]:
        return frozenset(self.items.get(f"fanout:{batch}", {}).get("published", ()))

    def mark_published(self, batch: str, event_ids: list[str], now: str) -> None:
        marker = self.items.setdefault(f"fanout:{batch}", {"event_id": f"fanout:{batch}", "published": set()})
        marker["published"] |= set(event_ids)

    def record_failure(
        self, event: QueuedEvent, error: str, status: EventStatus, now: str, message: str | None = None
    ) -> None:
        # As the table: the message (kept uncompressed here) in its own item, written first, unconditionally.
        if message is not None:
            kept = f"kept:{event.event_id}"
            self.items[kept] = {"event_id": kept, "kept_message": message}
        if self.is_processed(event.event_id):
            return
        item = self.items.setdefault(event.event_id, {"event_id": event.event_id, "attempts": 0})
        item.update(status=status, last_error=error, updated_at=now)
        item["attempts"] += 1

    def record_poison(self, message_id: str, error: str, status: EventStatus, now: str) -> None:
        item = self.items.setdefault(
            f"message:{message_id}", {"event_id": f"message:{message_id}", "attempts": 0}
        )
        item.update(status=status, last_error=error, updated_at=now)
        item["attempts"] += 1


def _note(item: dict[str, Any], note: EventNote) -> None:
    # The marker's own update writes the note: it lands exactly when the event becomes PROCESSED.
    for attr, value in note.set_if_absent.items():
        item.setdefault(attr, _number(value))
    for attr, number in note.add.items():
        item[attr] = Decimal(item.get(attr, 0)) + Decimal(number)


class FakeDeadLetters:
    """The DLQ: what the consumer dead-lettered, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, record: Any, reason: str) -> None:
        self.sent.append((record.body, reason))


@dataclass
class DomainRunner:
    """Feeds events through the real :class:`Consumer` against in-memory state and events tables."""

    routers: list[Router]
    settings: Settings = field(
        default_factory=lambda: Settings(events_table="events", state_table="state", queue_url="queue")
    )
    packs: PackSettings = field(default_factory=PackSettings)
    state: FakeState = field(default_factory=FakeState)
    processed: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.registry = Registry(default_handler=default.handle_record_receipt)
        for router in self.routers:
            self.registry.include_router(router)
        self.events = FakeEvents(self.state)
        self.consumer = Consumer(
            self.settings,
            self.registry,
            self.events,  # type: ignore[arg-type]
            self.state,
            packs=self.packs,
        )

    def send(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        schema_version: str = "1.0",
        source: str = "test",
        event_id: str | None = None,
        received_at: str | None = None,
    ) -> str:
        """Process one event with the real consumer; returns its id. A known id is skipped by its marker."""
        event_id = event_id or f"evt-{next(self._ids):06d}"
        event = QueuedEvent.model_validate(
            {
                "event_id": event_id,
                "source": source,
                "event_type": event_type,
                "schema_version": schema_version,
                "received_at": received_at or _received_when_it_happened(payload),
                "payload": payload,
            }
        )
        self.consumer.process(event)
        self.processed.add(event_id)
        return event_id


def _received_when_it_happened(payload: dict[str, Any]) -> str:
    # The consumer judges payload times against received_at (plutus/core/times.py): tests that replay fixed
    # dates are received when their event happened, unless they say otherwise.
    for name in ("occurred_at", "measured_at", "administered_at", "updated_at"):
        value = payload.get(name)
        if isinstance(value, str):
            try:
                return iso(datetime.fromisoformat(value))
            except ValueError:
                break
    return utc_now()


def settings(**overrides: Any) -> Settings:
    """Settings for unit tests, with ``overrides``."""
    base: dict[str, Any] = {
        "events_table": "events",
        "state_table": "state",
        "queue_url": "queue",
    }
    return Settings(**(base | overrides))


def packs(**overrides: Any) -> PackSettings:
    """Every pack's settings for unit tests, with ``overrides`` named as their environment variables without
    ``PLUTUS_`` (``fintech_overdraft_limit=100`` is ``PLUTUS_FINTECH_OVERDRAFT_LIMIT``)."""
    from plutus.domains import build_registry

    values, used = [], set()
    for model in build_registry().settings_models:
        prefix = str(model.model_config.get("env_prefix", "")).removeprefix("PLUTUS_").lower()
        mine = {k: v for k, v in overrides.items() if k.startswith(prefix)}
        used |= mine.keys()
        values.append(model(**{k.removeprefix(prefix): v for k, v in mine.items()}))
    if unknown := overrides.keys() - used:
        raise TypeError(f"no pack has the settings {sorted(unknown)}")
    return PackSettings(*values)


__all__ = ["DomainRunner", "FakeState", "packs", "settings"]


class RecordingAccept:
    """Stands in for the idempotent accept use case: records each command, answers a new event."""

    def __init__(self) -> None:
        self.commands: list[Any] = []

    def __call__(self, *, command: Any) -> Any:
        from plutus.core.envelope import IngestResult

        self.commands.append(command)
        return IngestResult(
            event_id=command.event_id,
            source=command.source,
            event_type=command.event_type,
            schema_version=command.schema_version,
            received_at="2026-11-27T00:00:00.000000Z",
        )
